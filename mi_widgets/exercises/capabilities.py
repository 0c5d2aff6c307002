"""20_capabilities: an answer's log-probability and rank, a permutation p-value, the accuracy spread of a field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mi_widgets.analysis.task_metrics import accuracy_spread
from mi_widgets.exercises.core import Case, Exercise, register


def answer_logprob_reference(logprobs: torch.Tensor, answer_ids: list[int], start: int) -> float:
    """log P(answer) for a row whose answer tokens begin at ``start``: logprobs [pos, vocab], log-softmaxed."""
    return float(sum(logprobs[start - 1 + i, t] for i, t in enumerate(answer_ids)))


def _logprob_cases():
    gen = torch.Generator().manual_seed(7)
    logprobs = (torch.randn(9, 25, generator=gen) * 2).log_softmax(-1)
    return [Case((logprobs, [4], 5), "a one-token answer at position 5"),
            Case((logprobs, [3, 17, 8], 6), "a three-token answer at position 6")]


register(Exercise(
    "capabilities.answer_logprob", answer_logprob_reference, _logprob_cases,
    mistakes=[(lambda lp, ids, s: float(sum(lp[s + i, t] for i, t in enumerate(ids))),
               "position p predicts token p + 1: the answer's first token is read at start - 1"),
              (lambda lp, ids, s: float(lp[s - 1, ids[0]]), "sum over every token of the answer, not only the first")]))


def answer_rank_reference(logits: torch.Tensor, token: int) -> int:
    """1 + the number of tokens with a strictly higher logit (rank 1: greedy decoding writes it)."""
    return int((logits > logits[token]).sum()) + 1


def _rank_cases():
    gen = torch.Generator().manual_seed(8)
    logits = torch.randn(30, generator=gen)
    return [Case((logits, int(logits.argmax())), "the top token"), Case((logits, int(logits.argmin())), "the bottom one"),
            Case((logits, 3), "token 3")]


register(Exercise(
    "capabilities.answer_rank", answer_rank_reference, _rank_cases,
    mistakes=[(lambda lg, t: int((lg > lg[t]).sum()), "ranks start at 1 (the top token has rank 1), not 0"),
              (lambda lg, t: int((lg < lg[t]).sum()) + 1, "count the tokens the model *prefers*: higher logits")]))


def p_value_reference(observed: float, null: np.ndarray) -> float:
    """One-sided permutation p: the share of the null at least as large, counting the observation itself."""
    return float((1 + (np.asarray(null) >= observed).sum()) / (len(null) + 1))


def _p_cases():
    rng = np.random.default_rng(0)
    null = rng.normal(size=999)
    return [Case((2.5, null), "an extreme observation"), Case((0.0, null), "a typical one"),
            Case((9.0, null[:19]), "beyond the whole null (p = 1/20, never 0)")]


register(Exercise(
    "capabilities.permutation_p", p_value_reference, _p_cases,
    mistakes=[(lambda o, n: float((np.asarray(n) >= o).mean()),
               "count the observation itself (1 + ...) / (n + 1): with a finite null, p can never be 0"),
              (lambda o, n: float((1 + (np.asarray(n) <= o).sum()) / (len(n) + 1)),
               "the test is one-sided towards larger values: count null values >= the observation")]))


def _spread_cases():
    rng = np.random.default_rng(1)
    labels = np.array(["he"] * 30 + ["she"] * 25 + ["they"] * 12 + ["it"] * 4)
    correct = rng.random(len(labels)) < np.select([labels == "they", labels == "it"], [0.3, 0.0], 0.8)
    return [Case((correct, labels, 10), "four values, one with 4 items"), Case((correct, labels, 26), "one value left")]


register(Exercise(
    "capabilities.accuracy_spread", accuracy_spread, _spread_cases,
    mistakes=[(lambda c, lab, m: float(pd.Series(c).groupby(lab).mean().pipe(lambda s: s.max() - s.min())),
               "leave out values with fewer than min_items items: a spread over 4 items is mostly chance"),
              (lambda c, lab, m: float(pd.Series(c).groupby(lab).mean().std()),
               "the spread is best minus worst accuracy, not their standard deviation")]))
