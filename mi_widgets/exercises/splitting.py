"""31_splitting: a child's delta, the best cross-family match, the signed split for NMF, recovered directions."""

from __future__ import annotations

import torch

from mi_widgets.analysis.splitting import child_deltas, cross_family_best, signed_split, unit_rows
from mi_widgets.dictionaries.synthetic_data import recovered_fraction
from mi_widgets.exercises.core import Case, Exercise, register


def _vectors(m: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(m, d, generator=torch.Generator().manual_seed(seed))


register(Exercise(
    "splitting.child_deltas", child_deltas,
    lambda: [Case((_vectors(6, 5, 0) * 3, _vectors(6, 5, 1)), "6 parent-child pairs, parents not unit length")],
    mistakes=[(lambda p, c: unit_rows(c) - unit_rows(p), "the delta is the part of the child *orthogonal* to the "
               "parent (remove the projection), not child minus parent"),
              (lambda p, c: c - (c * p).sum(1, keepdim=True) * p,
               "normalise first: with a parent that is not unit length, (c . p) p is not the projection; and "
               "return unit vectors"),
              (lambda p, c: (lambda u, v: v - (v * u).sum(1, keepdim=True) * u)(unit_rows(p), unit_rows(c)),
               "return the deltas as unit vectors (divide each by its norm)")]))


def _best_cases():
    v = _vectors(8, 4, 2)
    return [Case((v, torch.tensor([0, 0, 1, 1, 1, 2, 2, 3])), "8 vectors in 4 families"),
            Case((v[:4], torch.tensor([5, 5, 9, 9])), "two families with arbitrary labels")]


def _best_any(v, family):
    sims = unit_rows(v) @ unit_rows(v).T
    sims.fill_diagonal_(-2.0)
    return sims.max(1).values


register(Exercise(
    "splitting.cross_family_best", cross_family_best, _best_cases,
    mistakes=[(_best_any, "exclude every vector of the *same family*, not just the vector itself"),
              (lambda v, f: (lambda s: s.masked_fill(f[:, None] == f[None, :], -2.0).max(1).values)(v @ v.T),
               "compare directions: normalise the vectors before taking dot products (cosines)")]))


register(Exercise(
    "splitting.signed_split", signed_split,
    lambda: [Case((_vectors(5, 3, 3),), "5 signed vectors"), Case((torch.tensor([[0.0, -1.0, 2.0]]),), "one vector")],
    mistakes=[(lambda v: torch.cat([v.clamp_min(0), v.clamp_max(0)], 1),
               "the second half must be non-negative too: max(-v, 0), not min(v, 0)"),
              (lambda v: v.abs(), "abs() loses the sign; keep the positive and negative parts as separate halves")]))


def _recovered_cases():
    truth = unit_rows(_vectors(5, 8, 4))
    decoder = torch.cat([truth[:3] + 0.05 * _vectors(3, 8, 5), _vectors(4, 8, 6)]) * 2.5  # 3 found, rows not unit
    return [Case((decoder, truth, 0.9), "3 of 5 directions found, decoder rows of length about 2.5"),
            Case((-decoder, truth, 0.9), "the decoder flipped: nothing found")]


register(Exercise(
    "splitting.recovered_fraction", recovered_fraction, _recovered_cases,
    mistakes=[(lambda dec, t, th: float(((t @ dec.T).max(1).values > th).float().mean()),
               "normalise the decoder rows: a long row passes a dot-product threshold without pointing the right way"),
              (lambda dec, t, th: float(((t @ unit_rows(dec).T).abs().max(1).values > th).float().mean()),
               "a direction and its opposite are not the same feature: do not take abs() of the cosine")]))
