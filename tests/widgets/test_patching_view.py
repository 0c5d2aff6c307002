"""widgets.patching_view: escaped labels, one grid per name, bad scores refused."""

import pytest
import torch

from mi_widgets.widgets import PatchGrid, patching_view


def test_the_view_escapes_token_text_and_switches_grids():
    grid = PatchGrid(torch.tensor([[0.5, -0.25]]), ["L0"], ["<b>", " to"])
    view = patching_view({"first": grid, "second": PatchGrid(torch.zeros(1, 2), ["L1"], ["a", "b"])})
    page = view._repr_html_()
    assert "&lt;b&gt;" in page and "<b>" not in page
    assert "first" in page and "+0.500" in page
    assert "L1" in view.html("second")
    with pytest.raises(KeyError, match="no grid"):
        view.html("third")


def test_grids_of_the_wrong_shape_or_with_nan_are_refused():
    with pytest.raises(ValueError, match="rows, columns"):
        PatchGrid(torch.zeros(2, 2), ["L0"], ["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        PatchGrid(torch.tensor([[float("nan")]]), ["L0"], ["a"])
    with pytest.raises(ValueError, match="at least one"):
        patching_view({})
