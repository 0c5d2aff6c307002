"""analysis.stats: the permutation test."""

import numpy as np
import pytest

from mi_widgets.analysis.stats import bootstrap_interval, mantel_test, order_distances, permutation_p_value


def test_permutation_p_value():
    values = np.arange(20.0)
    observed, p = permutation_p_value(lambda order: np.corrcoef(values, order)[0, 1], 20, n_perm=199)
    assert observed == pytest.approx(1.0) and p == pytest.approx(1 / 200)


def _arc(n: int, degrees: float, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    angles = np.radians(np.linspace(0, degrees, n))
    rng = np.random.default_rng(seed)
    return np.stack([np.cos(angles), np.sin(angles), np.zeros(n)], 1) + noise * rng.normal(size=(n, 3))


def test_mantel_sees_order_on_a_line_an_arc_and_a_circle():
    linear = order_distances(np.arange(9))
    for degrees in (0.01, 240):  # a line, and an arc bent past 180 degrees (on which PC1 is not monotone)
        rho, p = mantel_test(_arc(9, degrees) * (1 if degrees > 1 else 1e4), linear, n_perm=1999)
        assert rho > 0.9 and p <= 0.001, (degrees, rho, p)
    rho, p = mantel_test(_arc(9, 330), linear, n_perm=1999)  # nearly closed: the two ends meet, so weaker
    assert 0.3 < rho < 0.8 and p < 0.01
    days = _arc(7, 360 * 6 / 7)  # seven points evenly round a circle
    rho, p = mantel_test(days, order_distances(np.arange(7), period=7), n_perm=9999)
    assert rho == pytest.approx(1.0) and p == pytest.approx(14 / 5040)  # exact: 7! orders, 14 symmetries tie


def test_mantel_null_is_calibrated_and_shuffled_points_fail():
    rng = np.random.default_rng(1)
    target = order_distances(np.arange(10))
    ps = np.array([mantel_test(rng.normal(size=(10, 5)), target, n_perm=199, seed=s)[1] for s in range(200)])
    assert 0.02 <= (ps <= 0.05).mean() <= 0.09  # about 5% of pure-noise sets pass at 0.05


def test_order_distances_wrap_round_a_cycle():
    d = order_distances(np.arange(7), period=7)
    assert d[0, 6] == 1 and d[0, 3] == 3 and d[1, 5] == 3
    assert order_distances(np.arange(4))[0, 3] == 3
    with pytest.raises(ValueError, match="at least 4"):
        mantel_test(np.zeros((3, 2)), order_distances(np.arange(3)))


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 20), rng.normal(1.0, 1.0, 2000)
    m, lo, hi = bootstrap_interval(small)
    assert lo < m < hi and lo < 1.0 < hi
    _, lo2, hi2 = bootstrap_interval(large)
    assert hi2 - lo2 < (hi - lo) / 5
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_interval([])
