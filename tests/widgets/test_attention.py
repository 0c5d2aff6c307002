"""The attention view: offline HTML, shape checks, and token text that stays text."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.widgets import attention_by_layer, attention_view
from mi_widgets.widgets.attention import script_json

HOSTILE = ["<img src=x onerror=alert(1)>", "</script><script>alert(2)</script>", "&amp;", '"quote"']


def test_html_is_offline_and_deterministic_with_an_id():
    view = attention_view(["a", "b"], torch.eye(2)[None], element_id="fixed")
    html = view._repr_html_()
    assert html == attention_view(["a", "b"], torch.eye(2)[None], element_id="fixed")._repr_html_()
    assert 'id="fixed"' in html and 'CircuitsVis.render("fixed"' in html
    assert not re.search(r"(src|href)=[\"']?https?://", html), "no external resource may be referenced"


def test_hostile_tokens_cannot_close_the_script():
    view = attention_view(HOSTILE, torch.ones(1, 4, 4) / 4, element_id="x")
    html = view._repr_html_()
    props = html.split('CircuitsVis.AttentionHeads, ')[1].rsplit(");", 1)[0]
    assert "<" not in props and ">" not in props
    assert json.loads(props)["tokens"] == HOSTILE, "the escaped JSON decodes to the same token text"
    assert html.count("</script>") == 1, "only the view's own script element may close"


def test_script_json_round_trips():
    assert json.loads(script_json({"t": HOSTILE})) == {"t": HOSTILE}


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"pattern must be \[n_heads, 3, 3\]"):
        attention_view(["a", "b", "c"], torch.ones(2, 2))
    with pytest.raises(ValueError, match="head names"):
        attention_view(["a"], torch.ones(2, 1, 1), head_names=["only one"])


def test_attention_by_layer_draws_the_chosen_layer_and_checks_input(tmp_path):
    model = make_tiny_model(tmp_path)
    view = attention_by_layer(model, "Once upon a time", layer=1)
    assert view.patterns.shape[:2] == (model.cfg.n_layers, model.cfg.n_heads)
    html = view._repr_html_()
    assert '"L1H0"' in html and '"L0H0"' not in html and 'class="mi-attention"' in html
    with pytest.raises(ValueError, match="layer must be in"):
        attention_by_layer(model, "Once upon a time", layer=model.cfg.n_layers)
    with pytest.raises(ValueError, match="non-empty prompt"):
        attention_by_layer(model, "")
