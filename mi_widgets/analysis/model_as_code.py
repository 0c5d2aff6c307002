"""The model as code: a next-token predictor made only of rules read from a model's weights and activations.

    code = CodePredictor(NgramTables(model, train_tokens), rules=default_rules(model, one_layer))
    code.fit(train_rows)            # one weight per feature (and copy case), by maximum likelihood
    code.logprobs(row)              # [pos, d_vocab]: what the code predicts after each prefix of the row

Every rule is a few lines a reader can check against the evidence it cites. An n-gram table gives the base
log-probabilities; each feature rule adds its weight times a feature ``f(context, next token)`` (for most rules a
1 where it predicts a token and a -1 where it rules one out), a product of experts; and the copy rule,
`Induction`, mixes in a copy of an earlier continuation, as a pointer network does::

    q(y | context) = softmax(base(y | last tokens) + sum_r weight_r * f_r(context, y))
    p(y | context) = (1 - lambda) * q(y | context) + lambda * copy(y | context)

The n-gram tables are the model's own predictions at its first positions, where the context is one or two
tokens (training rows start at BOS, then anywhere in a story): ``bigram[t]`` is the model after ``[BOS, t]``,
``trigram[a, b]`` after ``[BOS, a, b]`` for frequent pairs (`first_position` splits them into components).
The unigram table, token counts in training stories, is the baseline the rest is measured against. The rules:

- `SkipTrigrams`: ``a ... b -> c`` from a one-layer attention model's token-only QK and OV circuits;
- `Induction`: the token that followed an earlier copy of the current token (induction heads);
- `RepeatedWords`: a capitalised word already in the text is likelier than a new one (names recur);
- `Pronouns`: a pronoun agrees in gender with the last one;
- `QuoteClosing`: a closing quote token only inside an open quote;
- `IndirectObject`: after "A and B ... A", the name that appeared once, not the repeated one (IOI).

Introduced in ``notebooks/44_whole_model``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int

from mi_widgets.progress import progress_bar

Row = Int[torch.Tensor, "pos"]


def _token_texts(tokenizer, d_vocab: int) -> list[str]:
    return [tokenizer.decode([i]) for i in range(d_vocab)]


@torch.no_grad()
def _model_logprobs(model, prompts: Int[torch.Tensor, "batch pos"],
                    batch: int = 512) -> Float[torch.Tensor, "batch d_vocab"]:
    out = [model(prompts[i: i + batch].to(model.cfg.device))[:, -1].float().log_softmax(-1).cpu()
           for i in range(0, len(prompts), batch)]
    return torch.cat(out)


@torch.no_grad()
def embedding_bigram(model, tokens: Sequence[int] | None = None) -> Float[torch.Tensor, "n d_vocab"]:
    """The bigram table of the direct path alone: ``log_softmax(unembed(ln_final(W_E[t] + W_pos[1])))``.

    What the token embedding says about the next token with every head and MLP taken out: the simplest
    bigram rule a model's weights hold. Row ``i`` is the prediction after ``tokens[i]`` (default: every token).
    """
    ids = torch.arange(model.cfg.d_vocab) if tokens is None else torch.as_tensor(tokens, dtype=torch.long)
    resid = (model.W_E[ids.to(model.W_E.device)] + model.W_pos[1])[None]  # [1, n, d_model]
    norm = getattr(model, "ln_final", None)
    return model.unembed(norm(resid) if norm is not None else resid)[0].float().log_softmax(-1).cpu()


@dataclass
class NgramTables:
    """The base predictions: unigram counts, and the model's predictions after one and two tokens.

    ``bigram(t)`` is the model's log-probabilities after ``[BOS, t]``, computed once per token when first
    needed (a large vocabulary never needs the whole table). ``trigram`` holds the model after ``[BOS, a, b]``
    for the ``n_pairs`` most frequent pairs of ``train_tokens``; other pairs back off to the bigram.
    """

    model: object
    train_tokens: np.ndarray
    n_pairs: int = 2000
    unigram: Float[torch.Tensor, "d_vocab"] = field(init=False)
    trigram: dict[tuple[int, int], Float[torch.Tensor, "d_vocab"]] = field(init=False)

    def __post_init__(self):
        if len(self.train_tokens) < 2:
            raise ValueError("need training tokens to count n-grams from")
        d_vocab, bos = self.model.cfg.d_vocab, self.model.tokenizer.bos_token_id
        counts = np.bincount(self.train_tokens, minlength=d_vocab).astype(np.float64) + 0.5  # add-half smoothing
        self.unigram = torch.from_numpy(np.log(counts / counts.sum())).float()
        self._bigram: dict[int, torch.Tensor] = {}
        pairs = Counter(zip(self.train_tokens[:-1].tolist(), self.train_tokens[1:].tolist()))
        common = [p for p, _ in pairs.most_common() if bos not in p][: self.n_pairs]
        prompts = torch.tensor([[bos, a, b] for a, b in common], dtype=torch.long).reshape(-1, 3)
        self.trigram = dict(zip(common, _model_logprobs(self.model, prompts)))

    def bigram(self, tokens: Sequence[int]) -> Float[torch.Tensor, "n d_vocab"]:
        """The model's prediction after ``[BOS, t]`` for each ``t`` in ``tokens``."""
        missing = sorted({int(t) for t in tokens} - self._bigram.keys())
        if missing:
            bos = self.model.tokenizer.bos_token_id
            prompts = torch.tensor([[bos, t] for t in missing], dtype=torch.long)
            self._bigram.update(zip(missing, _model_logprobs(self.model, prompts)))
        return torch.stack([self._bigram[int(t)] for t in tokens])

    def base(self, row: Row, order: int) -> Float[torch.Tensor, "pos d_vocab"]:
        """Log-probabilities of the next token after each position of ``row`` from an n-gram of ``order`` 1, 2 or 3."""
        if order == 1:
            return self.unigram.expand(len(row), -1).clone()
        out = self.bigram(row.tolist())
        if order == 3:
            for p in range(1, len(row)):
                pair = (int(row[p - 1]), int(row[p]))
                if pair in self.trigram:
                    out[p] = self.trigram[pair]
        elif order != 2:
            raise ValueError(f"order must be 1, 2 or 3, got {order}")
        return out


# ---------------------------------------------------------------- rules: each gives f(context, y) as [pos, d_vocab]


@dataclass
class SkipTrigrams:
    """``a ... b -> c``: the heads of a one-layer attention model, read as token-only circuits.

    At each position ``b`` the heads attend over the tokens ``a`` so far by their QK circuit (token embeddings
    only: the position embeddings averaged, the LayerNorm as in the model) and add the logits that the OV
    circuit writes for each ``a``. The positional part of attention is left out, so what remains is the
    skip-trigram table of Elhage et al. (2021), applied to the context.
    """

    source: object  # the model whose first attention layer is read (the bundled one-layer model)
    name: str = "skip-trigrams"
    evidence: str = "the token-only QK and OV circuits of a one-layer model's heads (this chapter, section 3)"

    @torch.no_grad()
    def _heads(self, row: Row) -> tuple[Float[torch.Tensor, "head dest src"], Float[torch.Tensor, "head src d_model"]]:
        m = self.source
        x = m.blocks[0].ln1((m.W_E[row.to(m.cfg.device)] + m.W_pos.mean(0))[None])[0]  # [pos, d_model]
        q, k, v = (torch.einsum("pm,hmd->hpd", x, w[0]) + b[0][:, None]
                   for w, b in ((m.W_Q, m.b_Q), (m.W_K, m.b_K), (m.W_V, m.b_V)))
        causal = torch.ones(len(row), len(row), dtype=torch.bool, device=x.device).tril()
        pattern = (q @ k.transpose(1, 2) / m.cfg.d_head ** 0.5).masked_fill(~causal, float("-inf")).softmax(-1)
        return pattern, torch.einsum("hsd,hdm->hsm", v, m.W_O[0])

    def features(self, row: Row) -> Float[torch.Tensor, "pos d_vocab"]:
        """The heads' token-only skip-trigram logits at each position, centred, kept where positive: [pos, d_vocab]."""
        pattern, written = self._heads(row)
        logits = torch.einsum("hps,hsm->pm", pattern, written) @ self.source.W_U
        return (logits - logits.mean(-1, keepdim=True)).clamp_min(0).detach().float().cpu()

    def top_triples(self, rows: Sequence[Row], n: int = 10,
                    attention: float = 0.5) -> list[tuple[int, int, int, float]]:
        """The strongest ``(a, b, c, logit)`` in ``rows``: at ``b``, attending to an earlier ``a`` by at least
        ``attention``, one head pushes ``c`` by ``logit`` (centred). Position 0 (BOS, where heads rest when they
        have nothing to read) is never an ``a``."""
        best: dict[tuple[int, int, int], float] = {}
        for row in rows:
            pattern, written = self._heads(row)
            ov = (written @ self.source.W_U).detach()  # [head, src, d_vocab]
            ov = ov - ov.mean(-1, keepdim=True)
            for h, b, a in torch.nonzero(pattern[:, :, 1:].tril(-2) >= attention).tolist():
                a += 1  # the slice dropped position 0
                value, c = ov[h, a].max(0)
                key = (int(row[a]), int(row[b]), int(c))
                best[key] = max(best.get(key, -np.inf), float(value))
        return [(*key, v) for key, v in sorted(best.items(), key=lambda kv: -kv[1])[:n]]


def induction_features(row: Row, d_vocab: int, longest: int = 3) -> Float[torch.Tensor, "pos d_vocab"]:
    """For every token that followed an earlier copy of the current token, how long that copy matches.

    ``f[p, row[s + 1]] = m`` where ``row[s] == row[p]`` for ``s < p`` and ``m`` (at most ``longest``) tokens match
    going back from ``s`` and ``p``; where several copies propose a token, the longest match counts. (Letting
    ``s == p`` would read the answer.)
    """
    n = len(row)
    same = (row[:, None] == row[None, :]).tril(-1).float()  # [p, s]: an earlier copy of row[p]
    match = same.clone()
    for back in range(1, longest):  # extend each match by one more token before both
        earlier = torch.zeros_like(same)
        earlier[back:, back:] = same[:-back, :-back]
        match = match + (match == back) * earlier
    p, s = torch.nonzero(match, as_tuple=True)
    out = torch.zeros(n, d_vocab)
    order = match[p, s].argsort()  # later writes win: write the longest matches last
    out[p[order], row[s + 1][order]] = match[p, s][order]
    return out


@dataclass
class TokenKinds:
    """What the word-level rules need to know about each token of a vocabulary, from its text."""

    texts: list[str]
    capitalised: torch.Tensor = field(init=False)  # [d_vocab] bool: begins a capitalised word (" Ge", "Once")
    quote: torch.Tensor = field(init=False)  # [d_vocab] bool: holds a double quote
    closing: torch.Tensor = field(init=False)  # [d_vocab] bool: a quote glued to what precedes it ('!"', '."')
    continues: torch.Tensor = field(init=False)  # [d_vocab] bool: goes on with the word before it ("or" in " Ge|or|ge")

    def __post_init__(self):
        stripped = [t.lstrip() for t in self.texts]
        self.capitalised = torch.tensor([s[:1].isupper() for s in stripped])
        self.quote = torch.tensor(['"' in t for t in self.texts])
        self.closing = self.quote & torch.tensor([not t[:1].isspace() and t.rstrip().endswith('"')
                                                   for t in self.texts])
        self.continues = torch.tensor([t[:1].isalpha() for t in self.texts])

    @classmethod
    def of(cls, model) -> "TokenKinds":
        return cls(_token_texts(model.tokenizer, model.cfg.d_vocab))


@dataclass
class Induction:
    """Copy the token that followed an earlier copy of the current token (induction heads, helped by previous-token
    heads), more often the longer the copies match.

    Unlike the other rules this one is not a feature but a copy, as in a pointer network: with probability
    ``lambda[case]`` the next token is drawn from the proposals of the longest match, else from the rest of the
    predictor. A copy can name a token the n-gram tables think impossible (a name never seen in training), which
    no weight on a feature could. The cases, each with its own probability: a one-token match that finishes a word
    the way it was finished before (the rest of a name, " Su" -> "e"), one that starts the next word, and matches of
    2 and of 3 or more tokens.
    """

    kinds: "TokenKinds"
    longest: int = 3
    name: str = "induction"
    evidence: str = ("the induction heads (score on repeated random tokens, this chapter's evidence table; "
                     "found in 00_start and 01_models)")

    @property
    def labels(self) -> list[str]:
        return (["copy after a 1-token match, same word", "copy after a 1-token match, next word"]
                + [f"copy after a {n}{'+' if n == self.longest else ''}-token match"
                   for n in range(2, self.longest + 1)])

    def proposals(self, row: Row) -> tuple[Int[torch.Tensor, "pos"], Float[torch.Tensor, "pos d_vocab"]]:
        """Per position, the case (0: no earlier copy, else 1 + index into ``labels``) and the copy distribution:
        uniform over the tokens proposed by the longest matches."""
        match = induction_features(row, len(self.kinds.texts), self.longest)
        longest = match.max(-1).values  # [pos]
        best = (match == longest[:, None]) & (longest[:, None] > 0)
        copy = best.float() / best.sum(-1, keepdim=True).clamp_min(1)
        same_word = (best & self.kinds.continues).any(-1)
        case = torch.where(longest == 1, torch.where(same_word, 1, 2), longest.long() + 1)
        return torch.where(longest > 0, case, 0), copy

    def sources(self, row: Row) -> list[tuple[int, int]]:
        """(dest, src) where the copy proposes the actual next token: src is the copied token's earlier position."""
        match = induction_features(row, len(self.kinds.texts), self.longest)
        out = []
        for p in range(len(row) - 1):
            if match[p, row[p + 1]] > 0:
                earlier = torch.nonzero((row[1: p + 1] == row[p + 1]) & (row[: p] == row[p])).flatten()
                out.append((p, int(earlier[-1]) + 1))
        return out


def _last_before(row: Row, p: int, token: int) -> int | None:
    """The last position at or before ``p`` that holds ``token``, or None."""
    hits = torch.nonzero(row[: p + 1] == token).flatten()
    return int(hits[-1]) if len(hits) else None


def _earlier_copies(row: Row, fires: Float[torch.Tensor, "pos d_vocab"]) -> list[tuple[int, int]]:
    """(dest, src) where a feature holds for the actual next token and that token occurred before: src is its
    last copy."""
    out = []
    for p in range(len(row) - 1):
        y = int(row[p + 1])
        if fires[p, y] > 0 and (src := _last_before(row, p, y)) is not None:
            out.append((p, src))
    return out


@dataclass
class RepeatedWords:
    """A capitalised token already in the text is likelier than one that is not: names recur."""

    kinds: TokenKinds
    name: str = "repeated names"
    evidence: str = "the heads that attend from before a repeated name to its earlier copy (this chapter, section 3)"

    def features(self, row: Row) -> Float[torch.Tensor, "pos d_vocab"]:
        """1 for each capitalised token already in the row up to each position: [pos, d_vocab]."""
        seen = torch.zeros(len(row), len(self.kinds.texts))
        seen[torch.arange(len(row)), row] = 1.0
        return seen.cummax(0).values * self.kinds.capitalised

    def sources(self, row: Row) -> list[tuple[int, int]]:
        """(dest, src) before a repeated capitalised token: src is its earlier copy."""
        return _earlier_copies(row, self.features(row))


@dataclass
class QuoteClosing:
    """Inside an open quote a closing quote is likely; outside one it is not. A quote token opens a quote when
    none is open and closes it otherwise."""

    kinds: TokenKinds
    name: str = "quote closing"
    evidence: str = "the heads that attend from inside a quote to its opening mark (this chapter, section 3)"

    def features(self, row: Row) -> Float[torch.Tensor, "pos d_vocab"]:
        """+1 for closing-quote tokens inside an open quote, -1 outside one: [pos, d_vocab]."""
        is_open, inside = False, torch.zeros(len(row))
        for p, t in enumerate(row.tolist()):
            if self.kinds.quote[t]:
                is_open = not is_open
            inside[p] = is_open
        return (2 * inside[:, None] - 1) * self.kinds.closing  # +1 inside a quote, -1 outside

    def sources(self, row: Row) -> list[tuple[int, int]]:
        """(dest, src) before a closing quote inside a quote: src is the opening quote."""
        out, opened = [], None
        for p, t in enumerate(row[:-1].tolist()):
            if self.kinds.quote[t]:
                opened = p if opened is None else None
            if opened is not None and self.kinds.closing[row[p + 1]]:
                out.append((p, opened))
        return out


PRONOUNS = {"he": 0, "him": 0, "his": 0, "himself": 0, "she": 1, "her": 1, "hers": 1, "herself": 1}
"""Third-person pronouns by gender (0: he, 1: she); "they" carries no gender and is left out."""


@dataclass
class Pronouns:
    """A pronoun agrees with the last one used: after "he" or "his", "he" and "his" are likely and "she" and
    "her" are not."""

    kinds: TokenKinds
    name: str = "pronoun agreement"
    evidence: str = ("a guess: the heads that attend from before a pronoun to the last one, and its fitted weight "
                     "(section 3)")

    def features(self, row: Row) -> Float[torch.Tensor, "pos d_vocab"]:
        """+1 for pronouns of the last pronoun's gender, -1 for the other gender's: [pos, d_vocab]."""
        gender = torch.tensor([PRONOUNS.get(t.strip().lower(), -1) for t in self.kinds.texts])
        last, out = -1, torch.zeros(len(row), len(self.kinds.texts))
        for p, t in enumerate(row.tolist()):
            last = int(gender[t]) if gender[t] >= 0 else last
            if last >= 0:
                out[p] = (gender == last).float() - (gender == 1 - last).float()
        return out

    def sources(self, row: Row) -> list[tuple[int, int]]:
        """(dest, src) before a pronoun that has a pronoun before it: src is the last earlier pronoun."""
        gender = [PRONOUNS.get(self.kinds.texts[t].strip().lower(), -1) for t in row.tolist()]
        out, last = [], None
        for p in range(len(row) - 1):
            last = p if gender[p] >= 0 else last
            if last is not None and gender[p + 1] >= 0:
                out.append((p, last))
        return out


def words(texts: Sequence[str]) -> list[tuple[int, int, str]]:
    """Split token texts into words: ``(first token, end token, text)``, a word starting at a space, a line
    break, or a change between letters and anything else."""
    out, start = [], 0
    for p in range(1, len(texts) + 1):
        if p == len(texts) or texts[p][:1].isspace() or texts[p - 1][-1:].isspace() or (
                texts[p][:1].isalpha() != texts[p - 1][-1:].isalpha()):
            text = "".join(texts[start:p]).strip()
            if text:
                out.append((start, p, text))
            start = p
    return out


@dataclass
class IndirectObject:
    """After "A and B ..." and a second mention of one of them (the subject), the other name (the indirect
    object) is likely and the subject is not, until the sentence ends."""

    kinds: TokenKinds
    tokenizer: object
    name: str = "indirect object"
    evidence: str = "the indirect-object circuit of 41_patching, and the heads that attend to the IO (section 3)"

    def _first_token(self, word: str) -> int:
        return self.tokenizer(" " + word, add_special_tokens=False)["input_ids"][0]

    def features(self, row: Row) -> Float[torch.Tensor, "pos d_vocab"]:
        """+1 for the indirect object's first token and -1 for the subject's, from the subject's second mention to
        the end of the sentence: [pos, d_vocab]."""
        out = torch.zeros(len(row), len(self.kinds.texts))
        ws = words([self.kinds.texts[t] for t in row.tolist()])
        pair, active = None, None  # the names of the last "A and B"; (from token, io, subject) once one repeats
        for i, (start, end, text) in enumerate(ws):
            if active and any(c in text for c in ".!?"):
                out[active[0]: start, active[1]] += 1.0
                out[active[0]: start, active[2]] -= 1.0
                active = None
            if 0 < i < len(ws) - 1 and text == "and" and ws[i - 1][2][:1].isupper() and ws[i + 1][2][:1].isupper():
                pair = (ws[i - 1][2], ws[i + 1][2])
            elif pair and text in pair and ws[i - 1][2] != "and":
                io = pair[1] if text == pair[0] else pair[0]
                active, pair = (end - 1, self._first_token(io), self._first_token(text)), None
        if active:
            out[active[0]:, active[1]] += 1.0
            out[active[0]:, active[2]] -= 1.0
        return out

    def sources(self, row: Row) -> list[tuple[int, int]]:
        """(dest, src) before the indirect object: src is its earlier mention."""
        return _earlier_copies(row, self.features(row))


def default_rules(model, one_layer) -> list:
    """The rules in the order the chapter adds them; ``one_layer`` is the model whose heads give the skip-trigrams."""
    kinds = TokenKinds.of(model)
    return [SkipTrigrams(one_layer), Induction(kinds), RepeatedWords(kinds), Pronouns(kinds),
            QuoteClosing(kinds), IndirectObject(kinds, model.tokenizer)]


# ---------------------------------------------------------------- the predictor


@dataclass
class CodePredictor:
    """An n-gram base (``order`` 1, 2 or 3), weighted feature rules, and an optional copy rule (`Induction`)::

        p(y) = (1 - lambda) * softmax(base + sum_r weight_r * f_r)(y) + lambda * copy(y)

    with ``lambda`` the copy rule's probability for the case at hand (0 where it proposes nothing).
    """

    tables: NgramTables
    order: int = 3
    rules: list = field(default_factory=list)
    weights: Float[torch.Tensor, "feature"] | None = None
    """One per feature label, in the order of `labels`: a feature's weight, or a copy case's logit (lambda is its
    sigmoid)."""

    def __post_init__(self):
        if self.order not in (1, 2, 3):
            raise ValueError(f"order must be 1, 2 or 3, got {self.order}")
        copies = [r for r in self.rules if hasattr(r, "proposals")]
        if len(copies) > 1:
            raise ValueError("at most one copy rule")
        self.copy = copies[0] if copies else None
        self.features = [r for r in self.rules if r is not self.copy]
        if self.weights is None:
            self.weights = torch.zeros(len(self.labels))
        if len(self.weights) != len(self.labels):
            raise ValueError(f"{len(self.weights)} weights for {len(self.labels)} features of {len(self.rules)} rules")

    @property
    def labels(self) -> list[str]:
        """One name per weight: each feature rule's name, then the copy rule's cases."""
        return [r.name for r in self.features] + (self.copy.labels if self.copy else [])

    def weight_table(self) -> list[tuple[str, str, float]]:
        """(label, what the number is, value): a feature's weight, or a copy case's probability."""
        n = len(self.features)
        return ([(label, "weight", float(w)) for label, w in zip(self.labels[:n], self.weights[:n])]
                + [(label, "copy probability", float(torch.sigmoid(w)))
                   for label, w in zip(self.labels[n:], self.weights[n:])])

    def _parts(self, row: Row):
        base = self.tables.base(row, self.order)
        feats = (torch.stack([r.features(row) for r in self.features]) if self.features
                 else base.new_zeros(0, *base.shape))
        case, copy = self.copy.proposals(row) if self.copy else (torch.zeros(len(row), dtype=torch.long), None)
        return base, feats, case, copy

    def _combine(self, weights, base, feats, case, copy) -> torch.Tensor:
        n = len(self.features)
        out = (base + torch.einsum("r,rpv->pv", weights[:n], feats)).log_softmax(-1)
        if copy is None:
            return out
        logit = torch.cat([weights.new_zeros(1), weights[n:]])[case][:, None]  # [pos, 1]; case 0 is never mixed
        # log(1 - lambda) and log(lambda) as log-sigmoids: finite however sure the copy gets
        mixed = torch.logaddexp(F.logsigmoid(-logit) + out, F.logsigmoid(logit) + torch.log(copy))
        return torch.where(case[:, None] > 0, mixed, out)

    def logprobs(self, row: Row) -> Float[torch.Tensor, "pos d_vocab"]:
        """Log-probabilities of the next token after every prefix of ``row``."""
        row = torch.as_tensor(row, dtype=torch.long).cpu()
        return self._combine(self.weights, *self._parts(row))

    def next_token_logprobs(self, row: Row) -> Float[torch.Tensor, "pos"]:
        """``log p(row[p + 1] | row[: p + 1])`` for every ``p``: one entry fewer than the row."""
        row = torch.as_tensor(row, dtype=torch.long).cpu()
        return self.logprobs(row[:-1]).gather(1, row[1:, None])[:, 0]

    def fit(self, rows: Sequence[Row], steps: int = 50) -> "CodePredictor":
        """Set the weights to maximise the likelihood of ``rows`` (the n-gram base stays fixed)."""
        if not self.rules:
            return self
        rows = [torch.as_tensor(r, dtype=torch.long).cpu() for r in rows if len(r) > 1]
        if not rows:
            raise ValueError("need at least one row of two or more tokens to fit on")
        parts = [self._parts(r[:-1])
                 for r in progress_bar(rows, desc=f"features of {len(self.rules)} rules", leave=False)]
        targets = [r[1:, None] for r in rows]
        weights = self.weights.clone().requires_grad_(True)
        optimiser = torch.optim.LBFGS([weights], max_iter=steps, line_search_fn="strong_wolfe")

        def loss():
            optimiser.zero_grad()
            value = -sum(self._combine(weights, *part).gather(1, y).sum() for part, y in zip(parts, targets))
            value = value / sum(len(y) for y in targets)
            value.backward()
            return value

        with torch.enable_grad():
            optimiser.step(loss)
        self.weights = weights.detach()
        return self
