"""Dictionaries: the sparse TopK backward equals dense autograd, training recovers planted directions,
files round-trip, and bad input gets clear errors."""

import json

import pytest
import torch

from mi_widgets.sae import DictConfig, Dictionary, TrainSettings, train_dictionary
from mi_widgets.synthetic import SparseFeatureData, recovered_fraction


def _dense_topk_forward(sae: Dictionary, x: torch.Tensor) -> torch.Tensor:
    """The textbook TopK SAE, all dense: the reference the fast path must match."""
    pre = ((x * sae.scale_in) - sae.b_dec) @ sae.W_enc.T + sae.b_enc
    vals, idx = pre.topk(sae.cfg.k, dim=1)
    f = torch.zeros_like(pre).scatter(1, idx, vals.relu())
    return (f @ sae.W_dec + sae.b_dec) / sae.scale_out


@pytest.mark.parametrize("transcoder", [False, True])
def test_sparse_gradients_equal_dense_autograd(transcoder):
    torch.manual_seed(0)
    cfg = DictConfig(d_in=16, width=64, k=5, d_out=12 if transcoder else None, skip=transcoder)
    sae = Dictionary(cfg, seed=1)
    with torch.no_grad():
        sae.b_enc.normal_()
        sae.b_dec.normal_()
        if sae.W_skip is not None:
            sae.W_skip.normal_()
    sae.chunk = 7  # several row chunks, the last one ragged
    x = torch.randn(30, 16)
    target = torch.randn(30, cfg.target_dim)

    fast = sae(x)
    ((fast - target) ** 2).sum().backward()
    grads_fast = {n: p.grad.clone() for n, p in sae.named_parameters()}
    sae.zero_grad()

    if transcoder:
        pre = (x * sae.scale_in) @ sae.W_enc.T + sae.b_enc
        vals, idx = pre.topk(cfg.k, dim=1)
        f = torch.zeros_like(pre).scatter(1, idx, vals.relu())
        dense = (f @ sae.W_dec + sae.b_dec + (x * sae.scale_in) @ sae.W_skip) / sae.scale_out
    else:
        dense = _dense_topk_forward(sae, x)
    ((dense - target) ** 2).sum().backward()
    torch.testing.assert_close(fast, dense, rtol=1e-5, atol=1e-5)
    for name, param in sae.named_parameters():
        torch.testing.assert_close(grads_fast[name], param.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_topk_sae_recovers_planted_directions():
    data = SparseFeatureData(d=32, n_features=128, active=3, noise=0.01, seed=0)
    x = data.sample(60_000)
    sae = Dictionary(DictConfig(d_in=32, width=256, k=4), seed=0)
    result = train_dictionary(sae, x, TrainSettings(tokens=600_000, batch_size=1024, lr=3e-3, progress=False,
                                                    dead_after=20_000))
    assert result.mse[-1] < result.mse[0] / 5
    recovered = recovered_fraction(sae.W_dec, data.directions)
    assert recovered > 0.8, recovered  # a random 256-row decoder recovers ~0 of them at cosine 0.9
    assert recovered_fraction(torch.randn(256, 32), data.directions) < 0.05
    # The initial decoder is unrelated to the truth (same seed, different streams).
    assert recovered_fraction(Dictionary(DictConfig(d_in=32, width=256, k=4), seed=0).W_dec, data.directions) < 0.05


def test_same_seed_same_dictionary():
    x = SparseFeatureData(d=16, n_features=64, active=2, seed=3).sample(5000)
    runs = []
    for _ in range(2):
        sae = Dictionary(DictConfig(d_in=16, width=64, k=3), seed=4)
        train_dictionary(sae, x, TrainSettings(tokens=20_000, batch_size=500, progress=False, seed=5))
        runs.append(sae.W_dec.detach().clone())
    assert torch.equal(runs[0], runs[1])


def test_relu_sae_trains_and_is_sparse():
    data = SparseFeatureData(d=16, n_features=64, active=2, seed=1)
    x = data.sample(20_000)
    sae = Dictionary(DictConfig(d_in=16, width=128, kind="relu"), seed=0)
    result = train_dictionary(sae, x, TrainSettings(tokens=200_000, batch_size=500, lr=2e-3, l1_coeff=5.0,
                                                    progress=False))
    assert result.mse[-1] < result.mse[0]
    l0 = (sae.encode(x[:2000]) > 0).sum(-1).float().mean().item()
    assert 0 < l0 < 40


def test_save_load_round_trip(tmp_path):
    sae = Dictionary(DictConfig(d_in=8, width=32, k=2, hook_in="blocks.0.hook_resid_post", model="tiny"))
    with torch.no_grad():
        sae.b_dec.normal_()
    sae.save(tmp_path / "d", extra={"metrics": {"fvu": 0.1}})
    back = Dictionary.load(tmp_path / "d")
    x = torch.randn(5, 8)
    torch.testing.assert_close(back(x), sae(x))
    assert back.cfg == sae.cfg and back.meta["metrics"]["fvu"] == 0.1


def test_bad_input_gets_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="k must be in 1..width"):
        DictConfig(d_in=8, width=16, k=32)
    with pytest.raises(ValueError, match="positive"):
        DictConfig(d_in=8, width=0)
    with pytest.raises(ValueError, match="kind"):
        DictConfig(d_in=8, width=16, kind="jump")
    sae = Dictionary(DictConfig(d_in=8, width=16, k=2))
    with pytest.raises(ValueError, match="must end in dimension 8"):
        sae(torch.randn(4, 9))
    with pytest.raises(ValueError, match="at least batch_size"):
        train_dictionary(sae, torch.randn(10, 8), TrainSettings(batch_size=64, progress=False))
    with pytest.raises(FileNotFoundError, match="not a saved dictionary"):
        Dictionary.load(tmp_path)
    sae.save(tmp_path / "d")
    (tmp_path / "d" / "dictionary.safetensors").write_bytes(b"\x80\x04 not safetensors")
    with pytest.raises(ValueError, match="damaged or not a safetensors"):
        Dictionary.load(tmp_path / "d")
    meta = json.loads((tmp_path / "d" / "config.json").read_text())
    (tmp_path / "d" / "config.json").write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(ValueError, match="unknown format"):
        Dictionary.load(tmp_path / "d")


@pytest.mark.parametrize("transcoder", [False, True])
def test_resampling_restarts_dead_latents_where_the_error_is(transcoder):
    data = SparseFeatureData(d=16, n_features=64, active=2, seed=2)
    x = data.sample(20_000)
    y = x @ torch.randn(16, 12, generator=torch.Generator().manual_seed(0)) if transcoder else None
    sae = Dictionary(DictConfig(d_in=16, width=128, k=3, d_out=12 if transcoder else None), seed=0)
    def kill(sae):  # latents 0-39 never reach the top 3: dead from the start
        sae.b_enc.data[:40].fill_(-100.0)

    kill(sae)
    settings = TrainSettings(tokens=50_000, batch_size=500, progress=False, aux_k=0, dead_after=5_000)
    without = train_dictionary(sae, x, settings, y)
    assert without.resampled == [] and (sae.encode(x[:5000]) > 0).any(0)[:40].sum() == 0

    sae = Dictionary(DictConfig(d_in=16, width=128, k=3, d_out=12 if transcoder else None), seed=0)
    kill(sae)
    result = train_dictionary(sae, x, TrainSettings(**{**settings.__dict__, "resample_at": (0.3,)}), y)
    assert result.resampled and result.resampled[0] >= 40
    assert (sae.encode(x[:5000]) > 0).any(0)[:40].sum() >= 30, "restarted latents fire again"
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(128), atol=1e-5)
