"""mi_widgets.models: bundled loading, clear errors, the offline hub path, and nnsight on the same weights."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch

from mi_widgets import ModelLoadError, bundled_models, load_model
from mi_widgets import models as models_module
from mi_widgets import to_nnsight


@pytest.fixture
def model_copy(tiny_models_dir, tmp_path):
    """A private copy of the tiny bundled model that a test may damage."""
    root = tmp_path / "models"
    shutil.copytree(tiny_models_dir, root)
    return root


def test_bundled_model_round_trips(tiny_models_dir):
    model = load_model("tiny", models_dir=tiny_models_dir)
    again = load_model("tiny", models_dir=tiny_models_dir)
    tokens = model.to_tokens("Once upon a time, a cat")
    assert tokens[0, 0].item() == model.tokenizer.bos_token_id, "bundled tokenizers prepend BOS"
    torch.testing.assert_close(model(tokens), again(tokens), rtol=0, atol=0)
    assert bundled_models(tiny_models_dir) == ["tiny"]


@pytest.mark.parametrize("name", ["", "   ", None])
def test_empty_name_is_refused(name, tiny_models_dir):
    with pytest.raises(ModelLoadError, match="non-empty"):
        load_model(name, models_dir=tiny_models_dir)


def test_unknown_name_lists_bundled_models(tiny_models_dir):
    with pytest.raises(ModelLoadError, match=r"unknown model 'no-such-model'.*tiny"):
        load_model("no-such-model", models_dir=tiny_models_dir)


def test_hub_name_offline_fails_fast_with_listing(tiny_models_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"(?i)tinystories-1M.*Bundled models that work offline: tiny"):
        load_model("tiny-stories-1M", models_dir=tiny_models_dir)
    assert time.perf_counter() - start < 60, "offline failure must not wait on network retries"


def test_hub_name_unreachable_hub_fails_with_listing(tiny_models_dir, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(models_module, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ModelLoadError, match=r"cannot be reached.*tiny"):
        load_model("gpt2", models_dir=tiny_models_dir)


def test_hub_probe_reports_unreachable_without_network(monkeypatch, no_network):
    assert models_module._hub_reachable(timeout=1.0) is False
    no_network.clear()  # the guard refused the probe, which is the point of this test


def test_missing_weights(model_copy):
    (model_copy / "tiny" / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_model("tiny", models_dir=model_copy)


def test_truncated_weights_fail_the_checksum(model_copy):
    path = model_copy / "tiny" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match="checksum"):
        load_model("tiny", models_dir=model_copy)


def _edit_config(root, **changes):
    path = root / "tiny" / "mi_config.json"
    config = json.loads(path.read_text())
    for key, value in changes.items():
        if key in config["architecture"]:
            config["architecture"][key] = value
        else:
            config[key] = value
    path.write_text(json.dumps(config))


def test_garbage_weights_without_checksum(model_copy):
    _edit_config(model_copy, weights_sha256=None)
    (model_copy / "tiny" / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="corrupt or not safetensors"):
        load_model("tiny", models_dir=model_copy)


def test_config_weights_mismatch(model_copy):
    _edit_config(model_copy, d_model=48, d_head=12)
    with pytest.raises(ModelLoadError, match=r"do not fit its config.*config says"):
        load_model("tiny", models_dir=model_copy)


def test_config_that_is_not_json(model_copy):
    (model_copy / "tiny" / "mi_config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not readable JSON"):
        load_model("tiny", models_dir=model_copy)


def test_nnsight_read_and_patch_equal_transformer_lens(tiny_models_dir):
    model = load_model("tiny", models_dir=tiny_models_dir)
    tokens = model.to_tokens(["Once upon a time", "a cat named Bolin"])
    logits, cache = model.run_with_cache(tokens)
    patched_ref = model.run_with_hooks(
        tokens, fwd_hooks=[("blocks.1.hook_attn_out", lambda x, hook: torch.zeros_like(x))]
    )
    traced = to_nnsight(model)
    with traced.trace(tokens):
        resid = traced.blocks[0].hook_resid_post.output.save()
    with traced.trace(tokens):
        traced.blocks[1].hook_attn_out.output[:] = 0
        patched = traced.output.save()
    torch.testing.assert_close(resid, cache["blocks.0.hook_resid_post"], rtol=0, atol=0)
    torch.testing.assert_close(patched, patched_ref, rtol=0, atol=0)
    assert not torch.allclose(patched, logits), "the patch must change the output"
