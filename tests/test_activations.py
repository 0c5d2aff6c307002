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
