"""30_geometry: explained variance by PCA, an order test that assumes no line, the participation ratio,
co-activation of latents."""

from __future__ import annotations

import numpy as np
import torch

from mi_widgets.analysis.code_spectrum import participation_ratio
from mi_widgets.analysis.latent_blocks import coactivation
from mi_widgets.analysis.stats import order_distances, rank_correlation
from mi_widgets.exercises.core import Case, Exercise, register


def explained_reference(x: torch.Tensor, n: int) -> torch.Tensor:
    """Share of the variance of ``x`` [rows, d] along each of its first ``n`` principal components."""
    s = torch.linalg.svdvals(x - x.mean(0))
    return (s.pow(2) / s.pow(2).sum())[:n]


def _explained_cases():
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(60, 5, generator=gen) * torch.tensor([4.0, 2.0, 1.0, 0.5, 0.1]) + 10.0
    return [Case((x, 3), "60 points in 5 dimensions, far from the origin"), Case((x[:, :2], 2), "two dimensions")]


register(Exercise(
    "geometry.explained_variance", explained_reference, _explained_cases,
    mistakes=[(lambda x, n: (torch.linalg.svdvals(x).pow(2) / torch.linalg.svdvals(x).pow(2).sum())[:n],
               "centre the points first (x - x.mean(0)): otherwise the first component points at the mean"),
              (lambda x, n: (torch.linalg.svdvals(x - x.mean(0)) / torch.linalg.svdvals(x - x.mean(0)).sum())[:n],
               "a component's variance is its singular value *squared*")]))


def order_reference(points: np.ndarray) -> float:
    """Spearman correlation, over pairs i < j, of the points' distances with ``|i - j|``."""
    n = len(points)
    upper = np.triu_indices(n, 1)
    dist = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    return rank_correlation(dist[upper], order_distances(np.arange(n))[upper])


def _order_cases():
    rng = np.random.default_rng(2)
    angles = np.linspace(0, 4.2, 10)  # an arc of 240 degrees: ordered, not a line
    arc = np.stack([np.cos(angles), np.sin(angles)], 1) + 0.05 * rng.normal(size=(10, 2))
    return [Case((arc,), "points on an arc"), Case((rng.normal(size=(8, 3)),), "random points")]


def _pearson(points):
    n = len(points)
    upper = np.triu_indices(n, 1)
    dist = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    return float(np.corrcoef(dist[upper], order_distances(np.arange(n))[upper])[0, 1])


def _with_diagonal(points):
    n = len(points)
    dist = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    return rank_correlation(dist.ravel(), order_distances(np.arange(n)).ravel())


register(Exercise(
    "geometry.order_correlation", order_reference, _order_cases,
    mistakes=[(_pearson, "use a rank (Spearman) correlation: an arc's distances grow with |i - j| but not linearly"),
              (_with_diagonal, "use each pair once (i < j): the full matrix counts pairs twice and adds the zero diagonal")]))


def _pr_cases():
    return [Case((torch.tensor([4.0, 1.0, 1.0, 0.5]),), "four eigenvalues"), Case((torch.ones(6),), "flat: n"),
            Case((torch.tensor([3.0, 0.0, 0.0]),), "one direction: 1")]


register(Exercise(
    "geometry.participation_ratio", participation_ratio, _pr_cases,
    mistakes=[(lambda e: float(e.sum() ** 2 / e.pow(2).sum() / len(e)),
               "the raw ratio (sum)^2 / sum of squares: dividing by the number of eigenvalues is a different statistic"),
              (lambda e: float(e.sum() / e.pow(2).sum()), "square the sum of the eigenvalues in the numerator")]))


def coactivation_reference(codes: np.ndarray) -> np.ndarray:
    """Cosine of the latents' binary firing patterns over rows: n_ij / sqrt(n_i n_j)."""
    rows, latents = np.nonzero(codes > 0)
    return coactivation(rows, latents, codes.shape[0], codes.shape[1])


def _coact_cases():
    rng = np.random.default_rng(3)
    codes = rng.random((30, 6)) * (rng.random((30, 6)) < 0.4)
    codes[:, 4] = codes[:, 1] * 2  # latent 4 fires exactly when latent 1 does
    return [Case((codes,), "30 rows, 6 latents")]


register(Exercise(
    "geometry.coactivation", coactivation_reference, _coact_cases,
    mistakes=[(lambda c: (lambda f: f.T @ f)((c > 0).astype(float)),
               "normalise the counts: n_ij / sqrt(n_i * n_j), so that a latent with itself scores 1"),
              (lambda c: (lambda u: u.T @ u)(c / np.maximum(np.linalg.norm(c, axis=0), 1e-12)),
               "use whether a latent fires (codes > 0), not how strongly: the blocks are about co-firing")]))
