"""Logit lens: the last reading is the model's own prediction; the view shows it escaped."""

import pytest
import torch

from conftest import make_tiny_model
from mi_widgets.lens import logit_lens
from mi_widgets.widgets import logit_lens_view


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("norm", ["recompute", "frozen"])
def test_last_layer_reading_is_the_model_output(model, norm):
    tokens = model.to_tokens("Once upon a time, a cat named Bolin")[0]
    probs = logit_lens(model, tokens, norm=norm)
    assert probs.shape == (model.cfg.n_layers + 1, len(tokens), model.cfg.d_vocab)
    torch.testing.assert_close(probs[-1], model(tokens[None])[0].softmax(-1), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:2]))


def test_frozen_and_recomputed_differ_before_the_last_layer(model):
    tokens = model.to_tokens("Once upon a time, a cat named Bolin")[0]
    assert not torch.allclose(logit_lens(model, tokens, "frozen")[0], logit_lens(model, tokens, "recompute")[0])


def test_bad_input(model):
    with pytest.raises(ValueError, match="norm must be"):
        logit_lens(model, model.to_tokens("a")[0], norm="tuned")
    with pytest.raises(ValueError, match="one non-empty row"):
        logit_lens(model, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="non-empty prompt"):
        logit_lens_view(model, "")


def test_view_escapes_tokens_and_has_every_layer(model):
    html = logit_lens_view(model, "<img src=x onerror=alert(1)></script>")._repr_html_()
    assert "<img" not in html and "</script>" not in html and "&lt;" in html
    assert html.count("<tr>") == model.cfg.n_layers + 2  # header + embed + one per block
    box = logit_lens_view(model, "a cat").widget()
    box.children[1].value = "frozen"
    assert "final norm: frozen" in box.children[2].value
