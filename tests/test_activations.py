"""Harvesting: equal to run_with_cache, bounded batches, clear errors, and a disk cache that never serves bad data."""

import numpy as np
import pytest
import torch

from mi_widgets.activations import cache_path, harvest_activations, iter_activations

HOOKS = ["blocks.0.hook_resid_post", "blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out", "ln_final.hook_normalized"]


def test_harvest_equals_run_with_cache(tiny_model, tiny_tokens):
    acts = harvest_activations(tiny_model, HOOKS, tiny_tokens, batch_size=3, progress=False)
    _, cache = tiny_model.run_with_cache(tiny_tokens)
    for hook in HOOKS:
        want = cache[hook][:, 1:].reshape(-1, cache[hook].shape[-1])
        torch.testing.assert_close(acts[hook], want, rtol=1e-5, atol=1e-5)


def test_iter_yields_one_batch_at_a_time(tiny_model, tiny_tokens):
    sizes = [len(b["blocks.0.hook_resid_post"]) for b in iter_activations(tiny_model, "blocks.0.hook_resid_post", tiny_tokens,
                                                                          batch_size=4, progress=False)]
    assert sizes == [4 * 11, 4 * 11, 2 * 11]


def test_unknown_hook_names_close_matches(tiny_model, tiny_tokens):
    with pytest.raises(KeyError, match="blocks.0.hook_resid_post"):
        harvest_activations(tiny_model, ["blocks.0.hook_resid_pots"], tiny_tokens)
    with pytest.raises(ValueError, match="at least one hook"):
        harvest_activations(tiny_model, [], tiny_tokens)
    with pytest.raises(ValueError, match=r"\[batch, pos\]"):
        harvest_activations(tiny_model, HOOKS[:1], torch.tensor([1, 2, 3]))


def test_disk_cache_reuses_and_rebuilds(tiny_model, tiny_tokens, tmp_path):
    hook = HOOKS[0]
    first = harvest_activations(tiny_model, [hook], tiny_tokens, cache_dir=tmp_path, progress=False)[hook]
    path = cache_path(tmp_path, tiny_model, hook, tiny_tokens, skip_bos=True)
    assert path.exists() and path.with_suffix(".json").exists()
    torch.testing.assert_close(harvest_activations(tiny_model, [hook], tiny_tokens, cache_dir=tmp_path, progress=False)[hook], first)

    # A truncated file is reported and rebuilt, never used.
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="unusable"):
        again = harvest_activations(tiny_model, [hook], tiny_tokens, cache_dir=tmp_path, progress=False)[hook]
    torch.testing.assert_close(again, first)

    # A file whose bytes changed but keep their length is caught by the checksum.
    array = np.load(path)
    array[0, 0] += 1.0
    np.save(path, array)
    with pytest.warns(UserWarning, match="checksum"):
        harvest_activations(tiny_model, [hook], tiny_tokens, cache_dir=tmp_path, progress=False)

    # Other tiny_tokens or another hook get another file.
    assert cache_path(tmp_path, tiny_model, hook, tiny_tokens[:5], True) != path
    assert cache_path(tmp_path, tiny_model, HOOKS[1], tiny_tokens, True) != path


PROMPTS = ["Once upon a time", "Tom ran to the big park with his dog", "Hi"]


def test_ragged_prompts_give_real_tokens_only(tiny_model):
    """A prompt list of different lengths: one row per real token, each prompt's BOS dropped, no padding."""
    hook = "blocks.1.hook_resid_post"
    acts = harvest_activations(tiny_model, [hook], PROMPTS, batch_size=2, progress=False)[hook]
    singles = [tiny_model.run_with_cache(p)[1][hook][0, 1:] for p in PROMPTS]
    assert len(acts) == sum(len(tiny_model.to_tokens(p)[0]) - 1 for p in PROMPTS)
    torch.testing.assert_close(acts, torch.cat(singles), rtol=1e-4, atol=1e-4)
    with_bos = harvest_activations(tiny_model, [hook], PROMPTS, skip_bos=False, progress=False)[hook]
    assert len(with_bos) == len(acts) + len(PROMPTS)


def test_a_mask_drops_the_padding_of_padded_ids(tiny_model, tmp_path):
    hook = "blocks.0.hook_resid_post"
    padded = tiny_model.to_tokens(PROMPTS)  # right-padded to the longest prompt
    lengths = torch.tensor([len(tiny_model.to_tokens(p)[0]) for p in PROMPTS])
    mask = torch.arange(padded.shape[1])[None] < lengths[:, None]
    assert len(harvest_activations(tiny_model, [hook], padded, progress=False)[hook]) == 3 * (padded.shape[1] - 1)
    masked = harvest_activations(tiny_model, [hook], padded, mask=mask, cache_dir=tmp_path, progress=False)[hook]
    torch.testing.assert_close(masked, harvest_activations(tiny_model, [hook], PROMPTS, progress=False)[hook],
                               rtol=1e-4, atol=1e-4)
    assert cache_path(tmp_path, tiny_model, hook, padded, True, mask).exists()  # the mask is part of the key
    assert not cache_path(tmp_path, tiny_model, hook, padded, True).exists()


def test_bad_prompt_lists_and_masks_are_refused(tiny_model, tiny_tokens):
    hook = "blocks.0.hook_resid_post"
    with pytest.raises(ValueError, match="prompt list is empty"):
        harvest_activations(tiny_model, [hook], [])
    with pytest.raises(TypeError, match="not one string"):
        harvest_activations(tiny_model, [hook], "Once upon a time")
    with pytest.raises(ValueError, match="mask must be a bool array"):
        harvest_activations(tiny_model, [hook], tiny_tokens, mask=torch.ones(2, 2, dtype=torch.bool))


def test_head_hooks_give_one_row_per_head_and_position(tiny_model, tiny_tokens):
    hook = "blocks.0.attn.hook_z"
    acts = harvest_activations(tiny_model, [hook], tiny_tokens, batch_size=4, progress=False)[hook]
    z = tiny_model.run_with_cache(tiny_tokens)[1][hook][:, 1:]
    torch.testing.assert_close(acts, z.reshape(-1, z.shape[-1]), rtol=1e-5, atol=1e-5)
