"""The dictionaries shipped for the 4-layer model: all present, carded, and as good as their cards say."""

from __future__ import annotations

import pytest
import torch

from mi_widgets import bundled_dictionaries, harvest_activations, load_dictionary, load_model
from mi_widgets.dictionaries.metrics import reconstruction_stats
from mi_widgets.dictionaries.shipped import MODEL, dictionaries_dir, shipped_specs
from mi_widgets.organisms.corpus import story_rows

N_LAYERS = 4


def test_every_shipped_dictionary_is_there():
    assert {s.name for s in shipped_specs(N_LAYERS)} <= set(bundled_dictionaries(MODEL))
    assert (dictionaries_dir(MODEL) / "frontier.json").exists()


@pytest.fixture(scope="module")
def held_out():
    model = load_model(MODEL)
    rows = story_rows(model.tokenizer, 16, model.cfg.n_ctx, seed=99, split="val")
    hooks = sorted({h for s in shipped_specs(N_LAYERS) for h in (s.hook_in, s.hook_out) if h})
    return model, harvest_activations(model, hooks, rows, progress=False)


@pytest.mark.parametrize("name", [s.name for s in shipped_specs(N_LAYERS)])
def test_card_and_recorded_fvu_hold_on_fresh_stories(name, held_out):
    """Recompute FVU on stories the card never saw: it must agree with the recorded number."""
    model, acts = held_out
    sae = load_dictionary(name, MODEL)
    card = (dictionaries_dir(MODEL) / name / "README.md").read_text()
    for part in ("FVU", "L0", "dead latents", "loss increase spliced in", "loss recovered against mean"):
        assert part in card, f"{name}'s card lacks {part}"
    assert sae.cfg.hook_in in model.hook_dict and (not sae.cfg.hook_out or sae.cfg.hook_out in model.hook_dict)
    y = acts[sae.cfg.hook_out] if sae.cfg.hook_out else None
    stats = reconstruction_stats(sae, acts[sae.cfg.hook_in], y)
    recorded = sae.meta["metrics"]
    assert stats.fvu == pytest.approx(recorded["fvu"], abs=0.05), (name, stats.fvu, recorded["fvu"])
    assert stats.l0 == pytest.approx(recorded["l0"], abs=1.0)
    assert recorded["l0"] <= sae.cfg.k  # TopK: never more than k active (structure, not a finding)
    assert recorded["loss_increase"] == pytest.approx(recorded["loss_spliced"] - recorded["loss_clean"])


def test_loading_a_wrong_shape_is_a_clear_error():
    sae = load_dictionary("resid0", MODEL)
    with pytest.raises(ValueError, match="must end in dimension"):
        sae(torch.randn(3, sae.cfg.d_in + 1))
    with pytest.raises(KeyError, match="shipped"):
        load_dictionary("resid9", MODEL)


def test_a_model_without_dictionaries_gets_told_what_ships_and_how_to_train_one():
    with pytest.raises(KeyError) as err:
        load_dictionary("resid2", "stories-attn-1l")
    message = str(err.value)
    assert "no dictionaries are shipped for 'stories-attn-1l'" in message and MODEL in message
    assert "train_dictionary" in message and "make models" not in message
