"""Eval browser: the static page holds the rows and a script-free filter, and every piece of text is escaped."""

from __future__ import annotations

import pandas as pd
import pytest

from mi_widgets.widgets.eval_browser import eval_browser

HOSTILE = "<img src=x onerror=alert(1)>"


def _scores(n: int = 4) -> pd.DataFrame:
    rows = []
    for task in ("pronoun", "ioi"):
        for model in ("small", "</script>"):
            for k in range(n):
                rows.append(dict(task=task, model=model, id=f"{task}-{k}", variant="original",
                                 prompt=f"Once {HOSTILE} said </script> & more {k}", answer=" </script>",
                                 wrong=HOSTILE if k % 2 else None, prob=k / n, rank=1 if k % 2 else 3,
                                 correct=bool(k % 2), logit_diff=float("nan") if k % 2 == 0 else 1.5,
                                 tokens=("Once", HOSTILE, " </script>"), losses=(0.5, 3.0, 1.0), answer_start=2))
    return pd.DataFrame(rows)


def test_static_page_has_rows_filters_and_no_live_markup():
    page = eval_browser(_scores(), per_group=2, element_id="evt")._repr_html_()
    assert "<img" not in page and "</script>" not in page and "<script" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;/script&gt;" in page and "&amp; more" in page
    assert page.count('<tr class="r ') == 2 * 2 * 2 * 2  # tasks x models x outcomes x per_group
    for key, n in (("t", 2), ("m", 2), ("c", 2)):
        assert f'id="evt-{key}-{n}"' in page and f"#evt-{key}-{n}:checked ~ table tr.r:not(.{key}{n})" in page
    assert 'title="loss: 3"' in page and "<u>" in page and "<details>" in page
    assert "+1.50" in page and "&#10003;" in page and "&#10007;" in page


def test_interactive_filters(monkeypatch):
    browser = eval_browser(_scores())
    assert "16 items match" in browser.html()
    assert "4 items match" in browser.html(task="ioi", model="small")
    assert "2 items match" in browser.html(task="ioi", model="small", outcome="wrong")
    box = browser.widget()
    task, _ = box.children[0].children
    out = box.children[2]
    task.value = "pronoun"
    assert "8 items match" in out.value and "&lt;/script&gt;" in out.value and "<img" not in out.value


def test_bad_input():
    with pytest.raises(ValueError, match="lack columns"):
        eval_browser(pd.DataFrame({"task": ["x"]}))
    with pytest.raises(ValueError, match="no scored items"):
        eval_browser(_scores().iloc[:0])
    with pytest.raises(ValueError, match="element_id"):
        eval_browser(_scores(), element_id='x" onload="alert(1)')
    with pytest.raises(ValueError, match="per_group"):
        eval_browser(_scores(), per_group=0)
