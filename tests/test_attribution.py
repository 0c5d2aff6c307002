"""Direct logit attribution: the parts add up to the model's logit, agree with TransformerLens's own split,
and bad input is refused clearly."""

import copy

import pytest
import torch

from mi_widgets.attribution import component_outputs, direct_logit_attribution

PROMPT = "Once upon a time, a cat named Bolin found a red ball."


@pytest.fixture(scope="module")
def model(tiny_model):
    """The tiny model with a final LayerNorm that is not the identity (random weight and bias), so a
    split that forgot either would not add up."""
    m = copy.deepcopy(tiny_model)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        m.ln_final.w.copy_(1 + 0.5 * torch.randn(m.cfg.d_model, generator=g))
        m.ln_final.b.copy_(0.3 * torch.randn(m.cfg.d_model, generator=g))
    return m


def test_parts_add_up_to_the_residual_stream_and_the_logit(model):
    _, cache = model.run_with_cache(PROMPT)
    names, parts = component_outputs(model, cache, pos=5)
    assert len(names) == len(parts) == 2 + model.cfg.n_layers * (model.cfg.n_heads + 2)
    torch.testing.assert_close(parts.sum(0), cache["blocks.1.hook_resid_post"][0, 5], rtol=1e-4, atol=1e-4)
    a = direct_logit_attribution(model, PROMPT, answer=5, wrong=9)
    assert a.check_sum < 1e-4 and abs(a.logit) > 1e-3


def test_it_agrees_with_transformer_lens_per_layer(model):
    """TransformerLens's decompose_resid + apply_ln_to_stack gives per-layer terms: ours, summed by layer, match."""
    tokens = model.to_tokens(PROMPT)
    a = direct_logit_attribution(model, tokens, answer=7)
    _, cache = model.run_with_cache(tokens)
    stack, labels = cache.decompose_resid(layer=-1, pos_slice=-1, return_labels=True)
    theirs = (cache.apply_ln_to_stack(stack, layer=-1, pos_slice=-1)[:, 0] * model.ln_final.w) @ model.W_U[:, 7]
    ours = dict(zip(a.names, a.values))
    for label, value in zip(labels, theirs.tolist()):
        if label in ("embed", "pos_embed"):
            mine = ours[label]
        elif label.endswith("_attn_out"):
            layer = int(label.split("_")[0])
            mine = sum(v for n, v in ours.items() if n.startswith(f"L{layer}H") or n == f"L{layer} attn bias")
        else:
            mine = ours[f"L{int(label.split('_')[0])} MLP"]
        assert mine == pytest.approx(value, abs=1e-4), label


def test_an_attention_only_model_has_no_mlp_rows(tmp_path):
    from conftest import make_tiny_model

    m = make_tiny_model(tmp_path, attn_only=True)
    a = direct_logit_attribution(m, PROMPT, answer=3)
    assert not any(n.endswith("MLP") for n in a.names) and a.check_sum < 1e-4


def test_bad_input_is_refused(model):
    with pytest.raises(ValueError, match="is 2 tokens"):
        direct_logit_attribution(model, PROMPT, answer=" Bolin found")
    with pytest.raises(ValueError, match="empty"):
        direct_logit_attribution(model, "  ", answer=3)
    with pytest.raises(ValueError, match="one prompt"):
        direct_logit_attribution(model, model.to_tokens([PROMPT, PROMPT]), answer=3)
    with pytest.raises(ValueError, match="outside the prompt"):
        direct_logit_attribution(model, PROMPT, answer=3, pos=99)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        direct_logit_attribution(model, PROMPT, answer=10**6)
