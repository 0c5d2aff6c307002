"""Reading latents: activations per latent, firing rates, top contexts (and their escaping in HTML)."""

import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.feature_index import active_latents, firing_rates, latent_activations, top_contexts


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


def test_top_contexts_finds_the_planted_maximum(model):
    tokens = model.to_tokens(["Once upon a time, a cat named Bolin found a red ball."] * 3)
    per_row = tokens.shape[1] - 1
    acts = torch.zeros(3 * per_row)
    acts[per_row + 4] = 5.0  # row 1, position 5
    acts[2] = 1.0  # row 0, position 3
    table = top_contexts(model, tokens, acts, n=2, before=3, after=1)
    assert table.activation.tolist() == [5.0, 1.0]
    assert (table.row.tolist(), table.position.tolist()) == ([1, 0], [5, 3])
    assert table.token[0] == model.tokenizer.decode([tokens[1, 5].item()])
    with pytest.raises(ValueError, match="one value per token"):
        top_contexts(model, tokens, acts[:-1])


def test_html_of_contexts_escapes_tokens(model):
    tokens = model.to_tokens(["<img src=x onerror=alert(1)></script>"])
    acts = torch.arange(tokens.shape[1] - 1, dtype=torch.float)
    html = top_contexts(model, tokens, acts, n=3).to_html(escape=True)
    assert "<img" not in html and "</script>" not in html and "&lt;" in html


def test_latent_activations_and_rates():
    sae = Dictionary(DictConfig(d_in=8, width=16, k=2), seed=0)
    x = torch.randn(100, 8)
    chosen = latent_activations(sae, x, [3, 7], batch_size=30)
    torch.testing.assert_close(chosen, sae.encode(x)[:, [3, 7]])
    rates = firing_rates(sae, x, batch_size=30)
    assert rates.sum().item() == pytest.approx((sae.encode(x) > 0).sum().item() / 100)
    with pytest.raises(IndexError, match="out of range"):
        latent_activations(sae, x, [16])


def test_active_latents_equal_the_dense_encoding():
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    for kind in ("topk", "relu"):
        sae = Dictionary(DictConfig(d_in=8, width=32, k=3, kind=kind), seed=1)
        rows, latents, values = active_latents(sae, x, batch_size=7)
        dense = torch.zeros(50, 32)
        dense[rows, latents] = values
        torch.testing.assert_close(dense, sae.encode(x))
        assert (values > 0).all() and (rows.diff() >= 0).all()
