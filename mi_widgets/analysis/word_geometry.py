"""Words as points: token means in the residual stream, circles and lines of ordered concepts, categories.

    means = token_means(rows, acts, word_token_ids(tokenizer, words))
    fit = cyclic_fit(means.means, phases)                        # are days on a circle, in order?
    cos = category_cosines(points, labels, categories)           # how close each word is to each category

Introduced in ``notebooks/30_geometry/30_geometry.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.dictionaries.dictionary import Dictionary


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
    """``|mean exp(i(angle - s * phase))|`` at the better direction s = +-1: 1 when evenly spaced in true order."""
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


@torch.no_grad()
def context_means(model, hooks: Sequence[str], contexts: Sequence[str], words: Sequence[str]
                  ) -> dict[str, Float[Tensor, "n_words d"]]:
    """Each word's residual after the same left contexts, averaged over the contexts: a word's point with its
    context held fixed (a corpus mean mixes in where the word usually occurs: after which word, in which run).

    Each prompt is BOS + context + " " + word, and the word must be one token after a space.
    """
    if not contexts or not words:
        raise ValueError("need at least one context and one word")
    ids = word_token_ids(model.tokenizer, words)
    missing = [w for w in words if w not in ids]
    if missing:
        raise ValueError(f"words that are not one token after a space: {missing}")
    tok = model.tokenizer
    sums = {h: 0.0 for h in hooks}
    for context in contexts:
        prefix = [tok.bos_token_id, *tok(context, add_special_tokens=False)["input_ids"]]
        batch = torch.tensor([prefix + [ids[w]] for w in words])  # [n_words, pos]
        _, cache = model.run_with_cache(batch, names_filter=list(hooks))
        for h in hooks:
            sums[h] = sums[h] + cache[h][:, -1].float()  # [n_words, d]
    return {h: s / len(contexts) for h, s in sums.items()}
