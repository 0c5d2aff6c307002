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
        # The bundled model predicts the held-out story text far better than chance (log of the vocabulary).
        at_most("validation_loss", 2.5, smoke=3.0),
        is_true("loss_beats_uniform"),
        # run_with_cache and nnsight read the same activations and patch to the same logits.
        at_most("nnsight_read_max_abs_diff", 0.0),
        at_most("nnsight_patch_max_abs_diff", 0.0),
        # The strongest previous-token head attends mostly to the previous token.
        at_least("best_prev_token_score", 0.5, smoke=0.3),
    ],
    "01_models/01_models.ipynb": [
        # Held-out loss falls strictly: 1L attn-only > 2L attn-only > 2L GELU > 4L GELU.
        is_true("val_loss_strictly_improves"),
        # Induction on random tokens shown twice, in every model with two or more layers.
        at_most("max_induction_ratio_2l_plus", 0.2),
        at_least("min_induction_score_2l_plus", 0.4),
        # The 1-layer model cannot form induction heads.
        at_least("induction_ratio_attn_1l", 0.6),
        # The 4-layer model: most planted capabilities right, IOI in every role order, also on held-out templates.
        at_least("capabilities_mostly_right_gelu_4l", 6, smoke=5),
        at_least("capabilities_improving_with_size", 3),
        at_least("ioi_min_order_diff_gelu_4l", 1e-6, smoke=-1.0),
        at_least("ioi_heldout_min_order_diff_gelu_4l", 1e-6, smoke=-1.0),
    ],
}
