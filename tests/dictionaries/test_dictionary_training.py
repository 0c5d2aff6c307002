"""dictionaries.dictionary_training: training recovers planted directions, is seeded, and resamples dead
latents where the error is."""


import pytest
import torch

from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_dictionary
from mi_widgets.dictionaries.synthetic_data import SparseFeatureData, recovered_fraction


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


def test_training_works_with_gradients_turned_off():
    """Notebooks turn gradients off for their analysis; a dictionary trained there (dictionary_for on a hub
    model) must still train, and the caller's setting must come back unchanged."""
    x = SparseFeatureData(d=16, n_features=64, active=2, seed=3).sample(5000)
    sae = Dictionary(DictConfig(d_in=16, width=64, k=3), seed=4)
    before = sae.W_dec.detach().clone()
    with torch.no_grad():
        train_dictionary(sae, x, TrainSettings(tokens=20_000, batch_size=500, progress=False, seed=5))
        assert not torch.is_grad_enabled()
    assert not torch.equal(before, sae.W_dec.detach())


def test_relu_sae_trains_and_is_sparse():
    data = SparseFeatureData(d=16, n_features=64, active=2, seed=1)
    x = data.sample(20_000)
    sae = Dictionary(DictConfig(d_in=16, width=128, kind="relu"), seed=0)
    result = train_dictionary(sae, x, TrainSettings(tokens=200_000, batch_size=500, lr=2e-3, l1_coeff=5.0,
                                                    progress=False))
    assert result.mse[-1] < result.mse[0]
    l0 = (sae.encode(x[:2000]) > 0).sum(-1).float().mean().item()
    assert 0 < l0 < 40


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
