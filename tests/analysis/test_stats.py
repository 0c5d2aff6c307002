"""analysis.stats: the permutation test."""

import numpy as np
import pytest

from mi_widgets.analysis.stats import permutation_p_value


def test_permutation_p_value():
    values = np.arange(20.0)
    observed, p = permutation_p_value(lambda order: np.corrcoef(values, order)[0, 1], 20, n_perm=199)
    assert observed == pytest.approx(1.0) and p == pytest.approx(1 / 200)
