"""36_layernorm: a LayerNorm with a frozen scale, the per-capability comparison, the relative weight change, and
matching latents across a norm."""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

from mi_widgets.analysis.layernorm import capability_gap, frozen_layernorm, match_across_norm
from mi_widgets.exercises.core import Case, Exercise, register


def _norm_cases():
    g = torch.Generator().manual_seed(0)
    x = 3 + 2 * torch.randn(5, 8, generator=g)  # rows with an offset, so that centring matters
    w, b = 1 + 0.2 * torch.randn(8, generator=g), 0.1 * torch.randn(8, generator=g)
    return [Case((x, w, b, 2.0), "five rows of 8 with a common offset, scale frozen at 2"),
            Case((x[:1], torch.ones(8), torch.zeros(8), 0.5), "one row, no weight or bias, scale 0.5")]


register(Exercise(
    "layernorm.frozen_layernorm", frozen_layernorm, _norm_cases,
    mistakes=[(lambda x, w, b, scale: x / scale * w + b,
               "the input is not centred: a LayerNorm subtracts each row's mean before dividing"),
              (lambda x, w, b, scale: (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True) * w + b,
               "that divides by each row's own standard deviation: the real norm, not the frozen one; divide by `scale`"),
              (lambda x, w, b, scale: ((x - x.mean(-1, keepdim=True)) * w + b) / scale,
               "the weight and bias come after the division: (x - mean) / scale * w + b")]))


def _gap_reference(labels, before, after):
    table = capability_gap(pd.Series(labels), pd.Series(before.numpy()), pd.Series(after.numpy()))
    return list(table.index), torch.tensor(table["change"].values)


def _gap_cases():
    g = torch.Generator().manual_seed(1)
    labels = ["induction"] * 6 + ["ngram"] * 3 + ["pronoun"] * 5
    before = torch.rand(14, generator=g)
    after = before + torch.tensor([0.5] * 6 + [-0.1] * 3 + [0.2] * 5)
    return [Case((labels, before, after), "three capabilities that get 0.5, -0.1 and 0.2 nats worse"),
            Case((["a", "b", "a", "b"], torch.tensor([1.0, 1.0, 3.0, 1.0]), torch.tensor([2.0, 1.5, 3.0, 2.5])),
                 "two capabilities, two tokens each")]


def _ascending(labels, before, after):
    names, changes = _gap_reference(labels, before, after)
    return names[::-1], changes.flip(0)


def _ratio(labels, before, after):
    frame = pd.DataFrame({"c": labels, "r": (after / before).numpy()})
    means = frame.groupby("c").r.mean().sort_values(ascending=False)
    return list(means.index), torch.tensor(means.values)


register(Exercise(
    "layernorm.capability_change", _gap_reference, _gap_cases,
    mistakes=[(_ascending, "sorted the wrong way: the capability whose loss rises most comes first"),
              (_ratio, "that is the ratio of the losses; return the difference after - before, in nats")]))


def _relative_change(before, after):
    return float((after - before).norm() / before.norm())


def _change_cases():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(6, 4, generator=g)
    return [Case((w, w + 0.1 * torch.randn(6, 4, generator=g)), "a 6x4 matrix nudged by small noise"),
            Case((torch.ones(3, 3), 3 * torch.ones(3, 3)), "every entry tripled")]


register(Exercise(
    "layernorm.relative_change", _relative_change, _change_cases,
    mistakes=[(lambda before, after: float((after - before).norm() / after.norm()),
               "divided by the new matrix's norm: the change is measured against where the weights started"),
              (lambda before, after: float(((after - before).abs() / before.abs()).mean()),
               "the mean of entry-wise ratios blows up at entries near zero: take the ratio of the Frobenius norms"),
              (lambda before, after: float(after.norm() / before.norm() - 1),
               "that compares the sizes only: a rotation changes the weights but not their norm")]))


def _match_cases():
    g = torch.Generator().manual_seed(3)
    after = F.normalize(torch.randn(12, 16, generator=g), dim=-1)
    # before: five of after's rows with an offset along the all-ones direction (which the norm removes), rescaled
    before = 3 * after[[4, 0, 7, 7, 11]] + 0.8
    return [Case((before, after), "five directions that differ from rows 4, 0, 7, 7, 11 by an offset and a scale"),
            Case((torch.randn(3, 16, generator=g), after), "three random directions")]


def _uncentred(before, after):
    cos = F.normalize(before, dim=-1) @ F.normalize(after, dim=-1).T
    best = cos.max(-1)
    return best.indices, best.values


def _unnormalised(before, after):
    dots = (before - before.mean(-1, keepdim=True)) @ after.T
    best = dots.max(-1)
    return best.indices, best.values


register(Exercise(
    "layernorm.match_across_norm", match_across_norm, _match_cases,
    mistakes=[(_uncentred, "centre the rows of `before` first: the norm removes each vector's mean, so the offset "
                           "along the all-ones direction is not part of the direction after it"),
              (_unnormalised, "those are dot products: normalise both sets of rows to get cosines")]))
