"""analysis.code_spectrum: code PCA against a dense reference, PC ablation at its two ends, the ablation search."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from analysis_fixtures import HOOK, model, sae, tokens  # noqa: F401 (pytest fixtures)

from mi_widgets.activations import harvest_activations
from mi_widgets.analysis.code_spectrum import (ablation_search, axis_pca, code_pca, pc_ablated, shuffled_codes,
                                               sparse_codes, spectrum_stats, tail_variance_share)
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.metrics import splice_stats, spliced_loss


def test_sparse_codes_equal_dense_encode(sae):
    x = torch.randn(50, 32)
    assert np.allclose(sparse_codes(sae, x, batch_size=7).toarray(), sae.encode(x).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="TopK"):
        sparse_codes(Dictionary(DictConfig(d_in=4, width=8, kind="relu")), torch.randn(3, 4))


def test_code_pca_matches_dense_pca(sae):
    x = torch.randn(400, 32, generator=torch.Generator().manual_seed(1))
    codes = sparse_codes(sae, x)
    pca = code_pca(codes)
    dense = codes.toarray().astype(np.float64)
    want = np.sort(np.linalg.eigvalsh(np.cov(dense.T, bias=True)))[::-1]
    assert np.allclose(pca.variances.numpy(), want, atol=1e-4)
    assert set(pca.dead.tolist()) >= set(range(40, 48))
    assert len(pca.components) + len(pca.dead) == 48
    gram = pca.components @ pca.components.T
    assert torch.allclose(gram, torch.eye(len(gram)), atol=1e-4)
    assert torch.allclose(pca.mean, torch.from_numpy(dense.mean(0)).float(), atol=1e-5)
    stats = spectrum_stats(pca.variances)
    assert 0 < stats["participation"] <= 1 and stats["pcs_for_90"] <= stats["pcs_for_99"] <= 1
    with pytest.raises(ValueError, match="at least 2"):
        code_pca(codes[:1])


def test_pc_ablation_ends(sae):
    x = torch.randn(300, 32, generator=torch.Generator().manual_seed(2))
    pca = code_pca(sparse_codes(sae, x))
    torch.testing.assert_close(pc_ablated(sae, pca, 0)(x), sae(x), atol=1e-4, rtol=1e-4)
    everything = pc_ablated(sae, pca, 48)(x)  # every code replaced by the mean code
    torch.testing.assert_close(everything, sae.decode(pca.mean).expand_as(everything), atol=1e-4, rtol=1e-4)
    # Dropping the dead axes too changes nothing on inputs where they never fire.
    torch.testing.assert_close(pc_ablated(sae, pca, len(pca.dead))(x), sae(x), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="n_drop"):
        pc_ablated(sae, pca, 49)


def test_pc_ablation_keeps_a_transcoders_skip_path():
    tc = Dictionary(DictConfig(d_in=16, width=24, k=3, d_out=8, skip=True), seed=0).requires_grad_(False)
    with torch.no_grad():
        tc.W_skip.normal_()
    x = torch.randn(2, 40, 16)
    pca = code_pca(sparse_codes(tc, x.reshape(-1, 16)))
    torch.testing.assert_close(pc_ablated(tc, pca, 0)(x), tc(x), atol=1e-4, rtol=1e-4)


def test_splice_accepts_a_reconstruction(model, tokens, sae):
    base = splice_stats(model, sae, tokens, batch_size=4)
    same = splice_stats(model, sae, tokens, batch_size=4, reconstruct=sae)
    assert same == base
    assert spliced_loss(model, sae, tokens, batch_size=4) == pytest.approx(base.loss_spliced)
    identity = spliced_loss(model, sae, tokens, reconstruct=lambda x: x.clone())
    assert identity == pytest.approx(base.loss_clean, abs=1e-5)


def test_ablation_search(model, tokens, sae):
    acts = harvest_activations(model, HOOK, tokens, progress=False)[HOOK]
    pca = code_pca(sparse_codes(sae, acts))
    assert ablation_search(model, sae, pca, tokens, float("inf")).n_ablatable == 48
    assert ablation_search(model, sae, pca, tokens, -1.0).n_ablatable == 0
    start = spliced_loss(model, sae, tokens)
    end = spliced_loss(model, sae, tokens, reconstruct=pc_ablated(sae, pca, 48))
    search = ablation_search(model, sae, pca, tokens, (start + end) / 2, resolution=1)
    m = search.n_ablatable
    assert search.losses[m] <= (start + end) / 2 if m else True
    assert min(k for k, v in search.losses.items() if v > (start + end) / 2) - m <= 1
    with pytest.raises(ValueError, match="resolution"):
        ablation_search(model, sae, pca, tokens, 1.0, resolution=0)


def _planted_codes(seed: int = 0) -> sp.csr_matrix:
    """Sparse codes in which latent 1 always fires with latent 0 at twice its value (a linear dependence)."""
    rng = np.random.default_rng(seed)
    n, width = 4000, 12
    dense = np.where(rng.random((n, width)) < 0.2, rng.exponential(1.0, (n, width)), 0.0) * np.linspace(1, 3, width)
    dense[:, 1] = 2 * dense[:, 0]
    return sp.csr_matrix(dense)


def test_axis_pca_orders_latents_by_variance_and_ablates_along_axes():
    codes = _planted_codes()
    dense = codes.toarray()
    axes = axis_pca(codes)
    assert torch.allclose(axes.variances, torch.from_numpy(np.sort(dense.var(0))[::-1].copy()).float(), rtol=1e-4)
    assert (axes.components.abs().sum(1) == 1).all()  # one latent per component
    lowest = int(np.argmin(dense.var(0)))
    assert axes.components[-1, lowest] == 1


def test_shuffled_codes_keep_each_latent_and_break_dependence():
    codes = _planted_codes()
    null = shuffled_codes(codes, seed=3)
    a, b = codes.toarray(), null.toarray()
    assert np.allclose(np.sort(a, 0), np.sort(b, 0))  # each latent keeps its values
    assert np.corrcoef(a[:, 0], a[:, 1])[0, 1] > 0.99 and abs(np.corrcoef(b[:, 0], b[:, 1])[0, 1]) < 0.1
    # The planted dependence is a zero-variance PC in the real codes, not in the shuffled ones.
    real, shuffled = code_pca(codes).variances, code_pca(null).variances
    assert tail_variance_share(real, 1) < 1e-6 < 1e-3 < tail_variance_share(shuffled, 1)
    assert tail_variance_share(real, 0) == 0.0
