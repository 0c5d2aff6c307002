"""Feature geometry: PCA of SAE latent codes, word geometry in the residual stream, latent blocks.

    pca = code_pca(sparse_codes(sae, acts))                     # exact PCA of the latent codes
    loss = spliced_loss(model, sae, rows, reconstruct=pc_ablated(sae, pca, n_drop=300))
    search = ablation_search(model, sae, pca, rows, max_loss)    # most PCs droppable within a loss budget
    means = token_means(rows, acts, word_token_ids(tokenizer, words))
    fit = cyclic_fit(means.means, phases)                        # are days on a circle, in order?
    labels = cluster_latents(coactivation(token_rows, latents, n_tokens, n_latents), 16)

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

# ---------------------------------------------------------------- PCA of latent codes


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


def code_pca(codes: sp.csr_matrix) -> CodePCA:
    """Exact PCA of sparse codes [n, width]: covariance from a sparse product, eigh over the live latents."""
    n, width = codes.shape
    if n < 2:
        raise ValueError(f"PCA needs at least 2 tokens, got {n}")
    live = np.flatnonzero(codes.getnnz(axis=0) > 0)
    sub = codes[:, live].astype(np.float64)
    mean = np.asarray(sub.mean(axis=0)).ravel()
    cov = (sub.T @ sub).toarray() / n - np.outer(mean, mean)
    evals, evecs = _eigh(torch.from_numpy(cov).float())  # ascending
    comps = torch.zeros(len(live), width)
    comps[:, torch.from_numpy(live)] = evecs.flip(1).T
    full_mean = torch.zeros(width)
    full_mean[torch.from_numpy(live)] = torch.from_numpy(mean).float()
    variances = torch.cat([evals.flip(0).clamp_min(0), torch.zeros(width - len(live))])
    dead = torch.from_numpy(np.setdiff1d(np.arange(width), live))
    return CodePCA(full_mean, variances, comps, dead)


def _eigh(matrix: Float[Tensor, "m m"]) -> tuple[Tensor, Tensor]:
    """``torch.linalg.eigh`` on one thread, in float32: the cost grows as m^3, float32 halves it, and a
    second thread gains little here but loses many times over at thread barriers on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.eigh(matrix)
    finally:
        torch.set_num_threads(threads)


def spectrum_stats(variances: Float[Tensor, "width"]) -> dict[str, float]:
    """Summaries of a PCA spectrum, each as a share of the number of components."""
    lam = variances.double()
    share = lam.cumsum(0) / lam.sum()
    width = len(lam)
    return {"participation": (lam.sum() ** 2 / lam.pow(2).sum()).item() / width,
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


# ---------------------------------------------------------------- words in the residual stream


def word_token_ids(tokenizer, words: Sequence[str], prefix: str = " ") -> dict[str, int]:
    """The words that are a single token after ``prefix`` (as inside a sentence), with that token's id."""
    out = {}
    for word in words:
        ids = tokenizer(prefix + word, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            out[word] = ids[0]
    return out


class TokenMeans(NamedTuple):
    words: list[str]
    means: Float[Tensor, "n_words d"]
    counts: list[int]


def token_means(tokens: Int[Tensor, "batch pos"], acts: Float[Tensor, "n d"], word_ids: dict[str, int],
                min_count: int = 1) -> TokenMeans:
    """Mean activation at each word's token over its occurrences (``acts`` harvested with ``skip_bos``).

    Words seen fewer than ``min_count`` times are left out.
    """
    flat = tokens[:, 1:].reshape(-1)
    if len(flat) != len(acts):
        raise ValueError(f"acts must hold one row per token after BOS ({len(flat)}), got {len(acts)}")
    words, means, counts = [], [], []
    for word, tid in word_ids.items():
        where = flat == tid
        if int(where.sum()) >= min_count:
            words.append(word)
            means.append(acts[where].mean(0))
            counts.append(int(where.sum()))
    if not words:
        raise ValueError(f"none of the {len(word_ids)} words occurs {min_count}+ times in these tokens")
    return TokenMeans(words, torch.stack(means), counts)


class CycleFit(NamedTuple):
    coords: Float[np.ndarray, "n 2"]
    """Top-2 PCA coordinates of the points."""
    angles: Float[np.ndarray, "n"]
    """Each point's angle in that plane."""
    explained: float
    """Share of the points' variance in those two components."""
    alignment: float
    """`circular_alignment` of the angles with the true phases."""
    in_order: bool
    """Whether going round by angle visits the points in their true cyclic order (either direction)."""


def circular_alignment(angles: Float[np.ndarray, "n"], phases: Float[np.ndarray, "n"]) -> float:
    """|mean exp(i(angle - s * phase))| at the better direction s = +-1: 1 when evenly spaced in true order."""
    return float(max(abs(np.exp(1j * (angles - s * phases)).mean()) for s in (1, -1)))


def cyclic_fit(points: Float[Tensor, "n d"], phases: Sequence[float]) -> CycleFit:
    """How well the top-2 PCA of ``points`` puts them on a circle at their true ``phases`` (radians)."""
    from sklearn.decomposition import PCA

    if len(points) != len(phases) or len(points) < 3:
        raise ValueError(f"need one phase per point and at least 3 points, got {len(points)} and {len(phases)}")
    pca = PCA(n_components=2).fit(points.numpy())
    coords = pca.transform(points.numpy())
    angles, phases = np.arctan2(coords[:, 1], coords[:, 0]), np.asarray(phases)
    by_angle = [int(i) for i in np.argsort(angles)]
    true = [int(i) for i in np.argsort(phases)]
    rotations = [true[r:] + true[:r] for r in range(len(true))]
    in_order = any(by_angle in (rot, rot[::-1]) for rot in rotations)
    return CycleFit(coords, angles, float(pca.explained_variance_ratio_.sum()), circular_alignment(angles, phases),
                    in_order)


def rank_correlation(a: Float[np.ndarray, "n"], b: Float[np.ndarray, "n"]) -> float:
    """Spearman's rank correlation (scipy's, so ties get average ranks)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def permutation_p_value(statistic: Callable[[np.ndarray], float], n: int, n_perm: int = 999,
                        seed: int = 0) -> tuple[float, float]:
    """(observed, p): ``statistic(order)`` for the true order ``arange(n)`` against random label orders."""
    rng = np.random.default_rng(seed)
    observed = statistic(np.arange(n))
    null = np.array([statistic(rng.permutation(n)) for _ in range(n_perm)])
    return observed, float((1 + (null >= observed).sum()) / (n_perm + 1))


def category_cosines(points: Float[Tensor, "n d"], labels: Sequence[str],
                     categories: Sequence[str]) -> Float[np.ndarray, "n n_categories"]:
    """Cosine of each point with each category's mean point, leaving the point out of its own category."""
    labels = np.asarray(labels)
    pts = points.double()
    out = np.zeros((len(pts), len(categories)))
    for c, cat in enumerate(categories):
        members = torch.from_numpy(labels == cat)
        count = int(members.sum())
        if count == 0:
            raise ValueError(f"category {cat!r} has no points")
        total = pts[members].sum(0)
        centres = (total / count).expand_as(pts).clone()  # [n, d]
        if count > 1:
            centres[members] = (total - pts[members]) / (count - 1)
        out[:, c] = F.cosine_similarity(pts, centres, dim=1).nan_to_num(0.0).numpy()
    return out


def word_firing_rates(sae: Dictionary, tokens: Int[Tensor, "batch pos"], acts: Float[Tensor, "n d"],
                      word_ids: dict[str, int]) -> tuple[list[str], Float[Tensor, "n_words width"]]:
    """For each word that occurs, the share of its occurrences on which each latent fires."""
    flat = tokens[:, 1:].reshape(-1)
    words, rates = [], []
    with torch.no_grad():
        for word, tid in word_ids.items():
            where = flat == tid
            if where.any():
                words.append(word)
                rates.append((sae.encode(acts[where]) > 0).float().mean(0))
    return words, torch.stack(rates)


# ---------------------------------------------------------------- blocks of latents


def coactivation(rows: Int[np.ndarray, "m"], latents: Int[np.ndarray, "m"], n_rows: int,
                 n_latents: int) -> Float[np.ndarray, "n_latents n_latents"]:
    """Cosine of latents' binary firing patterns, n_ij / sqrt(n_i n_j), from (token row, latent) firings."""
    fire = sp.csr_matrix((np.ones(len(rows)), (rows, latents)), shape=(n_rows, n_latents))
    fire.data[:] = 1.0  # a repeated pair still counts once
    both = (fire.T @ fire).toarray()
    alone = np.sqrt(np.diag(both)).clip(min=1)
    return both / np.outer(alone, alone)


def circular_shift(rows: Int[np.ndarray, "m"], latents: Int[np.ndarray, "m"], n_rows: int,
                   seed: int = 0) -> Int[np.ndarray, "m"]:
    """Null firings: each latent's pattern shifted in time by its own random offset.

    Keeps every latent's rate and burstiness, breaks which latents fire together.
    """
    offsets = np.random.default_rng(seed).integers(0, n_rows, size=int(latents.max()) + 1)
    return (rows + offsets[latents]) % n_rows


def cluster_latents(affinity: Float[np.ndarray, "m m"], n_clusters: int, seed: int = 0) -> Int[np.ndarray, "m"]:
    """Spectral clustering of a non-negative symmetric affinity matrix."""
    from sklearn.cluster import SpectralClustering

    if (affinity < 0).any() or not np.allclose(affinity, affinity.T):
        raise ValueError("affinity must be symmetric and non-negative")
    model = SpectralClustering(n_clusters=n_clusters, affinity="precomputed", random_state=seed,
                               assign_labels="cluster_qr")
    return model.fit_predict(affinity)


def _block_sums(values: Float[np.ndarray, "m m"], labels: Int[np.ndarray, "m"]) -> tuple[float, int, float, int]:
    """(sum, count) of off-diagonal entries inside clusters, then between clusters; one matmul, no m x m mask."""
    onehot = np.eye(int(labels.max()) + 1, dtype=values.dtype)[labels]  # [m, n_clusters]
    blocks = onehot.T @ (values @ onehot)  # [n_clusters, n_clusters] sums
    sizes = onehot.sum(0)
    inside = float(np.trace(blocks) - np.trace(values))
    n_inside = int((sizes ** 2).sum()) - len(labels)
    return inside, n_inside, float(blocks.sum() - np.trace(blocks)), len(labels) ** 2 - n_inside - len(labels)


def within_share(affinity: Float[np.ndarray, "m m"], labels: Int[np.ndarray, "m"]) -> float:
    """Share of the off-diagonal affinity that falls inside clusters (block structure: high)."""
    inside, _, between, _ = _block_sums(affinity, labels)
    return inside / (inside + between)


def within_minus_between(values: Float[np.ndarray, "m m"], labels: Int[np.ndarray, "m"]) -> float:
    """Mean off-diagonal value inside clusters minus the mean between clusters."""
    inside, n_inside, between, n_between = _block_sums(values, labels)
    return inside / n_inside - between / n_between


# ---------------------------------------------------------------- what writes a latent, what it serves


def writer_names(model, layer: int) -> list[str]:
    """The components that write the residual stream up to block ``layer``: embeddings, heads, MLPs."""
    heads = [f"L{l}H{h}" for l in range(layer + 1) for h in range(model.cfg.n_heads)]
    mlps = [] if model.cfg.attn_only else [f"MLP{l}" for l in range(layer + 1)]
    return ["embed", "pos", *heads, *mlps]


@torch.no_grad()
def latent_writers(model, sae: Dictionary, tokens: Int[Tensor, "batch pos"],
                   batch_size: int = 16) -> tuple[Float[Tensor, "width n_writers"], Int[Tensor, "width"]]:
    """Each latent's mean direct input from every upstream component, over the tokens where it fires.

    The residual stream after block ``L`` is the sum of the embeddings, every head's output, every
    MLP's output and constant biases, so a latent's pre-activation splits exactly into one term per
    component (`writer_names`) plus a constant. Returns (mean term per latent and component, number
    of firings per latent; latents that never fired have zeros). For an SAE on
    ``blocks.L.hook_resid_post`` only; position 0 (BOS) is skipped.
    """
    from mi_widgets.activations import iter_activations

    hook = sae.cfg.hook_in
    parts = hook.split(".")
    if sae.cfg.is_transcoder or len(parts) != 3 or parts[0] != "blocks" or parts[2] != "hook_resid_post":
        raise ValueError(f"latent_writers needs an SAE on blocks.L.hook_resid_post, not {hook!r}")
    layer = int(parts[1])
    hooks = ["hook_embed", "hook_pos_embed", hook]
    for l in range(layer + 1):
        hooks.append(f"blocks.{l}.attn.hook_z")
        if not model.cfg.attn_only:
            hooks.append(f"blocks.{l}.hook_mlp_out")
    w_o = [model.blocks[l].attn.W_O.detach() for l in range(layer + 1)]  # [heads, d_head, d_model]
    width = sae.cfg.width
    sums, counts = torch.zeros(width, len(writer_names(model, layer))), torch.zeros(width, dtype=torch.long)
    for acts in iter_activations(model, hooks, tokens, batch_size, skip_bos=True, progress=False):
        z = [acts[f"blocks.{l}.attn.hook_z"].view(-1, *w_o[l].shape[:2]) for l in range(layer + 1)]  # [n, h, e]
        heads = [torch.einsum("nhe,hed->hnd", z[l], w_o[l]) for l in range(layer + 1)]
        mlps = [acts[f"blocks.{l}.hook_mlp_out"][None] for l in range(layer + 1) if not model.cfg.attn_only]
        comps = torch.cat([acts["hook_embed"][None], acts["hook_pos_embed"][None], *heads, *mlps])  # [C, n, d]
        vals, idx, _, _ = sae.encode_sparse(acts[hook])  # [n, k]
        fired = vals > 0
        rows, latents = fired.nonzero(as_tuple=True)
        latents = idx[rows, latents]
        terms = torch.einsum("cnd,nd->nc", comps[:, rows], sae.W_enc.detach()[latents]) * sae.scale_in
        sums.index_add_(0, latents, terms)
        counts += torch.bincount(latents, minlength=width)
    return sums / counts.clamp_min(1)[:, None], counts


def main_writers(means: Float[Tensor, "m n_writers"], names: Sequence[str]) -> np.ndarray:
    """The component with the largest mean direct input to each latent (a name per row)."""
    return np.array(names)[means.argmax(1).numpy()]


@torch.no_grad()
def latent_capabilities(sae: Dictionary, model, stories: Sequence, capabilities: Sequence[str],
                        batch_size: int = 16) -> Float[Tensor, "width n_capabilities_plus_1"]:
    """Each latent's activation mass at positions whose next token a planted capability makes
    predictable, per capability; the last column is the mass at every other position.

    A residual-stream latent at position ``p`` serves the prediction of token ``p + 1``, so that
    token's label (`mi_widgets.organisms.stories` ground truth) is the capability the latent is working for.
    Stories are cut to the model's context.
    """
    from mi_widgets.activations import iter_activations
    from mi_widgets.logprobs import pad_rows
    from mi_widgets.organisms.corpus import capability_tokens

    if not stories:
        raise ValueError("need at least one story")
    col = {c: i for i, c in enumerate(capabilities)}
    n_ctx = model.cfg.n_ctx
    mass = torch.zeros(sae.cfg.width, len(capabilities) + 1)
    encoded = [capability_tokens(model.tokenizer, s) for s in stories]
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start: start + batch_size]
        tokens, lengths = pad_rows([ids[:n_ctx] for ids, _ in chunk], model.tokenizer.bos_token_id)
        where = torch.arange(tokens.shape[1])
        valid = (where >= 1) & (where < lengths[:, None] - 1)  # positions with a next token to serve (BOS skipped)
        label = torch.full(tokens.shape, len(capabilities), dtype=torch.long)
        for r, (_, marks) in enumerate(chunk):
            for cap, pos in marks:
                if cap in col and 1 <= pos - 1 < tokens.shape[1] and valid[r, pos - 1]:
                    label[r, pos - 1] = col[cap]
        acts = next(iter_activations(model, [sae.cfg.hook_in], tokens, len(tokens), skip_bos=True, progress=False))
        x = acts[sae.cfg.hook_in]
        keep = valid[:, 1:].reshape(-1)
        vals, idx, _, _ = sae.encode_sparse(x[keep])
        cap = label[:, 1:].reshape(-1)[keep][:, None].expand_as(idx)
        mass.index_put_((idx.reshape(-1), cap.reshape(-1)), vals.reshape(-1), accumulate=True)
    return mass


__all__ = ["AblationSearch", "CodePCA", "CycleFit", "TokenMeans", "ablation_search", "category_cosines",
           "circular_alignment", "circular_shift", "cluster_latents", "coactivation", "code_pca", "cyclic_fit",
           "latent_capabilities", "latent_writers", "main_writers", "pc_ablated", "permutation_p_value", "rank_correlation", "sparse_codes", "spectrum_stats",
           "token_means", "within_minus_between", "within_share", "word_firing_rates", "word_token_ids",
           "writer_names"]
