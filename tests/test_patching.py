"""mi_widgets.patching: a patch at one position equals a hand-made hook, and bad input gets a clear error."""

import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.patching import (ablate_heads, attribution_patch, every_position, head_means, logit_diff,
                                 logit_diff_metric, patch, patch_scan, path_patch)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tok"))


def test_patching_every_position_gives_the_clean_run_and_one_position_moves_only_later_ones(model):
    clean, corrupt = torch.tensor([[1, 5, 9, 4, 7]]), torch.tensor([[1, 6, 9, 4, 7]])
    hook = "blocks.0.hook_resid_pre"
    at_1 = patch(model, clean, corrupt, hook, 1)
    torch.testing.assert_close(at_1, model(clean), atol=1e-5, rtol=1e-5)  # the only differing position
    at_3 = patch(model, clean, corrupt, hook, 3)
    torch.testing.assert_close(at_3[:, :3], model(corrupt)[:, :3])  # earlier positions cannot see a later patch
    with pytest.raises(ValueError, match="same shape"):
        patch(model, clean, corrupt[:, :4], hook, 1)
    with pytest.raises(ValueError, match="no hook point"):
        patch(model, clean, corrupt, "blocks.9.hook_resid_pre", 1)
    with pytest.raises(ValueError, match="outside"):
        patch(model, clean, corrupt, hook, 5)


def _pair(model, batch: int = 3, length: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(1, model.cfg.d_vocab, (batch, length), generator=g)
    corrupt = clean.clone()
    corrupt[:, 2] = torch.randint(1, model.cfg.d_vocab, (batch,), generator=g)
    answer, wrong = torch.tensor([3] * batch), torch.tensor([4] * batch)
    with torch.no_grad():
        metric = logit_diff_metric(answer, wrong, float(logit_diff(model(clean), answer, wrong).mean()),
                                   float(logit_diff(model(corrupt), answer, wrong).mean()))
    return clean, corrupt, metric


def test_patch_scan_is_the_metric_of_each_single_patch_and_denoising_everything_gives_one(model):
    clean, corrupt, metric = _pair(model)
    hooks = ["blocks.0.attn.hook_z", "blocks.1.attn.hook_z"]
    scan = patch_scan(model, clean, corrupt, metric, hooks, positions=every_position(clean), per_head=True,
                      progress=False)
    assert scan.shape == (2, 6, model.cfg.n_heads)
    one = float(metric(patch(model, clean, corrupt, hooks[1], pos=4, head=1)))
    assert scan[1, 4, 1].item() == pytest.approx(one, abs=1e-6)
    assert scan[:, :2].abs().max() < 1e-5  # positions before the changed token carry no difference
    whole = patch_scan(model, clean, corrupt, metric, ["blocks.0.hook_resid_pre"], progress=False)
    assert whole.shape == (1, 1) and whole.item() == pytest.approx(1.0, abs=1e-5)  # the whole clean input
    per_prompt = torch.tensor([2, 2, 2])  # one position per prompt, as named positions are given
    assert float(metric(patch(model, clean, corrupt, "blocks.0.hook_resid_pre", pos=per_prompt))) == pytest.approx(1.0, abs=1e-5)


def test_attribution_patching_is_exact_where_the_metric_is_linear_and_approximate_elsewhere(model):
    clean, corrupt, metric = _pair(model)
    linear = ["ln_final.hook_normalized"]  # the logits are linear in the final norm's output
    exact = patch_scan(model, clean, corrupt, metric, linear, every_position(clean), progress=False)
    guess = attribution_patch(model, clean, corrupt, metric, linear, every_position(clean))
    torch.testing.assert_close(guess, exact, atol=1e-4, rtol=1e-4)
    heads = ["blocks.0.attn.hook_z"]
    exact = patch_scan(model, clean, corrupt, metric, heads, every_position(clean), per_head=True, progress=False)
    guess = attribution_patch(model, clean, corrupt, metric, heads, every_position(clean), per_head=True)
    assert guess.shape == exact.shape
    assert guess[:, :2].sub(metric(model(corrupt)).item()).abs().max() < 1e-6  # no difference, no estimate
    with pytest.raises(ValueError, match="one number"):
        attribution_patch(model, clean, corrupt, lambda logits: logits[:, -1, 0], heads)


def test_path_patching_through_the_final_residual_equals_patching_a_last_layer_head(model):
    clean, corrupt, metric = _pair(model)
    last = model.cfg.n_layers - 1
    sender = (f"blocks.{last}.attn.hook_z", 1)
    direct = path_patch(model, clean, corrupt, metric, sender, [(f"blocks.{last}.hook_resid_post", None)])
    assert direct == pytest.approx(float(metric(patch(model, clean, corrupt, *sender[:1], head=1))), abs=1e-5)
    # A receiver before the sender cannot see it: the target run's own metric.
    before = path_patch(model, clean, corrupt, metric, sender, [("blocks.0.attn.hook_q", 0)])
    assert before == pytest.approx(metric(model(corrupt)).item(), abs=1e-5)
    with pytest.raises(ValueError, match="frozen"):
        path_patch(model, clean, corrupt, metric, sender, [("blocks.0.attn.hook_z", 0)])


def test_mean_ablation_with_a_prompts_own_outputs_changes_nothing_and_bad_heads_are_refused(model):
    clean, corrupt, _ = _pair(model, batch=1)
    means = head_means(model, clean)
    torch.testing.assert_close(ablate_heads(model, clean, [(0, 0), (1, 1)], means), model(clean), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="no head"):
        ablate_heads(model, clean, [(0, 9)], means)


def test_bad_patching_input_gets_a_clear_error(model):
    clean, corrupt, metric = _pair(model)
    with pytest.raises(ValueError, match="no head dimension"):
        patch(model, clean, corrupt, "blocks.0.hook_resid_pre", head=0)
    with pytest.raises(ValueError, match="out of range"):
        patch(model, clean, corrupt, "blocks.0.attn.hook_z", head=model.cfg.n_heads)
    with pytest.raises(ValueError, match="positions must"):
        patch_scan(model, clean, corrupt, metric, ["blocks.0.hook_resid_pre"], positions=torch.tensor([[9]] * 3))
    with pytest.raises(ValueError, match="at least one prompt"):
        patch(model, clean[:0], corrupt[:0], "blocks.0.hook_resid_pre")
    with pytest.raises(ValueError, match="are equal"):
        logit_diff_metric(torch.tensor([1]), torch.tensor([2]), 0.5, 0.5)


def test_a_source_cache_of_other_prompts_is_refused(model):
    clean, corrupt, metric = _pair(model)
    _, cache = model.run_with_cache(clean[:2])
    with pytest.raises(ValueError, match="must start with the target"):
        patch(model, cache, corrupt, "blocks.0.hook_resid_pre")
    with pytest.raises(ValueError, match="lacks"):
        patch_scan(model, model.run_with_cache(clean, names_filter="blocks.0.hook_resid_pre")[1], corrupt, metric,
                   ["blocks.1.hook_resid_pre"])
