"""50_superposition: the toy's forward pass and loss, feature dimensionality, opposite partners, a phase."""

from __future__ import annotations

import torch

from mi_widgets.analysis.superposition import extra_feature_phase, feature_dimensionality, opposite_partners, toy_loss
from mi_widgets.exercises.core import Case, Exercise, register


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def toy_forward_loss(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """The reference: ReLU(WᵀW x + b) for every instance, then each instance's importance-weighted loss."""
    out = torch.relu(torch.einsum("bih,ihf->bif", torch.einsum("bif,ihf->bih", x, W), W) + b)
    return toy_loss(out, x, importance)


def _forward_cases():
    W, b = _randn(3, 2, 5, seed=0), _randn(3, 5, seed=1) * 0.1
    x = torch.rand(16, 3, 5, generator=torch.Generator().manual_seed(2))
    x = x * (torch.rand(16, 3, 5, generator=torch.Generator().manual_seed(3)) < 0.5)
    importance = (0.9 ** torch.arange(5.0)).expand(3, 5)
    return [Case((W, b, x, importance), "3 instances of 5 features in 2 dimensions, importance 0.9^i"),
            Case((W[:1], b[:1] - 5, x[:, :1], importance[:1]), "a bias so negative that every output is 0")]


register(Exercise(
    "superposition.toy_forward_loss", toy_forward_loss, _forward_cases,
    mistakes=[(lambda W, b, x, imp: ((x - torch.relu(torch.einsum("bih,ihf->bif", torch.einsum("bif,ihf->bih", x, W), W)
                                                      + b)).pow(2)).sum(-1).mean(0),
               "weight each feature's squared error by its importance before summing over features"),
              (lambda W, b, x, imp: (imp * (x - torch.einsum("bih,ihf->bif", torch.einsum("bif,ihf->bih", x, W), W)
                                            - b).pow(2)).sum(-1).mean(0),
               "the output goes through a ReLU: x' = ReLU(WᵀW x + b)"),
              (lambda W, b, x, imp: (imp * (x - torch.relu(torch.einsum("bih,ihf->bif", torch.einsum(
                  "bif,ihf->bih", x, W), W) + b)).pow(2)).mean(-1).mean(0),
               "sum the weighted errors over features (the paper's loss), then average over the batch")]))


def _dimensionality_cases():
    pentagon = torch.stack([torch.cos(torch.arange(5) * 2 * torch.pi / 5), torch.sin(torch.arange(5) * 2 * torch.pi / 5)])
    pair = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])  # an antipodal pair, a dimension, nothing
    return [Case((pentagon[None],), "a regular pentagon: every D is 2/5"),
            Case((pair[None],), "an antipodal pair (1/2 each), a feature with its own dimension (1), and one left out (0)"),
            Case((_randn(4, 3, 6, seed=4),), "4 instances of random weights")]


register(Exercise(
    "superposition.feature_dimensionality", feature_dimensionality, _dimensionality_cases,
    mistakes=[(lambda W: W.norm(dim=-2).pow(2) / torch.einsum("...hi,...hj->...ij", W, W).pow(2).sum(-1).clamp_min(1e-12),
               "normalise W_i in the denominator: the overlaps are (Ŵ_i · W_j), with Ŵ_i the unit vector"),
              (lambda W: W.norm(dim=-2).pow(2) / torch.einsum("...hi,...hj->...ij", W / W.norm(dim=-2, keepdim=True).clamp_min(
                  1e-12), W).abs().sum(-1).clamp_min(1e-12),
               "square each overlap (Ŵ_i · W_j)² before summing over j")]))


def _partner_cases():
    d = torch.tensor([[1.0, 0.0], [-1.0, 0.05], [0.0, 1.0], [0.3, -1.0], [0.0, 0.0]])
    return [Case((d, -0.9), "two near-opposite pairs, a zero row; threshold -0.9"),
            Case((d, -0.999), "the same at threshold -0.999: only exact opposites count"),
            Case((_randn(12, 3, seed=5), -0.7), "12 random directions in 3-D, threshold -0.7")]


def _partners_without_threshold(d, threshold):
    unit = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = unit @ unit.T
    cos.fill_diagonal_(float("inf"))
    return cos.min(-1).indices


register(Exercise(
    "superposition.opposite_partners", opposite_partners, _partner_cases,
    mistakes=[(_partners_without_threshold, "a direction has a partner only when the cosine is below the threshold; "
               "return -1 for the others"),
              (lambda d, t: torch.where((d @ d.T).fill_diagonal_(1e9).min(-1).values < t, (d @ d.T).fill_diagonal_(1e9)
                                        .min(-1).indices, -1),
               "compare cosines, not dot products: normalise the rows first")]))


def _phase_cases():
    one_dim = torch.tensor([[[1.0, 0.0]], [[0.0, 1.1]], [[0.9, -1.0]], [[0.2, 0.1]]])
    two_dim = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, -0.9], [0.1, 0.0]]])
    return [Case((one_dim,), "4 instances in 1 dimension: extra left out, extra alone, both antipodal, neither"),
            Case((two_dim,), "2 instances in 2 dimensions: orthogonal, and antipodal")]


register(Exercise(
    "superposition.extra_feature_phase", extra_feature_phase, _phase_cases,
    mistakes=[(lambda W: ["superposed" if n[1] >= 0.5 and n[0] >= 0.5 else "own dimension" if n[1] >= 0.5
                          else "not represented" for n in W.norm(dim=1).tolist()],
               "two represented features are superposed only if they share a direction (|cosine| >= 0.5); "
               "orthogonal ones each have a dimension")]))
