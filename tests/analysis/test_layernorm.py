"""LayerNorm removal: frozen norms fold exactly into a model without norms, a transcoder moves across a frozen norm
exactly, and the removal run freezes what its schedule says and leaves the original model alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mi_widgets.analysis.layernorm import (RemovalSchedule, across_frozen_norm, average_scales, bos_scales,
                                           check_layernorm, fold_frozen_layernorms, frozen_hooks, layernorm_names,
                                           relative_weight_change, remove_layernorms, scale_ratios)
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.organisms.corpus import RowSampler
from tests.conftest import make_tiny_model


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The tiny model with LayerNorm weights and biases that are not 1 and 0, so that folding them is tested."""
    m = make_tiny_model(tmp_path_factory.mktemp("ln"), seed=3)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith(".w") and "ln" in name:
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith(".b") and "ln" in name:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return m.requires_grad_(False).eval()


@pytest.fixture(scope="module")
def rows():
    rows = torch.randint(1, 250, (8, 20), generator=torch.Generator().manual_seed(0))
    rows[:, 0] = 0
    return rows


def all_scales(model, rows):
    scales: dict[str, float] = {}
    for name in layernorm_names(model):
        scales.update(average_scales(model, rows, [name], frozen=scales))
    return scales


def test_names_come_in_the_papers_order(model, tmp_path):
    assert layernorm_names(model) == ["blocks.0.ln2", "blocks.1.ln2", "blocks.0.ln1", "blocks.1.ln1", "ln_final"]
    attn_only = make_tiny_model(tmp_path / "a", attn_only=True)
    assert layernorm_names(attn_only) == ["blocks.0.ln1", "blocks.1.ln1", "ln_final"]


def test_average_scale_is_the_mean_over_positions_after_bos(model, rows):
    _, cache = model.run_with_cache(rows, names_filter="blocks.1.ln1.hook_scale")
    want = float(cache["blocks.1.ln1.hook_scale"][:, 1:].mean())
    got = average_scales(model, rows, ["blocks.1.ln1"], batch_size=3)["blocks.1.ln1"]
    assert got == pytest.approx(want, rel=1e-5)


def test_a_frozen_norm_divides_by_the_same_number_everywhere(model, rows):
    with model.hooks(fwd_hooks=frozen_hooks({"blocks.0.ln1": 2.5})):
        _, cache = model.run_with_cache(rows, names_filter=["blocks.0.hook_resid_pre", "blocks.0.ln1.hook_normalized"])
    x = cache["blocks.0.hook_resid_pre"]
    want = (x - x.mean(-1, keepdim=True)) / 2.5
    assert torch.allclose(cache["blocks.0.ln1.hook_normalized"], want, atol=1e-5)


def test_folding_is_exact_and_leaves_no_norm(model, rows):
    scales = all_scales(model, rows)
    with model.hooks(fwd_hooks=frozen_hooks(scales)):
        frozen = model(rows)
    plain = fold_frozen_layernorms(model, scales)
    assert plain.cfg.normalization_type is None
    assert not any(".ln" in name or name.startswith("ln_final") for name in plain.state_dict())
    assert torch.allclose(plain(rows), frozen, atol=1e-4)
    # and the frozen model is not the original one: the norms did something
    assert not torch.allclose(model(rows), frozen, atol=1e-2)


def test_folding_needs_every_norm_frozen(model, rows):
    scales = all_scales(model, rows)
    del scales["ln_final"]
    with pytest.raises(ValueError, match="ln_final"):
        fold_frozen_layernorms(model, scales)


def test_a_model_without_layernorm_is_refused_clearly(model, rows):
    plain = fold_frozen_layernorms(model, all_scales(model, rows))
    with pytest.raises(ValueError, match="normalization_type is None"):
        layernorm_names(plain)
    with pytest.raises(ValueError, match="normalization_type"):
        check_layernorm(plain)


def test_a_transcoder_moves_across_a_frozen_norm_exactly(model, rows):
    scales = all_scales(model, rows)
    tc = Dictionary(DictConfig(d_in=32, width=40, k=4, d_out=32, skip=True, hook_in="blocks.1.ln2.hook_normalized",
                               hook_out="blocks.1.hook_mlp_out"), seed=0)
    with torch.no_grad():
        tc.W_skip.normal_(0, 0.1)
        tc.scale_in.fill_(1.7)
    moved = across_frozen_norm(tc, scales, model.cfg.n_layers)
    assert moved.cfg.hook_in == "blocks.1.hook_resid_mid" and tc.cfg.hook_in.endswith("hook_normalized")
    with model.hooks(fwd_hooks=frozen_hooks(scales)):
        _, cache = model.run_with_cache(rows, names_filter=["blocks.1.hook_resid_mid", "blocks.1.ln2.hook_normalized"])
    normalised = cache["blocks.1.ln2.hook_normalized"].reshape(-1, 32)
    resid = cache["blocks.1.hook_resid_mid"].reshape(-1, 32)
    assert torch.allclose(moved(resid), tc(normalised), atol=1e-4)


def test_only_transcoders_on_a_norms_output_move(rows, model):
    sae = Dictionary(DictConfig(d_in=32, width=40, k=4, hook_in="blocks.1.ln2.hook_normalized"), seed=0)
    with pytest.raises(ValueError, match="transcoder"):
        across_frozen_norm(sae, all_scales(model, rows), 2)


def test_removal_freezes_stage_by_stage_and_leaves_the_original_alone(model):
    tokens = np.random.default_rng(0).integers(1, 250, 5_000)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    schedule = RemovalSchedule(steps_between=2, final_steps=3, batch_size=2, repeat_rows=1, lr=1e-3)
    runs = [remove_layernorms(model, RowSampler(tokens, 20, 0, 300, seed=0), schedule, calibration_rows=4,
                              progress=False) for _ in range(2)]
    run = runs[0]
    assert list(run.scales) == layernorm_names(model)
    assert run.log.frozen.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5, 5, 5]
    assert run.tokens == len(run.log) * 3 * 20 and run.teacher_tokens == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(run.model.state_dict().values(), runs[1].model.state_dict().values()))
    change = relative_weight_change(before, run.model.state_dict())
    assert (change > 0).all() and "blocks.0.attn.W_Q" in change.index and "blocks.0.attn.b_V" not in change.index


def test_the_control_trains_the_same_steps_without_freezing(model):
    tokens = np.random.default_rng(0).integers(1, 250, 5_000)
    schedule = RemovalSchedule(groups=[["ln_final"]], steps_between=2, final_steps=1, batch_size=2, repeat_rows=0,
                               distill=True)
    run = remove_layernorms(model, RowSampler(tokens, 20, 0, 300, seed=0), schedule, freeze=False, progress=False)
    assert run.scales == {} and len(run.log) == 3 and run.teacher_tokens == run.tokens
    with pytest.raises(ValueError, match="unknown LayerNorms"):
        remove_layernorms(model, RowSampler(tokens, 20, 0, 300), RemovalSchedule(groups=[["blocks.9.ln1"]]))


def test_relative_weight_change_and_scale_ratios_by_hand(model, rows):
    before = {"a": torch.ones(2, 2), "bias": torch.ones(2)}
    after = {"a": torch.ones(2, 2) * 1.5, "bias": torch.zeros(2)}
    assert relative_weight_change(before, after).to_dict() == {"a": pytest.approx(0.5)}
    scale = average_scales(model, rows, ["blocks.0.ln1"])["blocks.0.ln1"]
    ratios = scale_ratios(model, rows, {"blocks.0.ln1": scale})["blocks.0.ln1"]
    assert ratios.shape == rows.shape and float(ratios[:, 1:].mean()) == pytest.approx(1.0, rel=1e-5)


def test_bos_treated_apart_keeps_position_zero_exact(model, rows):
    scales = all_scales(model, rows)
    bos = bos_scales(model, list(scales))
    _, cache = model.run_with_cache(rows, names_filter="blocks.1.ln1.hook_scale")
    assert bos["blocks.1.ln1"] == pytest.approx(float(cache["blocks.1.ln1.hook_scale"][3, 0, 0]), rel=1e-5)
    with model.hooks(fwd_hooks=frozen_hooks(scales, bos=bos)):
        frozen = model(rows)
    assert torch.allclose(frozen[:, 0], model(rows)[:, 0], atol=1e-4)  # position 0 sees only itself
    assert not torch.allclose(frozen[:, 1:], model(rows)[:, 1:], atol=1e-2)


def test_the_control_sees_the_same_rows_as_the_removal(model):
    tokens = np.random.default_rng(0).integers(1, 250, 5_000)
    seen = {}
    for freeze in (True, False):
        sampler = RowSampler(tokens, 20, 0, 300, seed=0)
        drawn = []
        batch = sampler.batch
        sampler.batch = lambda *a, **k: drawn.append(batch(*a, **k)) or drawn[-1]
        remove_layernorms(model, sampler, RemovalSchedule(steps_between=1, final_steps=1, batch_size=2, repeat_rows=0),
                          calibration_rows=2, freeze=freeze, progress=False)
        seen[freeze] = drawn
    assert len(seen[True]) == len(seen[False]) and all(torch.equal(a, b) for a, b in zip(seen[True], seen[False]))
