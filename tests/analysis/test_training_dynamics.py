"""How induction forms: the recipe trains and keeps real copies of its weights; the curve statistics mean what they say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mi_widgets.analysis.training_dynamics import (CURVES, InductionRecipe, change_correlation, dynamics,
                                                   fastest_change_step, icl_score, train_with_checkpoints)
from mi_widgets.organisms.corpus import load_bundled_tokenizer, story_rows, story_tokens

TINY = InductionRecipe(d_model=16, n_heads=2, n_ctx=32, story_rows=2, repeat_rows=2, steps=6, every=3, warmup_steps=2)


@pytest.fixture(scope="module")
def tiny_runs():
    tokenizer = load_bundled_tokenizer()
    tokens = story_tokens(tokenizer, 5_000, seed=0, split="train")
    return tokenizer, [train_with_checkpoints(tokenizer, tokens, TINY, seed) for seed in (0, 0, 1)]


def test_checkpoints_are_copies_taken_every_few_steps(tiny_runs):
    _, (run, _, _) = tiny_runs
    assert sorted(run.checkpoints) == [0, 3, 6]
    name = "embed.W_E"
    first, mid, last = (run.checkpoints[s][name] for s in (0, 3, 6))
    # A state_dict without copying would alias the live weights: every checkpoint would equal the last.
    assert not torch.equal(first, mid) and not torch.equal(mid, last)
    assert torch.equal(last, run.model.state_dict()[name])


def test_same_seed_same_checkpoints_other_seed_other_weights(tiny_runs):
    _, (a, b, c) = tiny_runs
    for step in a.checkpoints:
        for name, value in a.checkpoints[step].items():
            assert torch.equal(value, b.checkpoints[step][name]), (step, name)
    assert not torch.equal(a.checkpoints[0]["embed.W_E"], c.checkpoints[0]["embed.W_E"])


def test_dynamics_measures_every_checkpoint(tiny_runs):
    tokenizer, (run, _, _) = tiny_runs
    frame = dynamics(run.model, run.checkpoints, story_rows(tokenizer, 4, TINY.n_ctx, seed=1), n_seqs=2)
    assert frame.step.tolist() == [0, 3, 6]
    assert set(CURVES) | {"story loss"} <= set(frame.columns)
    assert np.isfinite(frame[list(CURVES)].to_numpy()).all()
    # The model is left holding the last checkpoint.
    assert torch.equal(run.model.state_dict()["embed.W_E"], run.checkpoints[6]["embed.W_E"])
    with pytest.raises(ValueError, match="no checkpoints"):
        dynamics(run.model, {}, story_rows(tokenizer, 4, TINY.n_ctx, seed=1))


def test_icl_score_is_late_minus_early_with_the_right_offset():
    losses = torch.zeros(3, 63)
    losses[:, 5] = 2.0  # predicting token 6
    losses[:, 59] = 0.5  # predicting token 60
    assert icl_score(losses, 6, 60, width=0) == pytest.approx(-1.5)
    assert icl_score(losses, 6, 60, width=2) == pytest.approx((0.5 - 2.0) / 5)
    with pytest.raises(ValueError, match="early < late"):
        icl_score(losses, 60, 6)
    with pytest.raises(ValueError, match="early < late"):
        icl_score(losses, 6, 63)


def test_fastest_change_step_finds_the_rise_and_the_fall():
    steps = np.arange(0, 1000, 25)
    rise = 1 / (1 + np.exp(-(steps - 600) / 15.0)) + 0.5 * np.exp(-steps / 50.0)  # an early fall, then a rise
    assert abs(fastest_change_step(steps, rise, +1) - 600) <= 25
    assert fastest_change_step(steps, -rise, -1) == fastest_change_step(steps, rise, +1)
    assert fastest_change_step(steps, rise, -1) <= 50  # the early fall, not the rise
    with pytest.raises(ValueError, match="direction"):
        fastest_change_step(steps, rise, 0)
    with pytest.raises(ValueError, match="checkpoints"):
        fastest_change_step(steps[:2], rise[:2], 1)


def test_change_correlation_tells_together_from_apart():
    steps = np.arange(0, 1000, 25)
    rng = np.random.default_rng(0)

    def sigmoid(at):
        return 1 / (1 + np.exp(-(steps - at) / 20.0)) + 0.01 * rng.standard_normal(len(steps))

    frame = pd.DataFrame({"step": steps, "a": sigmoid(500), "b": -sigmoid(500), "late": sigmoid(650)})
    assert change_correlation(frame, "a", "b", 500, 150) < -0.9
    assert change_correlation(frame, "a", "late", 500, 150) < 0.5
    # Taking the late curve's changes 150 steps later lines it up again (the lag the null uses, reversed).
    assert change_correlation(frame, "a", "late", 500, 150, lag=150) > 0.9
    flat = frame.assign(flat=1.0)
    assert np.isnan(change_correlation(flat, "a", "flat", 500, 150))


def test_a_device_torch_cannot_use_is_a_clear_error():
    from mi_widgets.analysis.training_dynamics import small_attn_only
    from mi_widgets.models import ModelLoadError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ModelLoadError, match="CUDA"):
        small_attn_only(load_bundled_tokenizer(), TINY, seed=0, device="cuda")


def test_recipe_refuses_nonsense():
    with pytest.raises(ValueError, match="every"):
        InductionRecipe(steps=10, every=20)
    with pytest.raises(ValueError, match="multiple"):
        InductionRecipe(d_model=30, n_heads=4)
