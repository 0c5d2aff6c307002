"""Harvesting: equal to run_with_cache, bounded batches, clear errors, and a disk cache that never serves bad data."""

import numpy as np
import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.activations import cache_path, harvest_activations, iter_activations
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.metrics import reconstruction_stats, splice_stats


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(1, 250, (10, 12), generator=torch.Generator().manual_seed(0))


HOOKS = ["blocks.0.hook_resid_post", "blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out", "ln_final.hook_normalized"]


def test_harvest_equals_run_with_cache(model, tokens):
    acts = harvest_activations(model, HOOKS, tokens, batch_size=3, progress=False)
    _, cache = model.run_with_cache(tokens)
    for hook in HOOKS:
        want = cache[hook][:, 1:].reshape(-1, cache[hook].shape[-1])
        torch.testing.assert_close(acts[hook], want, rtol=1e-5, atol=1e-5)


def test_iter_yields_one_batch_at_a_time(model, tokens):
    sizes = [len(b["blocks.0.hook_resid_post"]) for b in iter_activations(model, "blocks.0.hook_resid_post", tokens,
                                                                          batch_size=4, progress=False)]
    assert sizes == [4 * 11, 4 * 11, 2 * 11]


def test_unknown_hook_names_close_matches(model, tokens):
    with pytest.raises(KeyError, match="blocks.0.hook_resid_post"):
        harvest_activations(model, ["blocks.0.hook_resid_pots"], tokens)
    with pytest.raises(ValueError, match="at least one hook"):
        harvest_activations(model, [], tokens)
    with pytest.raises(ValueError, match=r"\[batch, pos\]"):
        harvest_activations(model, HOOKS[:1], torch.tensor([1, 2, 3]))


def test_disk_cache_reuses_and_rebuilds(model, tokens, tmp_path):
    hook = HOOKS[0]
    first = harvest_activations(model, [hook], tokens, cache_dir=tmp_path, progress=False)[hook]
    path = cache_path(tmp_path, model, hook, tokens, skip_bos=True)
    assert path.exists() and path.with_suffix(".json").exists()
    torch.testing.assert_close(harvest_activations(model, [hook], tokens, cache_dir=tmp_path, progress=False)[hook], first)

    # A truncated file is reported and rebuilt, never used.
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="unusable"):
        again = harvest_activations(model, [hook], tokens, cache_dir=tmp_path, progress=False)[hook]
    torch.testing.assert_close(again, first)

    # A file whose bytes changed but keep their length is caught by the checksum.
    array = np.load(path)
    array[0, 0] += 1.0
    np.save(path, array)
    with pytest.warns(UserWarning, match="checksum"):
        harvest_activations(model, [hook], tokens, cache_dir=tmp_path, progress=False)

    # Other tokens or another hook get another file.
    assert cache_path(tmp_path, model, hook, tokens[:5], True) != path
    assert cache_path(tmp_path, model, HOOKS[1], tokens, True) != path


def test_splice_stats_identity_and_zero(model, tokens):
    """A dictionary that reconstructs exactly recovers all the loss; zero-ablation changes it."""
    acts = harvest_activations(model, HOOKS[0], tokens, progress=False)[HOOKS[0]]
    d = acts.shape[1]
    sae = Dictionary(DictConfig(d_in=d, width=d, k=d, hook_in=HOOKS[0]))
    with torch.no_grad():
        # Latent i is coordinate i shifted by 100: always positive, so all d survive top-k and ReLU,
        # and decoding adds b_dec = -100 back.
        sae.W_enc.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
        sae.b_enc.zero_()
        sae.b_dec.fill_(-100.0)
    stats = reconstruction_stats(sae, acts)
    assert stats.l0 == d and stats.dead_fraction == 0 and stats.fvu < 1e-6
    splice = splice_stats(model, sae, tokens, batch_size=4)
    assert abs(splice.loss_zero - splice.loss_clean) > 1e-3
    assert abs(splice.loss_recovered - 1) < 1e-3
    assert abs(splice.loss_increase) < 1e-4


def test_transcoder_splice_replaces_mlp_output(model, tokens):
    """A transcoder that outputs zeros is exactly the zero-ablation of the MLP; its FVU is 1 against the mean."""
    hook_in, hook_out = HOOKS[1], HOOKS[2]
    tc = Dictionary(DictConfig(d_in=32, width=16, k=2, d_out=32, skip=True, hook_in=hook_in, hook_out=hook_out))
    with torch.no_grad():
        tc.W_dec.zero_()
    splice = splice_stats(model, tc, tokens, batch_size=5)
    assert splice.loss_spliced == pytest.approx(splice.loss_zero, abs=1e-6)
    acts = harvest_activations(model, [hook_in, hook_out], tokens, progress=False)
    with pytest.raises(ValueError, match="needs its targets"):
        reconstruction_stats(tc, acts[hook_in])
    stats = reconstruction_stats(tc, acts[hook_in], acts[hook_out])
    assert stats.fvu > 1.0  # zeros are worse than the mean
