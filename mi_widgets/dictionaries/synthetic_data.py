"""Synthetic activations built from known directions: a ground truth to score dictionary learning against.

    data = SparseFeatureData(d=128, n_features=2048, active=8, seed=0)
    x = data.sample(100_000)                      # [n, d]
    recovered_fraction(sae.W_dec, data.directions)  # share of true directions some decoder row matches

Each row is a sum of about ``active`` random true directions (unit vectors) with exponentially
distributed magnitudes, plus small Gaussian noise. A dictionary that learned the data's real
structure has, for most true directions, a decoder row at cosine above 0.9.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from jaxtyping import Float
from torch import Tensor

_SALT = 0x5EED_DA7A


@dataclass
class SparseFeatureData:
    d: int = 128
    n_features: int = 2048
    active: float = 8.0
    """Mean number of active features per row (each of ``2 * active`` candidates is on with p=0.5)."""
    noise: float = 0.01
    """Standard deviation of the Gaussian noise per dimension."""
    seed: int = 0
    directions: Float[Tensor, "n_features d"] = field(init=False, repr=False)

    def __post_init__(self):
        if not 0 < self.active <= self.n_features / 2:
            raise ValueError(f"active must be in (0, n_features / 2], got {self.active}")
        # Salted: a dictionary initialised with the same seed draws the same normal numbers, and would
        # start out equal to the true directions.
        self._gen = torch.Generator().manual_seed(_SALT + self.seed)
        dirs = torch.randn(self.n_features, self.d, generator=self._gen)
        self.directions = dirs / dirs.norm(dim=1, keepdim=True)

    def sample(self, n: int) -> Float[Tensor, "n d"]:
        """``n`` more rows (the generator continues, so successive calls give fresh data)."""
        slots = int(round(2 * self.active))
        idx = torch.randint(0, self.n_features, (n, slots), generator=self._gen)
        on = torch.rand(n, slots, generator=self._gen) < 0.5
        mags = -torch.log(torch.rand(n, slots, generator=self._gen).clamp_min(1e-12)) * on  # Exp(1) when on
        x = torch.nn.functional.embedding_bag(idx, self.directions, per_sample_weights=mags, mode="sum")
        return x + self.noise * torch.randn(n, self.d, generator=self._gen)


@torch.no_grad()
def recovered_fraction(decoder: Float[Tensor, "width d"], directions: Float[Tensor, "n_features d"],
                       threshold: float = 0.9) -> float:
    """Share of true directions whose best-matching decoder row has cosine similarity above ``threshold``."""
    dec = decoder / decoder.norm(dim=1, keepdim=True).clamp_min(1e-8)
    best = (directions @ dec.T).max(dim=1).values
    return (best > threshold).float().mean().item()
