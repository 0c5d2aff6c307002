"""Small statistics the analyses share: rank correlation and permutation tests.

    rho, p = permutation_p_value(lambda order: abs(rank_correlation(x, y[order])), len(y), n_perm=9999)

Introduced in ``notebooks/30_geometry/30_geometry.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from jaxtyping import Float


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
