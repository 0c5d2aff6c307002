"""Reading dictionary latents: activations per latent, firing rates, and top-activating contexts.

Activations here are harvested with ``skip_bos=True`` (see `mi_widgets.activations`): row ``r`` of a
``[batch, pos]`` token array contributes ``pos - 1`` consecutive entries, for positions 1..pos-1.
Introduced in ``notebooks/10_dictionaries``.
"""

from __future__ import annotations

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.sae import Dictionary


@torch.no_grad()
def latent_activations(sae: Dictionary, x: Float[Tensor, "n d_in"], latents: list[int] | None = None,
                       batch_size: int = 8192) -> Float[Tensor, "n n_latents"]:
    """Activations of the chosen ``latents`` (all of them if None) on inputs ``x``, batch by batch."""
    for latent in latents or []:
        if not 0 <= latent < sae.cfg.width:
            raise IndexError(f"latent {latent} is out of range for a dictionary of width {sae.cfg.width}")
    parts = []
    for i in range(0, len(x), batch_size):
        f = sae.encode(x[i: i + batch_size])
        parts.append(f if latents is None else f[:, latents])
    return torch.cat(parts)


@torch.no_grad()
def firing_rates(sae: Dictionary, x: Float[Tensor, "n d_in"], batch_size: int = 8192) -> Float[Tensor, "width"]:
    """Share of tokens on which each latent is active."""
    counts = torch.zeros(sae.cfg.width)
    for i in range(0, len(x), batch_size):
        counts += (sae.encode(x[i: i + batch_size]) > 0).sum(0)
    return counts / len(x)


def top_contexts(model, tokens: Int[Tensor, "batch pos"], acts: Float[Tensor, "n"], n: int = 8,
                 before: int = 10, after: int = 3) -> pd.DataFrame:
    """The ``n`` highest activations in ``acts`` with their text: context before, the token, a little after.

    ``acts`` holds one value per (row, position >= 1) of ``tokens``, in order (as harvested).
    """
    per_row = tokens.shape[1] - 1
    if acts.ndim != 1 or len(acts) != tokens.shape[0] * per_row:
        raise ValueError(f"acts must hold one value per token after BOS ({tokens.shape[0] * per_row}), "
                         f"got shape {tuple(acts.shape)}")
    values, flat = acts.topk(min(n, len(acts)))
    rows = []
    for value, i in zip(values.tolist(), flat.tolist()):
        r, p = divmod(i, per_row)
        p += 1
        ids = tokens[r].tolist()
        rows.append({"before": model.tokenizer.decode(ids[max(1, p - before): p]),
                     "token": model.tokenizer.decode([ids[p]]),
                     "after": model.tokenizer.decode(ids[p + 1: p + 1 + after]),
                     "activation": round(value, 3), "row": r, "position": p})
    return pd.DataFrame(rows)
