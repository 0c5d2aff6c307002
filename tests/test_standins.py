"""Hub names load through TransformerLens's real from_pretrained path, offline, from stand-ins made at test
time (tests/standins.py): published configurations, random weights, no bundled-model shortcut."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mi_widgets as mw

LOAD = """
import json, sys, mi_widgets as mw
from mi_widgets.analysis import lens
from mi_widgets.organisms.corpus import story_rows
from mi_widgets.organisms.hf_export import language_model
out = {}
for name in sys.argv[1:]:
    try:
        m = mw.load_model(name)
        lens_gap = float((lens.nnsight_lens_kl(language_model(name), rows := story_rows(m.tokenizer, 2, 64, seed=0))
                          - lens.lens_kl(m, rows)[1:]).abs().max())
        out[name] = {"lens_gap": lens_gap, "n_layers": m.cfg.n_layers, "d_model": m.cfg.d_model, "n_heads": m.cfg.n_heads,
                     "d_vocab": m.cfg.d_vocab, "attn_types": m.cfg.attn_types,
                     "architecture": m.cfg.original_architecture, "bundled": hasattr(m, "bundled_name"),
                     "tokens": m.to_str_tokens("Once upon a time")}
    except mw.ModelLoadError as e:
        out[name] = {"error": str(e)}
print("RESULT" + json.dumps(out))
"""


def load_in_subprocess(hf_home: Path, *names: str) -> dict:
    """huggingface_hub reads HF_HOME when imported, so a fresh interpreter is the honest way to point it there."""
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", LOAD, *names], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.split("RESULT", 1)[1])


@pytest.fixture(scope="module")
def loaded(hf_home) -> dict:
    """The two stand-ins and two names the cache lacks, loaded in one fresh interpreter."""
    return load_in_subprocess(hf_home, "tiny-stories-1M", "gpt2", "gpt2-medium", "no-such-model")


def test_hub_names_load_from_the_local_cache_through_from_pretrained(loaded):
    neo, gpt2 = loaded["tiny-stories-1M"], loaded["gpt2"]
    # TinyStories-1M's published shape: 8 layers of width 64, 16 heads, global and local attention alternating.
    assert (neo["n_layers"], neo["d_model"], neo["n_heads"], neo["d_vocab"]) == (8, 64, 16, 50_257), neo
    assert neo["attn_types"] == ["global", "local"] * 4 and neo["architecture"] == "GPTNeoForCausalLM"
    assert gpt2["architecture"] == "GPT2LMHeadModel" and gpt2["d_vocab"] == 4_096  # shrunk, as its config says
    assert not neo["bundled"] and not gpt2["bundled"], "a hub name must not be served by the bundled loader"
    assert neo["tokens"][0] == "<|endoftext|>" and "".join(neo["tokens"][1:]) == "Once upon a time"
    # nnsight's model reads the same cache: its logit lens (Hugging Face modules, norms unfolded)
    # equals TransformerLens's (norms folded into the weights) on both architectures.
    assert neo["lens_gap"] < 1e-4 and gpt2["lens_gap"] < 1e-4, (neo["lens_gap"], gpt2["lens_gap"])


def test_a_hub_name_missing_from_the_cache_is_a_clear_error(loaded):
    assert "not in the local Hugging Face cache" in loaded["gpt2-medium"]["error"]
    assert "unknown model 'no-such-model'" in loaded["no-such-model"]["error"]


def test_the_device_is_honoured_and_a_missing_gpu_is_one_clear_error():
    model = mw.load_model("stories-attn-1l", device="cpu")
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    if not torch.cuda.is_available():
        with pytest.raises(mw.ModelLoadError, match="asks for a CUDA GPU, but torch sees none"):
            mw.load_model("stories-attn-1l", device="cuda")
    with pytest.raises(mw.ModelLoadError, match="is not a torch device"):
        mw.load_model("stories-attn-1l", device="gpu")
