"""Dictionaries on demand: shipped ones first, else the shipped recipe trained and cached; the cache is
reused, retrains a damaged entry, and never serves a dictionary to a model with other weights."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from mi_widgets.dictionaries.on_demand import cache_folder, dictionary_for, recipe, spec_from_name
from mi_widgets.dictionaries.shipped import shipped_specs
from mi_widgets.models import load_model


def test_every_shipped_name_parses_to_the_spec_it_was_trained_with():
    for spec in shipped_specs(4):
        assert spec_from_name(spec.name) == spec, spec.name
    with pytest.raises(KeyError, match="no dictionary recipe 'attn3'"):
        spec_from_name("attn3")


def test_a_bundled_model_gets_its_shipped_dictionary():
    model = load_model("stories-gelu-4l")
    sae = dictionary_for(model, "resid2", smoke=True)
    assert "on_demand" not in sae.meta and sae.cfg.model == "stories-gelu-4l" and sae.cfg.width == 2048


def test_trained_once_then_reused_damage_retrains_and_new_weights_miss(tiny_model, tmp_path, recwarn):
    first = dictionary_for(tiny_model, "resid1", smoke=True, cache_dir=tmp_path, progress=False)
    assert first.meta["on_demand"]["trained_now"] and first.cfg.width == 2048 * 32 // 128  # scaled with d_model
    again = dictionary_for(tiny_model, "resid1", smoke=True, cache_dir=tmp_path, progress=False)
    assert not again.meta["on_demand"]["trained_now"]
    torch.testing.assert_close(again.W_dec, first.W_dec)
    # A damaged entry (a flipped byte in the weights) is retrained, with a warning, never used.
    weights = cache_folder(tiny_model, "resid1", recipe(tiny_model, "resid1", True), tmp_path) / "dictionary.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    repaired = dictionary_for(tiny_model, "resid1", smoke=True, cache_dir=tmp_path, progress=False)
    assert repaired.meta["on_demand"]["trained_now"] and any("damaged" in str(w.message) for w in recwarn)
    torch.testing.assert_close(repaired.W_dec, first.W_dec)  # the same recipe and seed: the same dictionary
    assert not dictionary_for(tiny_model, "resid1", smoke=True, cache_dir=tmp_path, progress=False
                              ).meta["on_demand"]["trained_now"]  # the repaired entry replaced the damaged one
    # Other weights under the same name: another cache entry.
    changed = copy.deepcopy(tiny_model)
    with torch.no_grad():
        changed.blocks[0].attn.W_Q += 0.01
    other = dictionary_for(changed, "resid1", smoke=True, cache_dir=tmp_path, progress=False)
    assert other.meta["on_demand"]["trained_now"] and other.meta["on_demand"]["folder"] != first.meta["on_demand"]["folder"]


def test_recipes_that_do_not_fit_the_model_are_clear_errors(tiny_model, tmp_path):
    from conftest import make_tiny_model

    with pytest.raises(ValueError, match="has 2 layers .* no layer 5"):
        dictionary_for(tiny_model, "resid5", smoke=True, cache_dir=tmp_path)
    attn_only = make_tiny_model(tmp_path / "attn", attn_only=True)
    with pytest.raises(ValueError, match="no hook point 'blocks.0.ln2.hook_normalized'"):
        dictionary_for(attn_only, "mlp0-tc", smoke=True, cache_dir=tmp_path)


def test_a_shipped_dictionary_on_a_model_of_another_width_is_a_clear_error(tiny_model, tiny_tokens):
    """stories-gelu-4l's resid1 reads 128 dimensions; the tiny model has 32: say so, and what to use instead."""
    from mi_widgets.dictionaries.metrics import splice_stats
    from mi_widgets.dictionaries.shipped import load_dictionary

    with pytest.raises(ValueError, match="reads 128-wide activations .* this model's are 32 wide: mw.dictionary_for"):
        splice_stats(tiny_model, load_dictionary("resid1"), tiny_tokens[:, :8])


def test_dictionaries_on_demand_train_on_the_model_s_device(tiny_model, tmp_path, monkeypatch):
    """DEVICE reaches dictionary training: the recipe trains where the model is (a GPU when DEVICE is one)."""
    import mi_widgets.dictionaries.on_demand as on_demand

    seen = {}
    real_fit = on_demand.fit

    def fit(*args, **kwargs):
        seen["device"] = kwargs["device"]
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(on_demand, "fit", fit)
    sae = dictionary_for(tiny_model, "resid0", smoke=True, cache_dir=tmp_path, progress=False)
    assert seen["device"] == tiny_model.cfg.device and sae.W_dec.device.type == "cpu"


def test_a_second_kernel_finishing_the_same_entry_leaves_the_first_whole(tiny_model, tmp_path):
    """Two notebooks that train the same entry at once: the one that finishes second keeps the first's copy,
    and no staging folder is left beside it (entries are renamed into place whole)."""
    from mi_widgets.dictionaries.on_demand import _write_entry

    first = dictionary_for(tiny_model, "resid1", smoke=True, cache_dir=tmp_path, progress=False)
    folder = Path(first.meta["on_demand"]["folder"])
    late = copy.deepcopy(first)
    with torch.no_grad():
        late.W_dec.mul_(2)
    _write_entry(folder, late, {"metrics": {}, "recipe": first.meta["on_demand"]["recipe"]})
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    again = dictionary_for(tiny_model, "resid1", smoke=True, cache_dir=tmp_path, progress=False)
    assert not again.meta["on_demand"]["trained_now"]
    torch.testing.assert_close(again.W_dec, first.W_dec)
