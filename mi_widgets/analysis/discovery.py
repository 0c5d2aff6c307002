"""Capability discovery, the TinyStories capability proposal's loop as functions: find the tokens a model
predicts confidently and correctly, group them by a named pattern, filter the group out, look again; then ask what a larger model
adds (tokens it gets confidently right and a smaller one does not).

    ref = Reference.build(tokenizer, reference_texts)
    features = text_features(tokenizer, texts, ref, stories)  # one row per token; planted labels if stories given
    frame = token_frame(model, features)                      # plus the model's probability and rank of each token
    sure = confident_correct(frame)
    groups = assign(sure, PATTERNS)                           # pattern name per token ("unexplained": none)
    precision_recall(sure, groups)                            # against the generator's planted labels

A pattern reads only the text (and statistics of reference text), never the planted labels, so the same
loop runs on real TinyStories text. Introduced in ``notebooks/20_capabilities/20_capabilities.ipynb``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from mi_widgets.logprobs import text_scores
from mi_widgets.organisms import lexicon as lx
from mi_widgets.organisms.corpus import capability_tokens
from mi_widgets.organisms.stories import Story

UNEXPLAINED = "unexplained"
_WORD = re.compile(r"[A-Za-z]+")
PRONOUNS = frozenset("he she his her him hers they them their it its".split())
DETERMINERS = frozenset("the my his her their your a an".split())
FUNCTION_WORDS = PRONOUNS | DETERMINERS | frozenset(
    "and to of in on at for with was were is are be had has have that this so then but not very up".split())
_PAIR = re.compile(r"\b([A-Z][a-z]+) and ([A-Z][a-z]+)\b")


@dataclass
class Reference:
    """Statistics of reference text: what follows each 3-token context, and which words share documents."""

    next_counts: dict[tuple[int, ...], Counter]  # 3-token context -> counts of the next token
    context_docs: Counter  # 3-token context -> documents that contain it
    word_docs: dict[str, set[int]]  # lowercase word -> documents that contain it
    n_docs: int
    _lifts: dict = field(default_factory=dict, repr=False)  # (word, cue) -> lift, cached

    @classmethod
    def build(cls, tokenizer, texts: Sequence[str]) -> "Reference":
        if not texts:
            raise ValueError("a reference needs at least one text")
        next_counts: dict[tuple[int, ...], Counter] = defaultdict(Counter)
        context_docs: Counter = Counter()
        word_docs: dict[str, set[int]] = defaultdict(set)
        bos = [tokenizer.bos_token_id] * 3  # the start of a text is a context too
        for d, ids in enumerate(tokenizer(list(texts), add_special_tokens=False)["input_ids"]):
            ids, contexts = bos + ids, set()
            for p in range(3, len(ids)):
                ctx = tuple(ids[p - 3: p])
                next_counts[ctx][ids[p]] += 1
                contexts.add(ctx)
            context_docs.update(contexts)
            for w in set(_WORD.findall(texts[d].lower())):
                word_docs[w].add(d)
        return cls(dict(next_counts), context_docs, dict(word_docs), len(texts))

    def phrase(self, context: tuple[int, ...], token: int) -> tuple[float, float]:
        """P(token | the 3-token context) in the reference, and the share of documents holding the context."""
        counts = self.next_counts.get(context)
        if not counts:
            return 0.0, 0.0
        return counts[token] / sum(counts.values()), self.context_docs[context] / self.n_docs

    def lift(self, word: str, cues: set[str]) -> float:
        """How much more often ``word`` occurs in documents with one of ``cues`` than in all documents (max).

        Words in a fifth or more of the documents are skipped: their lift cannot reach 5.
        """
        docs = self.word_docs.get(word)
        if not docs or len(docs) >= 0.2 * self.n_docs:
            return 0.0
        best = 0.0
        for cue in cues:
            key = (word, cue)
            if key not in self._lifts:
                with_cue = self.word_docs.get(cue, ())
                self._lifts[key] = (len(docs & with_cue) / len(with_cue) * self.n_docs / len(docs)
                                    if len(with_cue) >= 5 else 0.0)
            best = max(best, self._lifts[key])
        return best


def _plurals(word: str) -> set[str]:
    return {word + "s", word + "es", word[:-1] + "ies", word[:-1] + "ves", word[:-2] + "ves",
            lx.PLURALS.get(word, word + "s")}


def _word_features(text: str, words: list[re.Match], ref: Reference) -> list[dict]:
    """Features of each word of a text that depend on the words before it."""
    initial = [re.search(r'(^|[.!?"\n]\s*)$', text[: m.start()]) is not None for m in words]
    proper = {m[0] for m, first in zip(words, initial) if not first and m[0][0].isupper() and len(m[0]) > 1}
    pairs = [m.end() for m in _PAIR.finditer(text) if m[1] in proper and m[2] in proper]
    seen: set[str] = set()
    out = []
    for k, m in enumerate(words):
        word, lower = m[0], m[0].lower()
        novel = word.islower() and lower not in FUNCTION_WORDS and word not in seen
        out.append(dict(
            word=word, prev_word=words[k - 1][0].lower() if k else "", proper=word in proper, word_seen=word in seen,
            plural_seen=novel and bool(_plurals(lower) & seen),
            pair_before=any(m.start() - 300 <= e < m.start() for e in pairs),
            lift=ref.lift(lower, {w.lower() for w in seen} - FUNCTION_WORDS) if novel else 0.0))
        seen.add(word)
    return out


def _doc_features(tokenizer, text: str, ref: Reference) -> list[dict]:
    """Text features of every token of one text (BOS excluded), in order."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, spans = enc["input_ids"], enc["offset_mapping"]
    words = list(_WORD.finditer(text))
    per_word = _word_features(text, words, ref)
    owner = np.full(len(text) + 1, -1)
    for k, m in enumerate(words):
        owner[m.start(): m.end()] = k
    no_word = dict(word="", prev_word="", proper=False, word_seen=False, plural_seen=False, pair_before=False, lift=0.0)
    first_break = text.find("\n\n")
    copies, out = _copy_lengths(ids), []
    padded = [tokenizer.bos_token_id] * 3 + ids
    for p, (a, b) in enumerate(spans):
        k = int(owner[b - 1]) if b > a else -1
        phrase_p, phrase_docs = ref.phrase(tuple(padded[p: p + 3]), ids[p])
        out.append(dict(
            char=a, token_id=ids[p], **(per_word[k] if k >= 0 else no_word),
            quote_close='"' in text[a:b] and text[:a].count('"') % 2 == 1,
            story_start=first_break >= 0 and a >= first_break + 2 and (p == 0 or spans[p - 1][0] < first_break + 2),
            copy_len=copies[p], phrase_p=phrase_p, phrase_docs=phrase_docs))
    return out


def _copy_lengths(ids: list[int], longest: int = 8) -> list[int]:
    """For each position, the length (up to ``longest``) of the longest run of tokens ending there that
    also occurred earlier in the list: how far an induction-style copy reaches back."""
    seen: set[tuple[int, ...]] = set()
    out = []
    for p in range(len(ids)):
        n = min(longest, p + 1, (out[-1] + 1) if out else 1)
        while n and tuple(ids[p - n + 1: p + 1]) not in seen:
            n -= 1
        out.append(n)
        for m in range(1, min(longest, p + 1) + 1):
            seen.add(tuple(ids[p - m + 1: p + 1]))
    return out


def text_features(tokenizer, texts: Sequence[str], ref: Reference, stories: Sequence[Story] | None = None
                  ) -> pd.DataFrame:
    """One row per token of each text (BOS excluded): doc, pos, token, token_id, the text features the
    patterns read, and ``capability`` (the planted label, "" for unlabelled tokens; None without ``stories``).
    Computed once per set of texts and shared by every model with this tokenizer."""
    if not texts:
        raise ValueError("need at least one text")
    if stories is not None and [s.text for s in stories] != list(texts):
        raise ValueError("stories must be the texts' own stories, in the same order")
    names: dict[int, str] = {}
    rows = []
    for d, text in enumerate(texts):
        labels = {}
        if stories is not None:
            for cap, pos in capability_tokens(tokenizer, stories[d])[1]:
                labels.setdefault(pos, cap)
        for p, feats in enumerate(_doc_features(tokenizer, text, ref), start=1):
            t = feats["token_id"]
            if t not in names:
                names[t] = tokenizer.decode([t])
            rows.append(dict(doc=d, pos=p, token=names[t], **feats,
                             capability=labels.get(p, "") if stories is not None else None))
    return pd.DataFrame(rows)


def token_frame(model, features: pd.DataFrame, batch_size: int = 32) -> pd.DataFrame:
    """`text_features` plus the model's view of each token: logprob, prob, rank, correct (rank 1), loss."""
    tok = model.tokenizer
    ids = [[tok.bos_token_id, *part.token_id.tolist()] for _, part in features.groupby("doc", sort=True)]
    first_text = tok.decode(ids[0][1:])
    if tok(first_text, add_special_tokens=False)["input_ids"] != ids[0][1:]:
        raise ValueError("the features were made with another tokenizer than this model's")
    scores = text_scores(model, ids, batch_size)
    frame = features.sort_values(["doc", "pos"]).copy()
    frame["logprob"] = torch.cat([sc.logprobs for sc in scores]).numpy()
    frame["rank"] = torch.cat([sc.ranks for sc in scores]).numpy()
    frame["prob"] = np.exp(frame.logprob)
    frame["loss"] = -frame.logprob
    frame["correct"] = frame["rank"] == 1
    return frame


def confident_correct(frame: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """The tokens the model ranks first with probability above ``threshold``."""
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    return frame[frame.correct & (frame.prob > threshold)]


@dataclass(frozen=True)
class Pattern:
    """A named hypothesis about why tokens are predictable, as a test on the token frame's text features."""

    name: str  # the capability it proposes
    description: str
    test: Callable[[pd.DataFrame], pd.Series]

    def select(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` (a token frame) that this pattern explains."""
        return frame[self.test(frame).to_numpy(bool)]


def filter_out(frame: pd.DataFrame, pattern: Pattern) -> pd.DataFrame:
    """The tokens ``pattern`` does not explain (the capability proposal, step 4)."""
    return frame[~pattern.test(frame).to_numpy(bool)]


def _novel_lower(f: pd.DataFrame) -> pd.Series:
    return f.word.str.islower() & ~f.word.str.lower().isin(FUNCTION_WORDS) & ~f.word_seen


# Specific patterns come before general ones: a name given to the recipient is a repeated name too.
PATTERNS: tuple[Pattern, ...] = (
    Pattern("quote_close", "a closing quotation mark while a quotation is open", lambda f: f.quote_close),
    Pattern("story_start", "the first token after the first blank line", lambda f: f.story_start),
    Pattern("pronoun", "a personal or possessive pronoun", lambda f: f.word.str.lower().isin(PRONOUNS)),
    Pattern("ioi", "a repeated name after to/for/at, with 'X and Y' named shortly before",
            lambda f: f.proper & f.word_seen & f.prev_word.isin({"to", "for", "at"}) & f.pair_before),
    Pattern("induction_name", "a name that occurred earlier in the text", lambda f: f.proper & f.word_seen),
    Pattern("plural_singular", "a new word whose plural occurred earlier", lambda f: f.plural_seen),
    Pattern("repeat_span", "the token ends a run of 6+ tokens that occurred earlier (not inside a name)",
            lambda f: (f.copy_len >= 6) & (f.word != "") & ~f.proper),
    Pattern("repeat_noun", "a content word said earlier, after a determiner",
            lambda f: f.word.str.islower() & f.word_seen & f.prev_word.isin(DETERMINERS)
            & ~f.word.str.lower().isin(FUNCTION_WORDS)),
    Pattern("related_concept", "a new word 10x more common in texts that hold an earlier word",
            lambda f: _novel_lower(f) & (f.lift >= 10)),
    Pattern("ngram", "a word the last 3 tokens fix (P >= 0.9) in a phrase a third of texts use",
            lambda f: (f.phrase_p >= 0.9) & (f.phrase_docs >= 0.3) & (f.word != "")),
    Pattern("skip_trigram", "a word the last 3 tokens fix (P >= 0.9) in a rarer phrase",
            lambda f: (f.phrase_p >= 0.9) & (f.word != "")),
)


def assign(frame: pd.DataFrame, patterns: Sequence[Pattern] = PATTERNS) -> pd.Series:
    """The first pattern (in order) that explains each token, or ``UNEXPLAINED``: the loop run to its end."""
    group = pd.Series(UNEXPLAINED, index=frame.index)
    for pattern in reversed(patterns):
        group[pattern.test(frame).to_numpy(bool)] = pattern.name
    return group


def loop_table(frame: pd.DataFrame, patterns: Sequence[Pattern] = PATTERNS, top: int = 5) -> pd.DataFrame:
    """The loop step by step: what each pattern explains of the tokens the ones before it left, with its
    most common tokens; the last row is what no pattern explains."""
    groups, rows = assign(frame, patterns), []
    for name, description in [(p.name, p.description) for p in patterns] + [(UNEXPLAINED, "no pattern")]:
        part = frame[(groups == name).to_numpy()]
        rows.append(dict(pattern=name, description=description, tokens=len(part), share=len(part) / max(1, len(frame)),
                         common=", ".join(repr(t) for t in part.token.value_counts().index[:top])))
    return pd.DataFrame(rows)


def context(frame: pd.DataFrame, index, before: int = 12, after: int = 2) -> tuple[list[str], list[float], int]:
    """Tokens around the frame row ``index`` (same text), their probabilities, and where the row's token is."""
    row = frame.loc[index]
    doc = frame[(frame.doc == row.doc) & frame.pos.between(row.pos - before, row.pos + after)]
    return doc.token.tolist(), doc.prob.tolist(), int((doc.pos < row.pos).sum())


def new_capabilities(small: pd.DataFrame, large: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Tokens (same texts, same tokenizer) that ``large`` predicts confidently and correctly and ``small`` does not."""
    if len(small) != len(large) or not (small.token_id.to_numpy() == large.token_id.to_numpy()).all():
        raise ValueError("the two frames must cover the same tokens (same texts and tokenizer)")
    sure_large = large.correct & (large.prob > threshold)
    sure_small = small.correct.to_numpy() & (small.prob.to_numpy() > threshold)
    return large[sure_large.to_numpy() & ~sure_small]


def precision_recall(frame: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Per pattern named after a planted capability: how well its group matches that capability's tokens.

    precision: share of the group's tokens that carry the label; labelled_precision: the same among
    labelled tokens only (text the generator does not label is often predictable too);
    unlabelled_share: the group's tokens that carry no label at all, the false positives that
    labelled_precision leaves out; recall: share of the label's tokens (in ``frame``) that the group holds.
    An empty group or label counts as 0 (nothing found), as it does for a model that gets no token right.
    """
    if len(frame) and frame.capability.isna().all():
        raise ValueError("the tokens carry no planted labels (real text?): nothing to validate against")
    rows = []
    for name in [n for n in dict.fromkeys(groups) if n != UNEXPLAINED]:
        in_group, labelled = groups == name, frame.capability == name
        hit = int((in_group & labelled).sum())
        rows.append(dict(capability=name, group=int(in_group.sum()), labelled=int(labelled.sum()), hits=hit,
                         precision=hit / max(1, int(in_group.sum())),
                         labelled_precision=hit / max(1, int((in_group & (frame.capability != "")).sum())),
                         unlabelled_share=int((in_group & (frame.capability == "")).sum()) / max(1, int(in_group.sum())),
                         recall=hit / max(1, int(labelled.sum()))))
    return pd.DataFrame(rows, columns=["capability", "group", "labelled", "hits", "precision", "labelled_precision",
                                       "unlabelled_share", "recall"])
