"""The PCA spectrum of SAE latent codes, and how many principal components the model can do without.

    pca = code_pca(sparse_codes(sae, acts))                     # exact PCA of the latent codes
    loss = spliced_loss(model, sae, rows, reconstruct=pc_ablated(sae, pca, n_drop=300))
    search = ablation_search(model, sae, pca, rows, max_loss)    # most PCs droppable within a loss budget
    control = ablation_search(model, sae, axis_pca(codes), rows, max_loss)   # lowest-variance latents instead
    null = code_pca(shuffled_codes(codes))                       # the spectrum with no linear dependence

A TopK code has ``k`` non-zeros per token, so second moments come from sparse products and PCA is an
eigendecomposition over the latents that fired (those that never fired are exact zero-variance
components). Introduced in ``notebooks/30_geometry/30_geometry.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.dictionaries.dictionary import Dictionary
from mi_widgets.dictionaries.feature_index import active_latents
from mi_widgets.dictionaries.metrics import spliced_loss


def sparse_codes(sae: Dictionary, x: Float[Tensor, "n d_in"], batch_size: int = 8192) -> sp.csr_matrix:
    """The TopK latent codes of ``x`` as a sparse [n, width] matrix (the SAE's internal units)."""
    if sae.cfg.kind != "topk":
        raise ValueError(f"sparse codes need a TopK dictionary, got kind={sae.cfg.kind!r}")
    rows, latents, values = active_latents(sae, x, batch_size)  # positive activations only
    return sp.csr_matrix((values.numpy(), (rows.numpy(), latents.numpy())), shape=(len(x), sae.cfg.width))


class CodePCA(NamedTuple):
    mean: Float[Tensor, "width"]
    """Mean code over the fitting tokens."""
    variances: Float[Tensor, "width"]
    """All ``width`` component variances, largest first (zeros last: latents that never fired)."""
    components: Float[Tensor, "n_live width"]
    """Unit components with non-trivial support, in the order of ``variances``."""
    dead: Int[Tensor, "n_dead"]
    """Latents that never fired; each is a zero-variance component along its own axis."""


def _live_codes(codes: sp.csr_matrix) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """(live latents, their codes in float64, their mean code) of sparse codes [n, width]."""
    if codes.shape[0] < 2:
        raise ValueError(f"PCA needs at least 2 tokens, got {codes.shape[0]}")
    live = np.flatnonzero(codes.getnnz(axis=0) > 0)
    sub = codes[:, live].astype(np.float64)
    return live, sub, np.asarray(sub.mean(axis=0)).ravel()


def _as_pca(live: np.ndarray, width: int, mean: np.ndarray, variances: Tensor, comps_live: Tensor) -> CodePCA:
    """A CodePCA from components over the live latents ([n_live, n_live], rows largest first)."""
    comps = torch.zeros(len(live), width)
    comps[:, torch.from_numpy(live)] = comps_live
    full_mean = torch.zeros(width)
    full_mean[torch.from_numpy(live)] = torch.from_numpy(mean).float()
    padded = torch.cat([variances.clamp_min(0), torch.zeros(width - len(live))])
    return CodePCA(full_mean, padded, comps, torch.from_numpy(np.setdiff1d(np.arange(width), live)))


def code_pca(codes: sp.csr_matrix) -> CodePCA:
    """Exact PCA of sparse codes [n, width]: covariance from a sparse product, eigh over the live latents."""
    live, sub, mean = _live_codes(codes)
    cov = (sub.T @ sub).toarray() / codes.shape[0] - np.outer(mean, mean)
    evals, evecs = _eigh(torch.from_numpy(cov).float())  # ascending
    return _as_pca(live, codes.shape[1], mean, evals.flip(0), evecs.flip(1).T)


def axis_pca(codes: sp.csr_matrix) -> CodePCA:
    """The latents' own axes as "components", ordered by each latent's variance: the control for `code_pca`.

    Ablating its smallest components (`pc_ablated`, `ablation_search`) sets the lowest-variance latents to
    their mean, one axis at a time, with no linear combination of latents involved.
    """
    live, sub, mean = _live_codes(codes)
    var = np.asarray(sub.multiply(sub).mean(axis=0)).ravel() - mean**2
    order = np.argsort(-var, kind="stable")
    return _as_pca(live, codes.shape[1], mean, torch.from_numpy(var[order]).float(),
                   torch.eye(len(live))[torch.from_numpy(order)])


def shuffled_codes(codes: sp.csr_matrix, seed: int = 0) -> sp.csr_matrix:
    """Each latent's column of codes moved to random tokens, independently of the other latents.

    Every latent keeps its values (so its firing rate, mean and variance); what is lost is which latents
    fire together, the linear dependence PCA could exploit. The null spectrum for `code_pca`.
    """
    rng = np.random.default_rng(seed)
    n = codes.shape[0]
    csc = codes.tocsc()
    rows = np.concatenate([rng.choice(n, csc.indptr[j + 1] - csc.indptr[j], replace=False)
                           for j in range(codes.shape[1])]).astype(np.int64)
    cols = np.repeat(np.arange(codes.shape[1]), np.diff(csc.indptr))
    return sp.csr_matrix((csc.data, (rows, cols)), shape=codes.shape)


def tail_variance_share(variances: Float[Tensor, "width"], n_drop: int) -> float:
    """Share of the total variance held by the ``n_drop`` smallest components."""
    lam = variances.double()
    return float(lam.flip(0)[:n_drop].sum() / lam.sum()) if n_drop else 0.0


def _eigh(matrix: Float[Tensor, "m m"]) -> tuple[Tensor, Tensor]:
    """``torch.linalg.eigh`` on one thread, in float32: the cost grows as m^3, float32 halves it, and a
    second thread gains little here but loses many times over at thread barriers on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.eigh(matrix)
    finally:
        torch.set_num_threads(threads)


def participation_ratio(eigenvalues: Float[Tensor, "n"]) -> float:
    """How many directions a spectrum uses: (sum of eigenvalues)^2 / sum of their squares (n if flat, 1 if one)."""
    return float(eigenvalues.sum() ** 2 / eigenvalues.pow(2).sum())


def spectrum_stats(variances: Float[Tensor, "width"]) -> dict[str, float]:
    """Summaries of a PCA spectrum, each as a share of the number of components."""
    lam = variances.double()
    share = lam.cumsum(0) / lam.sum()
    width = len(lam)
    return {"participation": participation_ratio(lam) / width,
            "pcs_for_90": (int((share < 0.9).sum()) + 1) / width,
            "pcs_for_99": (int((share < 0.99).sum()) + 1) / width}


def pc_ablated(sae: Dictionary, pca: CodePCA, n_drop: int) -> Callable[[Tensor], Tensor]:
    """A reconstruction with the codes projected off their ``n_drop`` smallest principal components.

    Codes ``f`` become ``mean + (f - mean) P`` with ``P`` the projector on the kept components, then
    decode; folded into one [width, d] matrix, so it costs what the plain decoder does.
    """
    width = sae.cfg.width
    if not 0 <= n_drop <= width:
        raise ValueError(f"n_drop must be in 0..{width}, got {n_drop}")
    keep = width - n_drop
    n_live = len(pca.components)
    with torch.no_grad():
        kept = pca.components[: min(keep, n_live)]  # [keep_live, width]
        proj_dec = kept.T @ (kept @ sae.W_dec)  # P @ W_dec, [width, d]
        spare = pca.dead[: max(0, keep - n_live)]  # zero-variance axes still kept
        proj_dec[spare] += sae.W_dec[spare]
        offset = pca.mean @ sae.W_dec - pca.mean @ proj_dec + sae.b_dec

    def reconstruct(x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... target"]:
        flat = x.reshape(-1, sae.cfg.d_in)
        vals, idx, _, _ = sae.encode_sparse(flat)
        out = F.embedding_bag(idx, proj_dec, per_sample_weights=vals, mode="sum") + offset
        if sae.W_skip is not None:  # a transcoder's skip path does not go through the codes
            out = out + (flat * sae.scale_in) @ sae.W_skip
        return (out / sae.scale_out).reshape(*x.shape[:-1], sae.cfg.target_dim)

    return reconstruct


class AblationSearch(NamedTuple):
    n_ablatable: int
    """Most smallest PCs that can be dropped with the loss at most ``max_loss``."""
    losses: dict[int, float]
    """Spliced loss for every number of dropped PCs tried."""


def ablation_search(model, sae: Dictionary, pca: CodePCA, tokens: Int[Tensor, "batch pos"], max_loss: float,
                    fractions: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8), resolution: int = 8,
                    batch_size: int = 32) -> AblationSearch:
    """Drop growing shares of the smallest PCs until the loss passes ``max_loss``, then bisect.

    Assumes the loss grows with the number dropped; ``losses`` holds the points tried, to check that.
    The answer is exact to ``resolution`` components.
    """
    width = sae.cfg.width
    if resolution < 1:
        raise ValueError(f"resolution must be at least 1 component, got {resolution}")

    def loss(m: int) -> float:
        if m not in losses:
            losses[m] = spliced_loss(model, sae, tokens, batch_size, reconstruct=pc_ablated(sae, pca, m))
        return losses[m]

    losses: dict[int, float] = {}
    good, bad = 0, None
    for m in sorted({int(f * width) for f in fractions}):
        if loss(m) > max_loss:
            bad = m
            break
        good = m
    if bad is None:
        bad = width + 1 if loss(width) <= max_loss else width
        good = width if bad > width else good
    while bad - good > resolution:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if loss(mid) <= max_loss else (good, mid)
    return AblationSearch(good, dict(sorted(losses.items())))
