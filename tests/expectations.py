"""What each notebook claims: bounds on its recorded results, checked after papermill runs it.

Keys are notebook paths relative to ``notebooks/``. A claim names a value the notebook records with
``mi_widgets.record`` and the range it must fall in; smoke mode (a few seconds of work) may have
looser bounds, never none. A notebook's prose states its findings from these same records.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple


class Claim(NamedTuple):
    """A recorded number and the closed range [low, high] it must fall in (``smoke``: looser range)."""

    name: str
    low: float = -math.inf
    high: float = math.inf
    smoke: tuple[float, float] | None = None

    def check(self, records: dict[str, Any], smoke: bool) -> str | None:
        """None when the claim holds, else a sentence saying how it fails."""
        if self.name not in records:
            return f"{self.name} was not recorded"
        value = records[self.name]
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)):
            return f"{self.name} = {value!r} is not a number"
        low, high = self.smoke if (smoke and self.smoke) else (self.low, self.high)
        if not low <= value <= high:
            return f"{self.name} = {value} is outside [{low}, {high}]"
        return None


def at_least(name: str, bound: float, smoke: float | None = None) -> Claim:
    return Claim(name, low=bound, smoke=None if smoke is None else (smoke, math.inf))


def at_most(name: str, bound: float, smoke: float | None = None) -> Claim:
    return Claim(name, high=bound, smoke=None if smoke is None else (-math.inf, smoke))


def is_true(name: str) -> Claim:
    return Claim(name, low=1, high=1)


EXPECTATIONS: dict[str, list[Claim]] = {
    "00_start/00_start.ipynb": [
        # The bundled 2-layer model predicts held-out stories far better than a uniform guess (7.6 nats).
        at_most("validation_loss", 1.0, smoke=1.2),
        is_true("loss_beats_uniform"),
        # run_with_cache and nnsight read the same activations and patch to the same logits, exactly.
        at_most("nnsight_read_max_abs_diff", 0.0),
        at_most("nnsight_patch_max_abs_diff", 0.0),
    ],
    "01_models/01_models.ipynb": [
        # The 4-layer model's held-out loss, in nats per token.
        at_most("val_loss_gelu_4l", 0.75, smoke=0.8),
        # Negative result: held-out loss falls from 1L to 2L attention-only to 2L GELU, but the 4-layer
        # model, trained on the same 5.5M story tokens, ends just above the 2-layer GELU model, so the
        # strict ordering issue 3 asks for does not hold; the notebook says so.
        Claim("val_loss_strictly_improves", 0, 0),
        # Every model with two or more layers copies random tokens on their second showing: loss on
        # the second copy under 20% of the first, and a head attending to the token after the earlier
        # occurrence with score above 0.4.
        at_most("max_induction_ratio_2l_plus", 0.2),
        at_least("min_induction_score_2l_plus", 0.4),
        # What the 4-layer model learns: most planted capabilities.
        at_least("capabilities_mostly_right_gelu_4l", 10, smoke=9),
        at_least("accuracy_gelu_4l_ngram", 0.95),
        at_least("accuracy_gelu_4l_skip_trigram", 0.95),
        at_least("accuracy_gelu_4l_quote_close", 0.9),
        at_least("accuracy_gelu_4l_related_concept", 0.9),
        at_least("accuracy_gelu_4l_induction_name", 0.8),
        # Negative result: on held-out templates it prefers the wrong name in at least one role order
        # (mean log-probability difference below zero), so indirect-object identification is not learned.
        at_most("ioi_heldout_min_order_diff_gelu_4l", 0.0),
    ],
    "10_dictionaries/10_dictionaries.ipynb": [
        # The TopK SAE trained in the notebook (width 2048, k 16, blocks.2.hook_resid_post).
        at_most("sae_fvu", 0.3, smoke=0.5),
        at_least("sae_loss_recovered", 0.9, smoke=0.8),
        at_most("sae_dead_fraction", 0.05, smoke=0.2),
        # More active latents, better reconstruction, at every k tried.
        is_true("frontier_fvu_falls_with_k"),
        # The skip path lowers the transcoder's FVU.
        is_true("transcoder_skip_helps"),
        # Shipped dictionaries: every one present, residual SAEs recover >= 90% of the loss at L0 <= 32,
        # the per-layer and pre-unembed SAEs have under 5% dead latents. Negative result: the widest SAE
        # (8192 latents, for feature splitting) has 5% or more. Transcoders' dead fractions are reported.
        at_least("shipped_count", 11),
        at_least("shipped_resid_min_loss_recovered", 0.9),
        at_most("shipped_resid_max_l0", 32),
        at_most("shipped_sae_max_dead_fraction", 0.05),
        at_least("shipped_widest_sae_dead_fraction", 0.05),
    ],
}
