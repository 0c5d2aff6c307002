"""dictionaries.dictionary_training: training recovers planted directions, is seeded, and resamples dead
latents where the error is."""


import pytest
import torch

from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_dictionary, train_transcoder_set
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


def transcoder_chain(seed=0, n=20_000, d=16):
    """Two layers of sparse data: layer 1's inputs are made from layer 0's targets, so features of the two layers
    can be connected or not."""
    data = SparseFeatureData(d=d, n_features=48, active=2, noise=0.01, seed=seed)
    x0 = data.sample(n)
    mix = torch.randn(d, d, generator=torch.Generator().manual_seed(seed + 1)) / d ** 0.5
    y0 = x0 @ mix
    x1 = y0 + 0.5 * data.sample(n)
    y1 = x1 @ mix.T
    return [x0, x1], [y0, y1], torch.ones(n, 2)


def test_a_transcoder_set_trains_and_the_penalty_cuts_the_edges_between_layers():
    x, y, scales = transcoder_chain()
    settings = TrainSettings(tokens=200_000, batch_size=1024, lr=3e-3, progress=False)
    runs = {}
    for penalty in (0.0, 1.0):
        tcs = [Dictionary(DictConfig(d_in=16, width=64, k=4, d_out=16), seed=layer) for layer in range(2)]
        result = train_transcoder_set(tcs, x, y, settings, scales, penalty=penalty)
        runs[penalty] = (tcs, result)
        assert result.mse[-1] < result.mse[0] / 3
    # The penalty's own measure on held data: a set trained with it has smaller edges between its layers
    # (a penalty that did not reach the weights would leave them equal).
    @torch.no_grad()
    def edge_mass(tcs):
        vals, idx, _, _ = tcs[0].encode_sparse(x[0][:2000])
        _, idx_next, _, _ = tcs[1].encode_sparse(x[1][:2000])
        read = tcs[1].W_enc - tcs[1].W_enc.mean(-1, keepdim=True)
        virtual = tcs[0].W_dec @ read.T * (tcs[1].scale_in / tcs[0].scale_out)
        return float((vals[..., None] * virtual[idx[:, :, None], idx_next[:, None, :]]).abs().sum((1, 2)).mean())
    assert edge_mass(runs[1.0][0]) < 0.7 * edge_mass(runs[0.0][0])
    assert runs[0.0][1].aux == [0.0] * len(runs[0.0][1].aux)


def test_a_transcoder_set_refuses_bad_input():
    x, y, scales = transcoder_chain(n=3000)
    tcs = [Dictionary(DictConfig(d_in=16, width=64, k=4, d_out=16), seed=layer) for layer in range(2)]
    settings = TrainSettings(tokens=4096, batch_size=1024, progress=False)
    with pytest.raises(ValueError, match="one transcoder"):
        train_transcoder_set(tcs, x[:1], y, settings)
    with pytest.raises(ValueError, match="same rows"):
        train_transcoder_set(tcs, [x[0], x[1][:100]], y, settings)
    with pytest.raises(ValueError, match="scales"):
        train_transcoder_set(tcs, x, y, settings, penalty=0.1)
    with pytest.raises(ValueError, match="TopK transcoder"):
        train_transcoder_set([Dictionary(DictConfig(d_in=16, width=64, k=4))] * 2, x, y, settings)
    bad = x[0].clone()
    bad[5, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        train_transcoder_set(tcs, [bad, x[1]], y, settings)


def test_a_transcoder_set_with_a_penalty_is_reproducible():
    """Same seed, same weights, bit for bit: the penalty's gather must not accumulate its gradient in a thread order
    (advanced indexing's backward did, and two runs differed in the last bits)."""
    x, y, scales = transcoder_chain(n=4096)
    weights = []
    for _ in range(2):
        tcs = [Dictionary(DictConfig(d_in=16, width=64, k=4, d_out=16), seed=layer) for layer in range(2)]
        train_transcoder_set(tcs, x, y, TrainSettings(tokens=16_384, batch_size=1024, progress=False), scales,
                             penalty=1.0)
        weights.append(torch.cat([p.detach().flatten() for tc in tcs for p in tc.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_refit_false_fine_tunes_from_the_dictionarys_own_scales():
    x = SparseFeatureData(d=16, n_features=64, active=2, seed=3).sample(4096)
    sae = Dictionary(DictConfig(d_in=16, width=32, k=2), seed=0)
    train_dictionary(sae, x, TrainSettings(tokens=4096, batch_size=1024, progress=False))
    scale, offset = sae.scale_in.clone(), sae.b_dec.detach().clone()
    train_dictionary(sae, 2 * x, TrainSettings(tokens=0, batch_size=1024, progress=False, refit=False))
    assert torch.equal(sae.scale_in, scale) and torch.equal(sae.b_dec.detach(), offset)
    train_dictionary(sae, 2 * x, TrainSettings(tokens=0, batch_size=1024, progress=False))
    assert torch.allclose(sae.scale_in, scale / 2)  # refitted to the doubled data
