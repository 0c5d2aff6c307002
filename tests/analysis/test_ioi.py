"""analysis.ioi: aligned clean/corrupt families whose named positions hold the names they claim to."""

import pytest
import torch

import mi_widgets as mw
from mi_widgets.analysis.ioi import POSITIONS, ioi_families, one_token_names


@pytest.fixture(scope="module")
def model():
    return mw.load_model("stories-gelu-2l")


def test_families_are_aligned_and_their_corruptions_change_only_the_names(model):
    families = ioi_families(model, templates=[0, 3, 10], n=12, seed=0)
    assert [f.template for f in families] == [0, 3, 10] and [f.held_out for f in families] == [False, False, True]
    for f in families:
        assert f.clean.shape == f.abc.shape == f.swap.shape and len(f) == 12
        rows = torch.arange(len(f))
        assert (f.clean[rows, f.positions["IO"]] == f.answer).all()
        assert (f.clean[rows, f.positions["S1"]] == f.wrong).all() and (f.clean[rows, f.positions["S2"]] == f.wrong).all()
        assert (f.positions["END"] == f.clean.shape[1] - 1).all()
        names = torch.stack([f.positions[p] for p in ("IO", "S1", "S2")], 1)
        others = torch.ones_like(f.clean, dtype=torch.bool)
        others[rows[:, None], names] = False
        assert (f.abc[others] == f.clean[others]).all() and (f.swap[others] == f.clean[others]).all()
        abc_names = f.abc[rows[:, None], names]
        assert all(len(set(r.tolist())) == 3 for r in abc_names)  # three fresh names, none repeated
        assert not (abc_names == f.answer[:, None]).any() and not (abc_names == f.wrong[:, None]).any()
        assert (f.swap[rows, f.positions["S2"]] == f.answer).all()  # the other person is now the subject
        assert set(f.order) == {"ABBA", "ABAB"}
        assert f.position_matrix().shape == (12, len(POSITIONS))


def test_families_are_reproducible_and_bad_input_is_refused(model):
    a, b = ioi_families(model, templates=[1], n=6, seed=3)[0], ioi_families(model, templates=[1], n=6, seed=3)[0]
    assert torch.equal(a.clean, b.clean) and torch.equal(a.abc, b.abc)
    assert len(one_token_names(model)) >= 40
    with pytest.raises(ValueError, match="out of range"):
        ioi_families(model, templates=[12], n=4)
    with pytest.raises(ValueError, match="corruption"):
        a.corrupt("shuffle")
    with pytest.raises(ValueError, match="at least one template"):
        ioi_families(model, templates=[], n=4)


def test_the_metric_is_one_on_clean_and_zero_on_corrupt(model):
    f = ioi_families(model, templates=[0], n=8, seed=0)[0]
    metric = f.metric(model, "swap")
    with torch.no_grad():
        assert float(metric(model(f.clean))) == pytest.approx(1.0, abs=1e-5)
        assert float(metric(model(f.swap))) == pytest.approx(0.0, abs=1e-5)
