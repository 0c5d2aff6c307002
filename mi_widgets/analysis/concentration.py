"""How concentrated a reading of a direction is: how many tokens, or pre-unembed features, carry its effect.

    table = reading_concentration(model, final, directions, scale, feature_logit_effects(model, final))

A reading that puts most of an effect on a few units is easier to interpret than one that spreads it
thin. `class_predictions` asks the other half of "easier to interpret": does a reading's one-word summary
(the token class its top tokens are enriched in, or the class label of its leading pre-unembed feature)
name the class of tokens that a measured effect raises? In the token basis a unit is a token and its mass the squared (centred) logit change; in a
pre-unembed dictionary's basis a unit is a feature and its mass the squared size of its contribution to the
logits, ``(coefficient x |logit effect|)^2`` (the two add up the same way when the features' logit effects
are orthogonal). Introduced in ``notebooks/40_lens/40_lens.ipynb``.
"""

from __future__ import annotations

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.analysis.enrichment import TokenClasses, class_enrichment
from mi_widgets.analysis.lens import final_basis, logit_effects


def units_for_share(mass: Float[Tensor, "n m"], share: float) -> Int[Tensor, "n"]:
    """How many of each row's units, largest first, it takes to hold ``share`` of the row's total mass."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    if (mass < 0).any():
        raise ValueError("mass must be non-negative")
    cum = mass.sort(dim=-1, descending=True).values.cumsum(-1)
    return (cum < share * cum[..., -1:]).sum(-1) + 1


def _centred(x: Tensor) -> Tensor:
    return x - x.mean(-1, keepdim=True)


@torch.no_grad()
def reading_concentration(model, final, directions: Float[Tensor, "n d_model"], scale: float | None,
                          feature_effects: Float[Tensor, "width d_vocab"], top: int | None = None,
                          shares: tuple[float, ...] = (0.5, 0.8)) -> pd.DataFrame:
    """Per direction: tokens and pre-unembed features needed for each share of the effect (over all of
    ``final``'s features), and how well the pre-unembed reading (``top`` largest coefficients, ``final``'s k
    by default) agrees with the lens.

    The agreement is the correlation over the vocabulary of the two predicted logit changes: the ceiling on
    how well the pre-unembed reading can track anything the lens tracks, since both read the same path.
    """
    top = final.cfg.k if top is None else top
    lens_logits = _centred(logit_effects(model, directions, scale))  # [n, d_vocab]
    coef = final_basis(final, directions, scale)  # [n, width], every feature: the count is not capped at top
    feature_mass = (coef * _centred(feature_effects).norm(dim=-1)).pow(2)
    kept = coef.abs().topk(top, dim=-1).indices
    cut = torch.zeros_like(coef).scatter(-1, kept, coef.gather(-1, kept))
    pre_logits = _centred(logit_effects(model, cut @ final.W_dec.detach() / final.scale_out))  # decoded, read
    table = {"agreement": torch.nn.functional.cosine_similarity(lens_logits, pre_logits, dim=-1)}
    for share in shares:
        table[f"tokens_{share:.0%}"] = units_for_share(lens_logits.pow(2), share)
        table[f"features_{share:.0%}"] = units_for_share(feature_mass, share)
    return pd.DataFrame({k: v.numpy() for k, v in table.items()})


@torch.no_grad()
def class_predictions(model, final, directions: Float[Tensor, "n d_model"], scale: float | None,
                      measured: Float[Tensor, "n d_vocab"], classes: TokenClasses, feature_class: Int[Tensor, "width"],
                      feature_effects: Float[Tensor, "width d_vocab"], top: int = 20) -> pd.DataFrame:
    """Per edit ``directions[i]`` with measured logit change ``measured[i]``: the class of tokens the change
    raises most (class enrichment of its ``top`` raised tokens, with its score), and two predictions of it:

    - ``lens_class``: the class the lens's ``top`` raised tokens are enriched in (reading the top tokens);
    - ``label_class``: the label (``feature_class``, -1 for none) of the pre-unembed feature that adds the
      most to the logits in the raising direction (positive coefficient x ``|logit effect|``), labelled ones only.
    """
    if len(feature_class) != final.cfg.width or len(directions) != len(measured):
        raise ValueError(f"need a class (or -1) per feature of final ({final.cfg.width}) and a measured change "
                         f"per direction, got {len(feature_class)} and {len(measured)} for {len(directions)}")
    truth = class_enrichment(_centred(measured), classes, top)
    lens = class_enrichment(_centred(logit_effects(model, directions, scale)), classes, top)
    contribution = final_basis(final, directions, scale) * _centred(feature_effects).norm(dim=-1)
    contribution[:, feature_class < 0] = float("-inf")
    lead = contribution.argmax(-1)
    has = contribution.gather(-1, lead[:, None])[:, 0] > 0
    return pd.DataFrame({"measured_class": truth.best.numpy(), "measured_score": truth.score.numpy(),
                         "lens_class": lens.best.numpy(),
                         "label_class": torch.where(has, feature_class[lead], -1).numpy()})
