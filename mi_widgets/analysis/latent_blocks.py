"""Blocks of SAE latents that fire together, what writes each latent, and which capability it serves.

    affinity = coactivation(token_rows, latents, n_tokens, n_latents)
    labels = cluster_latents(affinity, 16)                       # co-activation blocks
    writers = latent_writers(model, sae, tokens)                 # each latent's pre-activation split by writer

Introduced in ``notebooks/30_geometry/30_geometry.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.activations import iter_activations
from mi_widgets.dictionaries.dictionary import Dictionary
from mi_widgets.logprobs import pad_rows
from mi_widgets.organisms.corpus import capability_tokens


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


def effective_rank(vectors: Float[np.ndarray, "m d"]) -> float:
    """exp of the entropy of the normalised squared singular values: 1 for vectors along one direction,
    m for m orthogonal ones (Roy and Vetterli, 2007)."""
    s2 = np.linalg.svd(np.asarray(vectors, dtype=np.float64), compute_uv=False) ** 2
    p = s2[s2 > 0] / s2.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def mean_block_rank(directions: Float[np.ndarray, "m d"], labels: Int[np.ndarray, "m"]) -> float:
    """Mean over blocks of two or more members of the effective rank of their (unit) directions, each as a
    share of the block's size: low when each block spans a subspace smaller than its member count."""
    ranks = [effective_rank(directions[labels == b]) / (labels == b).sum()
             for b in np.unique(labels) if (labels == b).sum() >= 2]
    return float(np.mean(ranks))
