"""widgets.table_view: a sorted, escaped static table and a widget that sorts and filters."""

import pandas as pd
import pytest

from mi_widgets.widgets import sortable_table


@pytest.fixture
def frame():
    return pd.DataFrame({"model": ["a", "a", "b"], "head": ["L0H0", "<b>L0H1</b>", "L0H0"], "score": [0.1, 0.9, 0.5]})


def test_static_table_is_sorted_and_escaped(frame):
    page = sortable_table(frame, sort_by="score")._repr_html_()
    assert page.index("0.90") < page.index("0.50") < page.index("0.10")
    assert "<b>L0H1</b>" not in page and "&lt;b&gt;L0H1&lt;/b&gt;" in page
    assert "<script" not in page


def test_widget_sorts_and_filters(frame):
    view = sortable_table(frame, sort_by="score", filter_column="model")
    box = view.widget()
    sort, ascending, keep = box.children[0].children
    out = box.children[1]
    ascending.value = True
    assert out.value.index("0.10") < out.value.index("0.90")
    keep.value = "b"
    assert "0.50" in out.value and "0.90" not in out.value


def test_bad_input(frame):
    with pytest.raises(ValueError, match="no column"):
        sortable_table(frame, sort_by="nope")
    with pytest.raises(ValueError, match="empty"):
        sortable_table(frame.iloc[:0])
