"""Token view and feature dashboard: static rendering shows the content, and token text stays text."""

import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.feature_index import FeatureIndex
from mi_widgets.widgets import feature_dashboard, token_view

HOSTILE = ["<img src=x onerror=alert(1)>", "</script>", "a&b", "\n"]


def test_token_view_escapes_and_shows_values():
    html = token_view(HOSTILE, [1.0, -2.0, 0.5, 0.0], label="loss")._repr_html_()
    assert "<img" not in html and "</script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;/script&gt;" in html and "a&amp;b" in html
    assert 'title="loss: -2"' in html and "\u21b5" in html
    with pytest.raises(ValueError, match="2 tokens but 1 values"):
        token_view(["a", "b"], [1.0])
    with pytest.raises(ValueError, match="at least one token"):
        token_view([], [])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model = make_tiny_model(tmp_path_factory.mktemp("tiny"))
    tokens = model.to_tokens(["Once upon a time, a cat named Bolin found a red ball."] * 4)
    _, cache = model.run_with_cache(tokens)
    x = cache["blocks.1.hook_resid_post"][:, 1:].reshape(-1, model.cfg.d_model)
    sae = Dictionary(DictConfig(d_in=model.cfg.d_model, width=64, k=4, hook_in="blocks.1.hook_resid_post"), seed=0)
    return model, tokens, x, sae, FeatureIndex(sae, x, tokens)


def test_index_matches_dense_encoding(setup):
    _, _, x, sae, index = setup
    f = sae.encode(x)
    for latent in (0, 5, 63):
        torch.testing.assert_close(index.dense(latent), f[:, latent])
        assert index.density(latent) == pytest.approx((f[:, latent] > 0).float().mean().item())
    with pytest.raises(IndexError, match="out of range"):
        index.dense(64)


def test_dashboard_shows_contexts_histogram_and_logits(setup):
    model, tokens, _, _, index = setup
    latent = int(index.densities().argmax())
    html = feature_dashboard(model, index, latent)._repr_html_()
    assert f"Latent {latent}" in html and "<svg" in html and "raises" in html and "lowers" in html
    assert html.count("<tr>") == min(8, int((index.dense(latent) > 0).sum()))
    dead = [l for l in range(64) if index.density(l) == 0]
    if dead:
        assert "never active" in feature_dashboard(model, index, dead[0])._repr_html_()


def test_dashboard_escapes_hostile_tokens(setup):
    model, _, _, sae, _ = setup
    tokens = model.to_tokens(["<img src=x onerror=alert(1)></script>"] * 2)
    _, cache = model.run_with_cache(tokens)
    x = cache["blocks.1.hook_resid_post"][:, 1:].reshape(-1, model.cfg.d_model)
    index = FeatureIndex(sae, x, tokens)
    for latent in range(sae.cfg.width):
        html = feature_dashboard(model, index, latent)._repr_html_()
        assert "<img" not in html and "</script>" not in html


def test_dashboard_widget_redraws(setup):
    model, _, _, _, index = setup
    box = feature_dashboard(model, index, 0).widget()
    picker, out = box.children
    picker.value = 3
    assert "Latent 3" in out.value


def test_token_view_series_static_and_picker():
    view = token_view(["a", "<b>"], {"loss 1L": [1.0, 2.0], "loss 4L": [0.5, -1.0]})
    static = view._repr_html_()
    assert static.count('class="mi-tokens"') == 2 and "colour: loss 4L" in static and "&lt;b&gt;" in static
    box = view.widget()
    picker, out = box.children
    assert "loss 1L: 1" in out.value
    picker.value = "loss 4L"  # what choosing in the dropdown does
    assert 'title="loss 4L: -1"' in out.value and "<b>" not in out.value
    with pytest.raises(ValueError, match="2 tokens but 1 values"):
        token_view(["a", "b"], {"ok": [1.0, 2.0], "short": [1.0]})
