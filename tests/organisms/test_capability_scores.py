"""organisms.capability_scores: the planted-capability and indirect-object tables on generated stories."""

from __future__ import annotations

import pytest
from conftest import make_tiny_model

from mi_widgets.organisms.capability_scores import capability_table, ioi_table
from mi_widgets.organisms.stories import CAPABILITIES, generate_stories


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tok"))


def test_capability_and_ioi_tables(model):
    stories = list(generate_stories(12, seed=0, split="val"))
    table = capability_table(model, stories)
    assert set(table.capability) <= set(CAPABILITIES) and len(table) >= 8
    assert table.accuracy.between(0, 1).all() and (table.tokens > 0).all()
    ioi = ioi_table(model, stories)
    assert len(ioi) >= 4 and set(ioi.order) <= {"ABBA", "ABAB", "BAAB", "BABA"}
    assert (ioi.answer != ioi.wrong).all()
    with pytest.raises(ValueError):
        capability_table(model, [])
