"""Where induction goes wrong, on prompts built for each bug (seed 003, problems 1.19-1.22).

Every prompt is BOS and random filler tokens around the pieces that matter, so that only copying can
predict the answer; each bug is measured against a control that differs in that one piece:

* **split-token induction** (1.19): a word seen earlier as two tokens (no space before it: ``"L" "ily"``)
  and now as one (``" Lily"``). Does the model still copy what followed it? `split_token_prompts`.
* **misfiring on an ambiguous token** (1.20): the current token ``A`` followed ``X`` once and ``Y`` once; the
  token before it matches only the ``X`` occurrence. Does the model use that second token of context?
  `ambiguous_prompts`.
* **stopping at punctuation** (1.21): a repeated span that ends in ``.``, ``!`` or a closing quote, against
  one that ends in a word. Does the model copy on past the end of a sentence less? `stop_prompts`.

`answer_probability` and `logit_difference` score them; `continuation_rates` says how often a repeated span
goes on past a punctuation mark in real text, which is what tells a bug from a good habit. Introduced in ``notebooks/21_heads``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from jaxtyping import Float, Int

from mi_widgets.patching import logit_diff



class Prompts(NamedTuple):
    """Rows of one length and, for each, the token that should come next and a wrong one to compare with."""

    tokens: Int[torch.Tensor, "batch pos"]
    answer: Int[torch.Tensor, "batch"]
    other: Int[torch.Tensor, "batch"]


def _ordinary_tokens(model, exclude: Sequence[int] = ()) -> np.ndarray:
    """The model's token ids that are not special and not in ``exclude``: the pool for random filler and answers."""
    skip = set(model.tokenizer.all_special_ids) | set(exclude)
    return np.array([t for t in range(min(len(model.tokenizer), model.cfg.d_vocab)) if t not in skip])


def one_token_id(tokenizer, text: str) -> int:
    """The id of ``text``, which must be one token for ``tokenizer`` (else a clear error)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ValueError(f"{text!r} is {len(ids)} tokens for this tokenizer; each end must be one token")
    return ids[0]


def _stack(rows: list[list[int]], answer: list[int], other: list[int], bos: int) -> Prompts:
    if not rows:
        raise ValueError("no prompts to build (an empty word list?)")
    if len({len(r) for r in rows}) != 1:
        raise ValueError("prompt rows must all have one length")
    return Prompts(torch.tensor([[bos, *r] for r in rows]), torch.tensor(answer), torch.tensor(other))


def split_words(tokenizer, words: Sequence[str]) -> list[tuple[int, list[int]]]:
    """The words that are one token after a space and two or more without one: (spaced id, bare ids)."""
    out = []
    for word in words:
        spaced = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        bare = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(spaced) == 1 and len(bare) >= 2:
            out.append((spaced[0], bare))
    return out


def split_token_prompts(model, words: Sequence[str], n: int, seed: int = 0,
                        filler: int = 16) -> dict[str, Prompts]:
    """Three conditions of the same prompts, ``filler | word X | filler | " word"`` -> ``X``:

    ``"whole"``: the earlier occurrence is the one-token ``" word"``; ``"split"``: it is ``word`` without the
    space (two or more tokens); ``"none"``: a random token instead of the word, so ``X`` is in the context but
    after nothing that matches (what copying without induction gives). Rows are padded in front with filler to
    one length; ``other`` is a random token absent from the row.
    """
    tokenizer = model.tokenizer
    pairs = [(spaced, bare) for spaced, bare in split_words(tokenizer, words)
             if max(spaced, *bare) < model.cfg.d_vocab]
    if not pairs:
        raise ValueError("none of the words is one token with a space and several without one for this tokenizer")
    rng = np.random.default_rng(seed)
    longest = max(len(bare) for _, bare in pairs)
    pool = _ordinary_tokens(model, [t for s, bare in pairs for t in (s, *bare)])
    rows: dict[str, list[list[int]]] = {"whole": [], "split": [], "none": []}
    answers, others = [], []
    for i in range(n):
        spaced, bare = pairs[i % len(pairs)]
        x, other, stranger = (int(t) for t in rng.choice(pool, 3, replace=False))
        before, after = rng.choice(pool, filler).tolist(), rng.choice(pool, filler).tolist()
        pad = rng.choice(pool, longest).tolist()
        for name, earlier in (("whole", [spaced]), ("split", bare), ("none", [stranger])):
            rows[name].append(pad[: longest - len(earlier)] + before + [*earlier, x, *after, spaced])
        answers.append(x)
        others.append(other)
    return {name: _stack(r, answers, others, model.tokenizer.bos_token_id) for name, r in rows.items()}


def ambiguous_prompts(model, n: int, seed: int = 0, filler: int = 12) -> dict[str, Prompts]:
    """``filler | P A X | filler | Q A Y | filler | P A`` -> ``X`` (answer) against ``Y`` (other), in two orders:
    ``"match first"`` (as written) and ``"match last"`` (the ``Q A Y`` part first). A model that reads only the
    current token cannot tell ``X`` from ``Y``; one that reads the token before it too picks ``X`` in both."""
    rng = np.random.default_rng(seed)
    pool = _ordinary_tokens(model)
    rows: dict[str, list[list[int]]] = {"match first": [], "match last": []}
    answers, others = [], []
    for _ in range(n):
        p, q, a, x, y = (int(t) for t in rng.choice(pool, 5, replace=False))
        f1, f2, f3 = (rng.choice(pool, filler).tolist() for _ in range(3))
        rows["match first"].append(f1 + [p, a, x] + f2 + [q, a, y] + f3 + [p, a])
        rows["match last"].append(f1 + [q, a, y] + f2 + [p, a, x] + f3 + [p, a])
        answers.append(x)
        others.append(y)
    return {name: _stack(r, answers, others, model.tokenizer.bos_token_id) for name, r in rows.items()}


def stop_prompts(model, ends: Sequence[str], n: int, seed: int = 0, span: int = 8,
                 filler: int = 12) -> dict[str, Prompts]:
    """``filler | S E Z | filler | S E`` -> ``Z``, with the span ``S`` of ``span`` random tokens ending in ``E``:
    ``"punctuation"`` takes ``E`` from ``ends`` (each must be one token), ``"word"`` a random ordinary token.
    ``other`` is a random token that never appears in the row (the base rate)."""
    end_ids = [one_token_id(model.tokenizer, e) for e in ends]
    rng = np.random.default_rng(seed)
    pool = _ordinary_tokens(model, end_ids)
    rows: dict[str, list[list[int]]] = {"punctuation": [], "word": []}
    answers, others = [], []
    for i in range(n):
        s = rng.choice(pool, span).tolist()
        z, w, o = (int(t) for t in rng.choice(pool, 3, replace=False))
        f1, f2 = rng.choice(pool, filler).tolist(), rng.choice(pool, filler).tolist()
        for name, end in (("punctuation", end_ids[i % len(end_ids)]), ("word", w)):
            rows[name].append(f1 + s + [end, z] + f2 + s + [end])
        answers.append(z)
        others.append(o)
    return {name: _stack(r, answers, others, model.tokenizer.bos_token_id) for name, r in rows.items()}


@torch.no_grad()
def answer_probability(model, prompts: Prompts) -> Float[torch.Tensor, "batch"]:
    """Probability of each row's ``answer`` at its last position: [batch]."""
    logits = model(prompts.tokens.to(model.cfg.device))[:, -1].float()
    return logits.softmax(-1).gather(-1, prompts.answer[:, None].to(logits.device))[:, 0].cpu()


@torch.no_grad()
def logit_difference(model, prompts: Prompts) -> Float[torch.Tensor, "batch"]:
    """Logit of each row's ``answer`` minus that of its ``other`` at the last position: [batch]."""
    return logit_diff(model(prompts.tokens.to(model.cfg.device)).float().cpu(), prompts.answer, prompts.other)


def continuation_rates(rows: Int[torch.Tensor, "batch pos"], stops: Sequence[int], match: int = 3) -> dict[str, float]:
    """In real text, how often a repeat goes on: at every token whose ``match`` tokens before it also occur
    earlier in the row, whether it equals the token that followed that earlier occurrence (the latest one),
    split by whether the last matched token is one of ``stops`` (punctuation) or not.

    Returns the two rates and the number of positions behind each (``"n punctuation"``, ``"n word"``)."""
    if match < 1:
        raise ValueError(f"match must be at least 1, got {match}")
    stops = set(int(t) for t in stops)
    went_on = {"punctuation": [], "word": []}
    for row in rows.tolist():
        last: dict[tuple[int, ...], int] = {}  # n-gram -> the position just after its latest occurrence
        for t in range(match, len(row)):
            key = tuple(row[t - match: t])
            if key in last:
                went_on["punctuation" if row[t - 1] in stops else "word"].append(row[t] == row[last[key]])
            last[key] = t
    return {**{kind: float(np.mean(v)) if v else float("nan") for kind, v in went_on.items()},
            **{f"n {kind}": len(v) for kind, v in went_on.items()}}
