"""Feature splitting: a toy model with planted splits, and tools to follow latents across dictionary widths.

    data = SplitFeatureData(seed=0)                    # children = parent + modifier_scale * modifier
    x = data.sample(200_000)                           # [n, d]
    saes = train_widths(x, [8, 256], k=2, settings=TrainSettings(tokens=500_000))
    narrow_sae, wide_sae = saes[8], saes[256]
    fam = latent_families(narrow_sae, wide_sae, x)     # each wide latent's parent in the narrow SAE
    deltas = child_deltas(narrow_sae.W_dec[fam.parent], wide_sae.W_dec[fam.child])
    nmf = signed_nmf(deltas, n_components=6)           # candidate modifier directions
    recovered_fraction(nmf.components, data.modifiers)  # from mi_widgets.dictionaries.synthetic_data

A child's *delta* is the part of its decoder direction orthogonal to its parent's: if children are
"parent + modifier", the deltas are the modifiers, and a modifier shared by several parents shows up
as deltas that point the same way in different families. Introduced in ``notebooks/31_splitting``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_dictionary
from mi_widgets.dictionaries.feature_index import active_latents
from mi_widgets.dictionaries.synthetic_data import SparseFeatureData
from mi_widgets.progress import progress_bar

_SALT = 0x5B1175  # not synthetic's salt: the background features must not share this generator's stream


def unit_rows(w: Float[Tensor, "m d"]) -> Float[Tensor, "m d"]:
    """Each row scaled to unit length (zero rows stay zero)."""
    return w / w.norm(dim=1, keepdim=True).clamp_min(1e-8)


@dataclass
class SplitFeatureData:
    """Sparse toy activations in which a few parent features split into children that share modifiers.

    Each row is background (a `SparseFeatureData` sample: single features, nothing to split) plus a
    few *family events*. An event picks a parent ``p`` and either shows it bare or one of its children,
    ``p + modifier_scale * m``; each parent has ``children_per_parent`` children with distinct
    modifiers, and every modifier recurs across parents. Parents and modifiers are orthonormal, so a
    child has cosine ``1 / sqrt(1 + modifier_scale**2)`` with its parent (0.78 at the default 0.8).
    """

    d: int = 32
    n_parents: int = 8
    n_modifiers: int = 6
    children_per_parent: int = 3
    modifier_scale: float = 0.8
    """Length of the modifier added to the (unit) parent direction in a child."""
    bare_fraction: float = 0.5
    """Share of family events that show the parent alone."""
    family_events: float = 1.0
    """Mean number of family events per row (each of ``2 * family_events`` slots is on with p=0.5)."""
    n_background: int = 32
    background_active: float = 1.0
    noise: float = 0.01
    seed: int = 0
    parents: Float[Tensor, "n_parents d"] = field(init=False, repr=False)
    modifiers: Float[Tensor, "n_modifiers d"] = field(init=False, repr=False)
    child_parent: Int[Tensor, "n_children"] = field(init=False, repr=False)
    child_modifier: Int[Tensor, "n_children"] = field(init=False, repr=False)
    background: SparseFeatureData = field(init=False, repr=False)

    def __post_init__(self):
        if self.n_parents + self.n_modifiers > self.d:
            raise ValueError(f"parents and modifiers are orthonormal, so n_parents + n_modifiers "
                             f"({self.n_parents + self.n_modifiers}) must be at most d ({self.d})")
        if not 1 <= self.children_per_parent <= self.n_modifiers:
            raise ValueError(f"children_per_parent must be in 1..n_modifiers ({self.n_modifiers}), "
                             f"got {self.children_per_parent}")
        if not 0 <= self.bare_fraction < 1 or self.family_events <= 0 or self.modifier_scale <= 0:
            raise ValueError("need 0 <= bare_fraction < 1, family_events > 0 and modifier_scale > 0, got "
                             f"{self.bare_fraction}, {self.family_events}, {self.modifier_scale}")
        self._gen = torch.Generator().manual_seed(_SALT + self.seed)
        q, _ = torch.linalg.qr(torch.randn(self.d, self.n_parents + self.n_modifiers, generator=self._gen))
        self.parents, self.modifiers = q[:, :self.n_parents].T.contiguous(), q[:, self.n_parents:].T.contiguous()
        # Each parent takes the least-used modifiers so far (random tie-break): every modifier recurs.
        uses, chosen = torch.zeros(self.n_modifiers), []
        for _ in range(self.n_parents):
            pick = (uses + torch.rand(self.n_modifiers, generator=self._gen)).argsort()[:self.children_per_parent]
            uses[pick] += 1
            chosen.append(pick)
        self.child_modifier = torch.cat(chosen)
        self.child_parent = torch.arange(self.n_parents).repeat_interleave(self.children_per_parent)
        self.background = SparseFeatureData(d=self.d, n_features=self.n_background, active=self.background_active,
                                            noise=self.noise, seed=self.seed)

    @property
    def children(self) -> Float[Tensor, "n_children d"]:
        """Unit direction of each child: parent + modifier_scale * modifier, normalised."""
        return unit_rows(self.parents[self.child_parent] + self.modifier_scale * self.modifiers[self.child_modifier])

    def sample(self, n: int) -> Float[Tensor, "n d"]:
        """``n`` more rows (the generators continue, so successive calls give fresh data)."""
        slots = max(1, int(round(2 * self.family_events)))
        g = self._gen
        on = torch.rand(n, slots, generator=g) < 0.5
        parent = torch.randint(0, self.n_parents, (n, slots), generator=g)
        child = parent * self.children_per_parent + torch.randint(0, self.children_per_parent, (n, slots), generator=g)
        with_modifier = torch.rand(n, slots, generator=g) >= self.bare_fraction
        mags = -torch.log(torch.rand(n, slots, generator=g).clamp_min(1e-12)) * on  # Exp(1) when on
        events = self.parents[parent] + self.modifier_scale * self.modifiers[self.child_modifier[child]] \
            * with_modifier.unsqueeze(-1)  # [n, slots, d]
        return self.background.sample(n) + (mags.unsqueeze(-1) * events).sum(1)


def train_widths(x: Float[Tensor, "n d"], widths: Sequence[int], k: int, settings: TrainSettings,
                 seed: int = 0) -> dict[int, Dictionary]:
    """One TopK SAE per width, all trained on the same rows ``x`` (``k`` is capped at the width)."""
    if not widths or any(w <= 0 for w in widths):
        raise ValueError(f"widths must be positive integers, got {list(widths)}")
    saes = {}
    for width in progress_bar(widths, desc="SAE widths", unit="SAE", disable=not settings.progress):
        sae = Dictionary(DictConfig(d_in=x.shape[1], width=width, k=min(k, width)), seed=seed)
        train_dictionary(sae, x, replace(settings, progress=False))
        saes[width] = sae
    return saes


class Families(NamedTuple):
    """Wide latents matched to a parent latent of a narrower dictionary (one entry per child)."""

    parent: Int[Tensor, "m"]
    """Narrow latent of each child."""
    child: Int[Tensor, "m"]
    cosine: Float[Tensor, "m"]
    """Decoder cosine of child and parent."""
    coactivation: Float[Tensor, "m"]
    """Share of the child's activations on which the parent is active too."""
    narrow_counts: Int[Tensor, "narrow_width"]
    """How often each narrow latent fired on the data (0: dead)."""
    wide_counts: Int[Tensor, "wide_width"]

    @property
    def n_families(self) -> int:
        return int(self.parent.unique().numel())


@torch.no_grad()
def latent_families(narrow: Dictionary, wide: Dictionary, x: Float[Tensor, "n d_in"], min_cosine: float = 0.5,
                    min_coactivation: float = 0.5, min_children: int = 2, min_count: int = 10,
                    batch_size: int = 8192) -> Families:
    """Split families: wide latents whose closest narrow latent (by decoder cosine) also fires with them.

    A latent that fires fewer than ``min_count`` times on ``x`` (dead, or too rare to judge) is neither
    a parent nor a child. A wide latent is a child of the live narrow latent with the highest decoder
    cosine if that cosine is at least ``min_cosine`` and the parent is active on at least
    ``min_coactivation`` of the child's activations; parents with fewer than ``min_children``
    children are dropped (one child is a copy, not a split).
    """
    if narrow.cfg.d_in != wide.cfg.d_in or x.shape[-1] != narrow.cfg.d_in:
        raise ValueError(f"both dictionaries must read the same activations as x; got d_in {narrow.cfg.d_in}, "
                         f"{wide.cfg.d_in} and x of shape {tuple(x.shape)}")
    if narrow.cfg.width > wide.cfg.width:
        # Equal widths are allowed: two seeds of one width measure how much "splitting" is training noise.
        raise ValueError(f"narrow must not have more latents than wide, got widths {narrow.cfg.width} and {wide.cfg.width}")
    if not (0 <= min_cosine <= 1 and 0 <= min_coactivation <= 1 and min_children >= 1 and min_count >= 1):
        raise ValueError("need min_cosine and min_coactivation in [0, 1], min_children >= 1 and min_count >= 1")
    n_rows, n_lat, _ = active_latents(narrow, x, batch_size)
    w_rows, w_lat, _ = active_latents(wide, x, batch_size)
    narrow_counts = torch.bincount(n_lat, minlength=narrow.cfg.width)
    wide_counts = torch.bincount(w_lat, minlength=wide.cfg.width)
    cos = unit_rows(wide.W_dec.detach()) @ unit_rows(narrow.W_dec.detach()).T  # [wide, narrow]
    cos[:, narrow_counts < min_count] = -2.0  # dead parents cannot adopt
    best_cos, best = cos.max(dim=1)
    # Co-activation of each wide latent with its best parent: is (row, parent) among the narrow actives?
    narrow_keys = n_rows * narrow.cfg.width + n_lat
    both = torch.isin(w_rows * narrow.cfg.width + best[w_lat], narrow_keys)
    co = torch.bincount(w_lat[both], minlength=wide.cfg.width) / wide_counts.clamp_min(1)
    keep = (wide_counts >= min_count) & (best_cos >= min_cosine) & (co >= min_coactivation)
    sizes = torch.bincount(best[keep], minlength=narrow.cfg.width)
    keep &= sizes[best] >= min_children
    child = keep.nonzero().flatten()
    parent = best[child]
    order = torch.argsort(parent * wide.cfg.width + child)  # grouped by family
    child, parent = child[order], parent[order]
    return Families(parent, child, best_cos[child], co[child], narrow_counts, wide_counts)


def child_deltas(parents: Float[Tensor, "m d"], children: Float[Tensor, "m d"]) -> Float[Tensor, "m d"]:
    """Unit vector of the part of each child direction orthogonal to its parent direction."""
    if parents.shape != children.shape or parents.ndim != 2:
        raise ValueError(f"parents and children must be matching [m, d] arrays, got {tuple(parents.shape)} "
                         f"and {tuple(children.shape)}")
    p, c = unit_rows(parents.detach()), unit_rows(children.detach())
    return unit_rows(c - (c * p).sum(1, keepdim=True) * p)


def null_deltas(parents: Float[Tensor, "m d"], deltas: Float[Tensor, "m d"], kind: str = "matched",
                seed: int = 0) -> Float[Tensor, "m d"]:
    """Random stand-ins for ``deltas``, orthogonal to the same parents.

    ``"matched"``: Gaussian with the deltas' own mean and covariance (keeps their anisotropy: any
    direction the deltas favour on average, the null favours too; only a recurring *discrete*
    direction beats it). ``"isotropic"``: uniform random directions.
    """
    gen = torch.Generator().manual_seed(seed)
    if kind == "matched":
        # Mixing the centred deltas with Gaussian weights gives exactly their covariance, whatever its rank.
        centred = deltas - deltas.mean(0)
        z = torch.randn(len(deltas), len(deltas), generator=gen) @ centred / len(deltas) ** 0.5 + deltas.mean(0)
    elif kind == "isotropic":
        z = torch.randn(deltas.shape, generator=gen)
    else:
        raise ValueError(f"kind must be 'matched' or 'isotropic', got {kind!r}")
    return child_deltas(parents, z)


class Planted(NamedTuple):
    deltas: Float[Tensor, "m d"]
    """The deltas with some replaced by planted ones."""
    modifiers: Float[Tensor, "n_modifiers d"]
    """The planted unit directions."""
    rows: Int[Tensor, "n_modifiers families_per_modifier"]
    """Which deltas carry each modifier (one per family)."""


def plant_modifiers(parents: Float[Tensor, "m d"], deltas: Float[Tensor, "m d"], family: Int[Tensor, "m"],
                    cosine: float, n_modifiers: int = 8, families_per_modifier: int = 4, seed: int = 0) -> Planted:
    """Plant shared modifiers of known size into real deltas: the power check of a "no modifier" result.

    Each of ``n_modifiers`` random directions goes into one delta in each of ``families_per_modifier``
    different families, replacing that delta by ``cosine * m + sqrt(1 - cosine**2) * rest``, where ``m``
    is the modifier made orthogonal to the delta's parent and ``rest`` the delta's own direction
    orthogonal to ``m``. So a planted delta keeps its parent-orthogonality and has exactly ``cosine``
    with its modifier; two deltas sharing a modifier have cosine about ``cosine**2``.
    """
    if len(parents) != len(deltas) or len(deltas) != len(family):
        raise ValueError(f"need one parent and one family per delta, got {len(parents)}, {len(deltas)}, {len(family)}")
    if not 0 < cosine <= 1:
        raise ValueError(f"cosine must be in (0, 1], got {cosine}")
    families = family.unique()
    if families_per_modifier > len(families) or n_modifiers * families_per_modifier > len(deltas):
        raise ValueError(f"cannot plant {n_modifiers} modifiers in {families_per_modifier} families each into "
                         f"{len(deltas)} deltas of {len(families)} families")
    gen = torch.Generator().manual_seed(seed)
    modifiers = unit_rows(torch.randn(n_modifiers, deltas.shape[1], generator=gen))
    free = torch.ones(len(deltas), dtype=torch.bool)
    out, rows = deltas.clone(), []
    for m in modifiers:
        picked = []
        for f in families[torch.randperm(len(families), generator=gen)]:
            candidates = (free & (family == f)).nonzero().flatten()
            if len(candidates):
                picked.append(int(candidates[torch.randint(len(candidates), (1,), generator=gen)]))
                free[picked[-1]] = False
            if len(picked) == families_per_modifier:
                break
        if len(picked) < families_per_modifier:
            raise ValueError("too few free deltas left to plant every modifier in distinct families")
        idx = torch.tensor(picked)
        m_perp = child_deltas(parents[idx], m.expand(len(idx), -1))  # the modifier, orthogonal to each parent
        own = unit_rows(deltas[idx])
        rest = unit_rows(own - (own * m_perp).sum(1, keepdim=True) * m_perp)
        out[idx] = cosine * m_perp + (1 - cosine ** 2) ** 0.5 * rest
        rows.append(idx)
    return Planted(out, modifiers, torch.stack(rows))


def cross_family_best(vectors: Float[Tensor, "m d"], family: Int[Tensor, "m"]) -> Float[Tensor, "m"]:
    """For each vector, its highest cosine with a vector of a *different* family."""
    if len(vectors) != len(family):
        raise ValueError(f"need one family label per vector, got {len(vectors)} vectors and {len(family)} labels")
    if family.unique().numel() < 2:
        raise ValueError("need vectors from at least two families to compare across families")
    v = unit_rows(vectors)
    sims = v @ v.T
    sims[family.unsqueeze(0) == family.unsqueeze(1)] = -2.0
    return sims.max(dim=1).values


def signed_split(vectors: Float[Tensor, "m d"]) -> Float[Tensor, "m 2d"]:
    """Each signed ``v`` as ``[relu(v), relu(-v)]``: non-negative, twice the dimensions, nothing lost."""
    return torch.cat([vectors.clamp_min(0), (-vectors).clamp_min(0)], dim=1)


class SignedNMF(NamedTuple):
    components: Float[Tensor, "r d"]
    """Unit directions (positive part minus negative part of each NMF component)."""
    weights: Float[Tensor, "m r"]
    explained: float
    """Share of the split vectors' squared norm the factorisation explains."""


def signed_nmf(vectors: Float[Tensor, "m d"], n_components: int, seed: int = 0, max_iter: int = 300) -> SignedNMF:
    """NMF of signed vectors: each ``v`` becomes ``[relu(v), relu(-v)]`` (2d, non-negative, exact).

    A vector that is a non-negative mix of a few directions stays one in this form as long as their
    signs do not cancel in a coordinate, so the factors map back to signed directions ``h+ - h-``.
    """
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    if not 1 <= n_components <= min(vectors.shape):
        raise ValueError(f"n_components must be in 1..{min(vectors.shape)} for {tuple(vectors.shape)} vectors, "
                         f"got {n_components}")
    d = vectors.shape[1]
    split = signed_split(vectors.detach()).float().numpy()
    model = NMF(n_components, init="nndsvda", random_state=seed, max_iter=max_iter)
    # One BLAS thread: these matrices are small, and on a busy 2-core machine two threads ran 14x slower.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # the directions settle long before the loss stops creeping
        w = model.fit_transform(split)
    h = torch.from_numpy(model.components_).float()
    explained = 1 - ((split - w @ model.components_) ** 2).sum() / (split ** 2).sum()
    return SignedNMF(unit_rows(h[:, :d] - h[:, d:]), torch.from_numpy(w).float(), float(explained))



def component_reach(components: Float[Tensor, "r d"], vectors: Float[Tensor, "m d"], family: Int[Tensor, "m"],
                    min_cosine: float = 0.8) -> Int[Tensor, "r"]:
    """For each component, how many distinct families hold a vector within ``min_cosine`` of it."""
    if len(vectors) != len(family):
        raise ValueError(f"need one family label per vector, got {len(vectors)} vectors and {len(family)} labels")
    near = (unit_rows(components) @ unit_rows(vectors).T >= min_cosine).float()  # [r, m]
    _, fam = family.unique(return_inverse=True)
    per_family = torch.zeros(len(components), int(fam.max()) + 1).index_add_(1, fam, near)  # [r, families]
    return (per_family > 0).sum(1)

def enriched_context(context: Int[Tensor, "n"], child_where: Int[Tensor, "a"], parent_where: Int[Tensor, "b"],
                     min_share: float = 0.3) -> int:
    """The context token most over-represented where the child fires, relative to its parent; -1 if none.

    ``context`` holds one token id per harvested position (e.g. the previous token), ``*_where`` the
    positions where each latent fires (`FeatureIndex.activations`). The winner must also make up at
    least ``min_share`` of the child's positions, so a label means "this child is mostly about X".
    """
    if len(child_where) == 0 or len(parent_where) == 0:
        return -1
    tokens, counts = context[child_where].unique(return_counts=True)  # only the child's tokens can win
    child = counts.float() / len(child_where)
    parent = (context[parent_where].unsqueeze(1) == tokens.unsqueeze(0)).float().mean(0)
    best = int((child - parent).argmax())
    return int(tokens[best]) if child[best] >= min_share and child[best] > parent[best] else -1


def same_label_cosine(vectors: Float[Tensor, "m d"], family: Int[Tensor, "m"],
                      labels: Int[Tensor, "m"]) -> tuple[float, float, int]:
    """Mean cosine of cross-family pairs that share a label (>= 0), of all cross-family pairs, and how
    many labelled pairs there are: do children with the same context in different families point alike?"""
    if not len(vectors) == len(family) == len(labels):
        raise ValueError(f"need one family and one label per vector, got {len(vectors)}, {len(family)}, {len(labels)}")
    v = unit_rows(vectors)
    sims = v @ v.T
    cross = family.unsqueeze(0) != family.unsqueeze(1)
    same = cross & (labels.unsqueeze(0) == labels.unsqueeze(1)) & (labels >= 0).unsqueeze(0)
    if not same.any():
        return float("nan"), float(sims[cross].mean()), 0
    return float(sims[same].mean()), float(sims[cross].mean()), int(same.sum()) // 2
