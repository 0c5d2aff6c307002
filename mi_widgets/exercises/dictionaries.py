"""10_dictionaries: a TopK encoder, FVU, loss recovered, the dead fraction."""

from __future__ import annotations

import torch

from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.metrics import SpliceStats, fvu
from mi_widgets.exercises.core import Case, Exercise, register


def _weights(d: int, width: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(12, d, generator=gen) + 0.5
    return x, torch.randn(width, d, generator=gen), torch.randn(width, generator=gen) * 0.3, torch.randn(d, generator=gen)


def topk_reference(x, W_enc, b_enc, b_dec, k: int) -> torch.Tensor:
    """The package's TopK encoder with these weights: dense codes [n, width]."""
    width, d = W_enc.shape
    sae = Dictionary(DictConfig(d_in=d, width=width, k=k))
    with torch.no_grad():
        sae.W_enc.copy_(W_enc)
        sae.b_enc.copy_(b_enc)
        sae.b_dec.copy_(b_dec)
    return sae.encode(x).detach()


def _topk_cases():
    return [Case((*_weights(6, 20, 0), 4), "d 6, width 20, k 4"), Case((*_weights(3, 8, 1), 1), "k 1"),
            Case((*_weights(5, 10, 2), 10), "k equal to the width (ReLU still applies)")]


def _dense_topk(pre, k):
    vals, idx = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, idx, vals)


register(Exercise(
    "dictionaries.topk_encode", topk_reference, _topk_cases,
    mistakes=[(lambda x, W, b, bd, k: _dense_topk(x @ W.T + b, k).relu(),
               "subtract the decoder bias b_dec from x before encoding (an SAE encodes the offset from it)"),
              (lambda x, W, b, bd, k: _dense_topk((x - bd) @ W.T + b, k),
               "some kept values are negative: apply a ReLU to the k largest pre-activations"),
              (lambda x, W, b, bd, k: ((x - bd) @ W.T + b).relu(),
               "every positive latent is on: keep only the k largest pre-activations per row")]))


def _fvu_cases():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(50, 8, generator=gen) * torch.linspace(0.5, 3, 8) + 4.0  # a large mean: centring matters
    return [Case((x, x + 0.3 * torch.randn(50, 8, generator=gen)), "a noisy reconstruction"),
            Case((x, x.mean(0).expand_as(x).clone()), "the mean as reconstruction (FVU 1)"),
            Case((x, x.clone()), "a perfect reconstruction (FVU 0)")]


register(Exercise(
    "dictionaries.fvu", fvu, _fvu_cases,
    mistakes=[(lambda x, xh: float((x - xh).pow(2).sum() / x.pow(2).sum()),
               "divide by the variance of x around its mean (centre x), not by its raw squared norm"),
              (lambda x, xh: float((x - xh).pow(2).mean()),
               "that is the mean squared error; FVU divides it by the data's total variance"),
              (lambda x, xh: float((x - xh).pow(2).sum() / (xh - xh.mean(0)).pow(2).sum()),
               "divide by the variance of the data x, not of the reconstruction")]))


def loss_recovered_reference(clean: float, spliced: float, ablated: float) -> float:
    """`SpliceStats.loss_recovered` with the ablated loss as the baseline."""
    return SpliceStats(clean, spliced, ablated, ablated).loss_recovered


register(Exercise(
    "dictionaries.loss_recovered", loss_recovered_reference,
    lambda: [Case((0.6, 0.75, 10.3), "clean 0.6, spliced 0.75, ablated 10.3"),
             Case((2.0, 2.0, 5.0), "a perfect splice (1)"), Case((1.0, 4.0, 3.0), "worse than ablating (negative)")],
    mistakes=[(lambda c, s, a: (s - c) / (a - c), "that is the share of the ablation's loss that the splice *loses*: "
               "loss recovered is 1 minus it"),
              (lambda c, s, a: (a - s) / a, "measure from the clean loss: divide by (ablated - clean)")]))


def dead_reference(codes: torch.Tensor) -> float:
    """Share of latents that never fire on these rows."""
    return float(((codes > 0).sum(0) == 0).float().mean())


def _dead_cases():
    gen = torch.Generator().manual_seed(6)
    codes = torch.rand(40, 16, generator=gen).masked_fill(torch.rand(40, 16, generator=gen) < 0.8, 0.0)
    codes[:, [2, 5, 11]] = 0.0
    return [Case((codes,), "3 or more of 16 latents dead"), Case((torch.zeros(5, 4),), "all dead")]


register(Exercise(
    "dictionaries.dead_fraction", dead_reference, _dead_cases,
    mistakes=[(lambda c: float((c == 0).float().mean()),
               "that is the share of zero activations; a latent is dead when it is zero on *every* row"),
              (lambda c: float(((c > 0).sum(0) == 0).sum()), "return the share of latents, not their count")]))
