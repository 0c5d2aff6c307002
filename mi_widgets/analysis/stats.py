"""Small statistics the analyses share: rank correlation, permutation tests, and an order test.

    rho, p = permutation_p_value(lambda order: abs(rank_correlation(x, y[order])), len(y), n_perm=9999)
    rho, p = mantel_test(points, order_distances(np.arange(7), period=7))   # are days in order, any shape?

Introduced in ``notebooks/30_geometry/30_geometry.ipynb``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from jaxtyping import Float, Int


def rank_correlation(a: Float[np.ndarray, "n"], b: Float[np.ndarray, "n"]) -> float:
    """Spearman's rank correlation (scipy's, so ties get average ranks)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def permutation_p_value(statistic: Callable[[np.ndarray], float], n: int, n_perm: int = 999,
                        seed: int = 0) -> tuple[float, float]:
    """(observed, p): ``statistic(order)`` for the true order ``arange(n)`` against random label orders."""
    rng = np.random.default_rng(seed)
    observed = statistic(np.arange(n))
    null = np.array([statistic(rng.permutation(n)) for _ in range(n_perm)])
    return observed, float((1 + (null >= observed).sum()) / (n_perm + 1))


def order_distances(positions: Int[np.ndarray, "n"], period: int | None = None) -> Float[np.ndarray, "n n"]:
    """How far apart the items are in their true order: ``|i - j|``, or the shorter way round a cycle of
    ``period`` (days of the week: 7) when one is given."""
    gap = np.abs(positions[:, None] - positions[None, :]).astype(float)
    return np.minimum(gap, period - gap) if period else gap


def mantel_test(points: Float[np.ndarray, "n d"], target: Float[np.ndarray, "n n"], n_perm: int = 9999,
                seed: int = 0) -> tuple[float, float]:
    """(rho, p): Spearman's correlation, over pairs, of the points' distances with ``target`` distances.

    It asks whether items far apart in the true order are far apart in space, whatever the shape: a line,
    an arc or a circle all score high, and it assumes no direction. The null shuffles which item is which
    (rows and columns of ``target`` together); p is one-sided (more ordered than chance) and exact, over
    every permutation, when there are at most ``n_perm + 1`` of them.
    """
    from scipy.stats import rankdata

    points = np.asarray(points, dtype=float)
    n = len(points)
    if n < 4:
        raise ValueError(f"need at least 4 items for an order test, got {n}")
    upper = np.triu_indices(n, 1)
    dist = np.linalg.norm(points[:, None] - points[None, :], axis=-1)[upper]
    space = rankdata(np.round(dist / max(dist.max(), 1e-300), 9))  # equal distances tie, despite rounding error
    if math.factorial(n) <= n_perm + 1:
        orders, exact = np.array(list(itertools.permutations(range(n)))), True
    else:
        rng = np.random.default_rng(seed)
        orders, exact = np.array([np.arange(n)] + [rng.permutation(n) for _ in range(n_perm)]), False
    shuffled = rankdata(target[orders[:, :, None], orders[:, None, :]][:, upper[0], upper[1]], axis=1)
    a = space - space.mean()
    b = shuffled - shuffled.mean(axis=1, keepdims=True)
    rho = (b @ a) / (np.linalg.norm(b, axis=1) * np.linalg.norm(a))
    observed = float(rho[0])
    beaten = int((rho >= observed - 1e-12).sum())  # the true order counts itself
    return observed, beaten / len(orders) if exact else beaten / (n_perm + 1)


def bootstrap_interval(values: Float[np.ndarray, "n"], n_boot: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and a percentile bootstrap interval for it."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("need at least one value")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(1)
    tail = (1 - level) / 2
    return float(values.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
