"""The GPT-2 export: transformers and nnsight's LanguageModel give the HookedTransformer's logits."""

from __future__ import annotations

import shutil

import pytest
import torch

from mi_widgets import load_model
from mi_widgets.organisms.hf_export import export_hf, gpt2_state_dict


@pytest.fixture(scope="module")
def exported(tiny_models_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    shutil.copytree(tiny_models_dir / "tiny", root / "tiny")
    return root, export_hf("tiny", models_dir=root)


def test_transformers_logits_equal_hooked_transformer(exported):
    from transformers import AutoModelForCausalLM

    root, folder = exported
    model = load_model("tiny", models_dir=root)
    hf = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    tokens = model.to_tokens(["Once upon a time, a cat", "a red ball"])
    torch.testing.assert_close(hf(tokens).logits, model(tokens), rtol=1e-4, atol=1e-4)


def test_nnsight_language_model_loads_the_export(exported):
    from nnsight import LanguageModel

    root, folder = exported
    model = load_model("tiny", models_dir=root)
    lm = LanguageModel(str(folder), device_map="cpu", dispatch=True)
    tokens = model.to_tokens("Once upon a time")
    with lm.trace(tokens):
        logits = lm.output.logits.save()
    torch.testing.assert_close(logits, model(tokens), rtol=1e-4, atol=1e-4)


def test_export_is_reused_unless_overwritten(exported):
    root, folder = exported
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert export_hf("tiny", models_dir=root) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_nonzero_unembedding_bias_is_refused(tiny_models_dir):
    model = load_model("tiny", models_dir=tiny_models_dir)
    with torch.no_grad():
        model.unembed.b_U[0] = 1.0
    with pytest.raises(ValueError, match="b_U"):
        gpt2_state_dict(model)
