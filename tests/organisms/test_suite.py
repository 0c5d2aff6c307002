"""The shipped model organisms: all present, documented, small, and the same in transformers and nnsight."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from mi_widgets import bundled_models, load_model
from mi_widgets.models import data_dir
from mi_widgets.organisms.hf_export import export_hf
from mi_widgets.organisms.suite import SUITE, VOCAB

CARD_SECTIONS = ("parameters", "tokens seen", "training time", "validation loss", "## Induction",
                 "## Planted capabilities", "## Indirect object identification")


def test_the_whole_suite_is_shipped():
    assert set(SUITE) <= set(bundled_models())


@pytest.mark.parametrize("name", list(SUITE))
def test_model_card_and_files(name):
    folder = data_dir() / "models" / name
    card = (folder / "README.md").read_text()
    missing = [s for s in CARD_SECTIONS if s not in card]
    assert not missing, f"{name}'s card lacks {missing}"
    assert (folder / "train_log.json").exists()
    model = load_model(name)
    assert model.cfg.d_vocab == VOCAB and model.cfg.n_ctx >= 256
    assert model.unembed.b_U.abs().max() == 0, "b_U stays zero so the GPT-2 export is exact"


def test_data_folder_stays_small():
    tracked = [p for p in data_dir().rglob("*") if p.is_file() and "cache" not in p.parts and "hf" not in p.parts]
    size = sum(p.stat().st_size for p in tracked)
    assert size < 60 * 2**20, f"data/ holds {size / 2**20:.1f} MB; the budget is 60 MB"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for name in SUITE:
        shutil.copytree(data_dir() / "models" / name, root / name, ignore=shutil.ignore_patterns("hf"))
        export_hf(name, models_dir=root)
    return root


@pytest.mark.parametrize("name", list(SUITE))
def test_transformers_and_nnsight_give_the_same_logits(name, exported):
    from nnsight import LanguageModel
    from transformers import AutoModelForCausalLM

    model = load_model(name)
    tokens = model.to_tokens(["Once upon a time, there was a little fox named Tobi.", "Tobi went to"])
    expected = model(tokens)
    hf = AutoModelForCausalLM.from_pretrained(exported / name / "hf", local_files_only=True)
    torch.testing.assert_close(hf(tokens).logits, expected, rtol=1e-4, atol=1e-4)
    lm = LanguageModel(str(exported / name / "hf"), device_map="cpu", dispatch=True)
    with lm.trace(tokens):
        logits = lm.output.logits.save()
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
