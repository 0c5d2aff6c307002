"""Toy models of superposition (Elhage et al. 2022), many instances trained as one tensor, and what the paper
reads from them: each feature's dimensionality, the angles between features, which features sit opposite.

    toy = ToyModel(n_features=5, d_hidden=2, probability=density_sweep(8), importance=0.9 ** torch.arange(5.0))
    train_toy(toy, steps=5_000)                   # every instance at once: one [instance, ...] tensor of weights
    feature_dimensionality(toy.W)                 # [instance, feature]: 1 for a dimension of its own, 2/5 in a pentagon

An instance is one model: its weights are ``W[i]`` (``d_hidden x n_features``) and ``b[i]``, its inputs are
drawn with its own feature probability. Instances never interact: the training loss is their sum.
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import Tensor, nn

from mi_widgets.progress import progress_bar

STICKY = (1.0, 3 / 4, 2 / 3, 1 / 2, 2 / 5, 3 / 8)
"""The dimensionalities features settle at in the paper: a dimension of their own (1), a tetrahedron (3/4),
a triangle (2/3), an antipodal pair (1/2), a pentagon (2/5), a square antiprism (3/8)."""

CORRELATIONS = ("independent", "correlated", "anticorrelated")


def density_sweep(n: int, lowest: float = 0.02) -> Float[Tensor, "n"]:
    """``n`` feature probabilities from 1 (dense) down to ``lowest``, evenly spaced on a log scale."""
    return lowest ** torch.linspace(0, 1, n)


class ToyModel(nn.Module):
    """The ReLU output model x' = ReLU(WᵀW x + b), one instance per row of ``probability``.

    Args:
        - ``n_features``, ``d_hidden``: the features (the inputs) and the hidden dimensions they must share.
        - ``probability``: [instance] or [instance, feature], the chance that a feature is non-zero in a row.
        - ``importance``: [feature] or [instance, feature], the weight of each feature's error in the loss.
        - ``correlation``: "independent", or features in consecutive sets of ``set_size`` that are always
          active together ("correlated") or never together ("anticorrelated"); each feature is active with
          its own probability either way.
    """

    def __init__(self, n_features: int, d_hidden: int, probability: Tensor, importance: Tensor | None = None,
                 correlation: str = "independent", set_size: int = 2, seed: int = 0):
        super().__init__()
        probability = torch.as_tensor(probability, dtype=torch.float32)
        if probability.ndim not in (1, 2) or probability.numel() == 0:
            raise ValueError("probability must be a non-empty [instance] or [instance, feature] tensor")
        if not ((probability > 0) & (probability <= 1)).all():
            raise ValueError("every feature probability must be in (0, 1]")
        if correlation not in CORRELATIONS:
            raise ValueError(f"correlation must be one of {CORRELATIONS}, got {correlation!r}")
        if correlation != "independent" and n_features % set_size:
            raise ValueError(f"{n_features} features do not make sets of {set_size}")
        n_instances = probability.shape[0]
        probability = probability[:, None].expand(n_instances, n_features) if probability.ndim == 1 else probability
        importance = torch.ones(n_features) if importance is None else torch.as_tensor(importance, dtype=torch.float32)
        self.register_buffer("probability", probability.clone())
        self.register_buffer("importance", importance.expand(n_instances, n_features).clone())
        self.correlation, self.set_size = correlation, set_size
        gen = torch.Generator().manual_seed(seed)
        # Xavier-normal for each instance's d_hidden x n_features matrix (the scale must not depend on how many
        # instances there are); instance i's start is the same in any batch of instances.
        std = math.sqrt(2 / (d_hidden + n_features))
        self.W = nn.Parameter(torch.randn(n_instances, d_hidden, n_features, generator=gen) * std)
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))

    def hidden(self, x: Float[Tensor, "batch inst feat"]) -> Float[Tensor, "batch inst hidden"]:
        """The hidden activations W x of every instance: what an SAE on the toy reads."""
        return torch.einsum("bif,ihf->bih", x, self.W)

    def forward(self, x: Float[Tensor, "batch inst feat"]) -> Float[Tensor, "batch inst feat"]:
        """The reconstruction x' = ReLU(WᵀW x + b) of every instance."""
        return torch.relu(torch.einsum("bih,ihf->bif", self.hidden(x), self.W) + self.b)

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Float[Tensor, "batch inst feat"]:
        """Rows of features: each active one uniform in [0, 1], the rest zero."""
        n_inst, n_feat = self.probability.shape
        if self.correlation == "independent":  # one draw u per entry: active when u < p, and then u / p is uniform
            u = torch.rand(batch, n_inst, n_feat, generator=generator)
            return torch.where(u < self.probability, u / self.probability, torch.zeros(()))
        values = torch.rand(batch, n_inst, n_feat, generator=generator)
        sets = n_feat // self.set_size
        p_set = self.probability.view(n_inst, sets, self.set_size)[..., 0]  # one probability per set
        if self.correlation == "correlated":
            on = torch.rand(batch, n_inst, sets, generator=generator) < p_set
            active = on.repeat_interleave(self.set_size, dim=-1)
        else:  # the set is active with the summed chance, then exactly one of its features is
            on = torch.rand(batch, n_inst, sets, generator=generator) < (p_set * self.set_size).clamp(max=1)
            which = torch.randint(self.set_size, (batch, n_inst, sets), generator=generator)
            active = (nn.functional.one_hot(which, self.set_size).bool() & on[..., None]).flatten(-2)
        return values * active


def toy_loss(out: Float[Tensor, "batch inst feat"], x: Float[Tensor, "batch inst feat"],
             importance: Float[Tensor, "inst feat"]) -> Float[Tensor, "inst"]:
    """Each instance's importance-weighted squared error, summed over features, averaged over the batch."""
    return (importance * (x - out).pow(2)).sum(-1).mean(0)


def train_toy(model: ToyModel, steps: int = 5_000, batch_size: int = 1024, lr: float = 1e-3, seed: int = 0,
              progress: bool = True) -> Float[Tensor, "inst"]:
    """Train every instance at once with Adam (cosine-decayed learning rate); returns each instance's loss on
    a fresh batch of 16,384 rows."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    for _ in progress_bar(range(steps), desc="training toy models", unit="step", disable=not progress):
        x = model.sample(batch_size, gen)
        loss = toy_loss(model(x), x, model.importance).sum()  # a sum: each instance gets its own gradient
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    with torch.no_grad():
        x = model.sample(16_384, gen)
        return toy_loss(model(x), x, model.importance)


def feature_dimensionality(W: Float[Tensor, "... hidden feat"], eps: float = 1e-12) -> Float[Tensor, "... feat"]:
    """D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)²: the share of a hidden dimension that feature i has to itself
    (1: its own dimension, 1/2: an antipodal pair, 0: not represented)."""
    norms = W.norm(dim=-2, keepdim=True)
    overlaps = torch.einsum("...hi,...hj->...ij", W / (norms + eps), W)
    return norms.squeeze(-2).pow(2) / (overlaps.pow(2).sum(-1) + eps)


def adjacent_angles(W: Float[Tensor, "2 feat"], min_norm: float = 0.5) -> Float[Tensor, "n"]:
    """The angles in degrees between neighbouring represented features of a 2-D instance, going round the
    circle (they sum to 360)."""
    if W.shape[0] != 2:
        raise ValueError(f"adjacent angles need a 2-D hidden space, got {W.shape[0]} dimensions")
    shown = W[:, W.norm(dim=0) > min_norm]
    if shown.shape[1] < 2:
        return torch.empty(0)
    angles = torch.atan2(shown[1], shown[0]).sort().values
    gaps = torch.diff(torch.cat([angles, angles[:1] + 2 * math.pi]))
    return torch.rad2deg(gaps)


def opposite_partners(directions: Float[Tensor, "n d"], threshold: float = -0.9) -> Tensor:
    """For each direction, the index of the other one with the lowest cosine to it if that cosine is below
    ``threshold``, else -1. Rows of zeros (features a toy did not represent) have no partner."""
    norms = directions.norm(dim=-1, keepdim=True)
    unit = directions / norms.clamp_min(1e-12)
    cos = unit @ unit.T
    cos.fill_diagonal_(math.inf)
    cos[(norms.squeeze(-1) == 0)] = math.inf
    cos[:, norms.squeeze(-1) == 0] = math.inf
    lowest, partner = cos.min(-1)
    return torch.where(lowest < threshold, partner, torch.full_like(partner, -1))


def opposing_share(directions: Float[Tensor, "n d"], threshold: float = -0.9, chunk: int = 4096) -> float:
    """The share of directions (e.g. decoder rows) whose most opposite partner has cosine below ``threshold``;
    computed in chunks of rows, so a dictionary of any width fits in memory."""
    unit = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    found = 0
    for start in range(0, len(unit), chunk):
        cos = unit[start:start + chunk] @ unit.T
        cos[torch.arange(len(cos)), torch.arange(start, start + len(cos))] = math.inf
        found += int((cos.min(-1).values < threshold).sum())
    return found / len(unit)


def extra_feature_phase(W: Float[Tensor, "inst hidden 2"], min_norm: float = 0.5) -> list[str]:
    """The paper's phase of the second ("extra") feature of each instance of a 2-feature toy: "not
    represented", "own dimension" (it is represented and the first one is not, or the two are orthogonal), or
    "superposed" (both represented, sharing a direction)."""
    norms = W.norm(dim=1)
    cos = torch.nn.functional.cosine_similarity(W[..., 0], W[..., 1], dim=-1)
    phases = []
    for (n_first, n_extra), c in zip(norms.tolist(), cos.tolist()):
        if n_extra < min_norm:
            phases.append("not represented")
        elif n_first < min_norm or abs(c) < 0.5:
            phases.append("own dimension")
        else:
            phases.append("superposed")
    return phases


def sticky_share(dims: Float[Tensor, "n"], window: float = 0.03) -> float:
    """The share of dimensionalities within ``window`` of a value in `STICKY`."""
    if dims.numel() == 0:
        return float("nan")
    near = (dims[:, None] - torch.tensor(STICKY)[None]).abs().min(-1).values <= window
    return float(near.float().mean())


def sticky_share_by_chance(low: float, high: float, window: float = 0.03) -> float:
    """The share `sticky_share` would give dimensionalities spread evenly over [low, high]: the null to beat."""
    if high <= low:
        return float("nan")
    grid = torch.linspace(low, high, 10_001)
    return sticky_share(grid, window)
