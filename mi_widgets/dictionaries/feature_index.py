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

from mi_widgets.dictionaries.dictionary import Dictionary


@torch.no_grad()
def active_latents(sae: Dictionary, x: Float[Tensor, "n d_in"],
                   batch_size: int = 8192) -> tuple[Int[Tensor, "m"], Int[Tensor, "m"], Float[Tensor, "m"]]:
    """(row, latent, value) of every positive activation of ``sae`` on ``x``, in row order.

    A TopK dictionary is read through its k active latents per row, never a dense [batch, width] array
    (that array is most of the cost for wide dictionaries).
    """
    rows, latents, values = [], [], []
    for i in range(0, len(x), batch_size):
        xb = x[i: i + batch_size]
        if sae.cfg.kind == "topk":
            vals, idx, _, _ = sae.encode_sparse(xb)
            on = vals > 0
            r, l, v = torch.arange(len(xb)).unsqueeze(1).expand_as(idx)[on], idx[on], vals[on]
        else:
            f = sae.encode(xb)
            r, l = f.nonzero(as_tuple=True)
            v = f[r, l]
        rows.append(r + i)
        latents.append(l)
        values.append(v)
    return torch.cat(rows), torch.cat(latents), torch.cat(values)


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


class FeatureIndex:
    """Every latent's activations over a set of tokens, stored latent by latent for fast lookups.

    Built once (one pass of the dictionary's encoder); after that one latent's activations, density
    and top contexts cost a slice, which is what makes the feature dashboard quick.
    """

    def __init__(self, sae: Dictionary, x: Float[Tensor, "n d_in"], tokens: Int[Tensor, "batch pos"],
                 batch_size: int = 8192):
        if len(x) != tokens.shape[0] * (tokens.shape[1] - 1):
            raise ValueError(f"x must hold one activation per token after BOS of tokens "
                             f"({tokens.shape[0] * (tokens.shape[1] - 1)} rows), got {len(x)}")
        self.sae, self.tokens, self.n_tokens = sae, tokens, len(x)
        where, latent, value = active_latents(sae, x, batch_size)
        order = torch.argsort(latent, stable=True)
        self.where, self.value = where[order], value[order]
        counts = torch.bincount(latent, minlength=sae.cfg.width)
        self.ptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])

    def check(self, latent: int) -> int:
        """``latent`` as an int, or an IndexError naming the dictionary's width."""
        if not 0 <= latent < self.sae.cfg.width:
            raise IndexError(f"latent {latent} is out of range for a dictionary of width {self.sae.cfg.width}")
        return int(latent)

    def activations(self, latent: int) -> tuple[Int[Tensor, "m"], Float[Tensor, "m"]]:
        """(token positions in the flattened harvest, values) where ``latent`` is active."""
        a, b = self.ptr[self.check(latent)], self.ptr[latent + 1]
        return self.where[a:b], self.value[a:b]

    def dense(self, latent: int) -> Float[Tensor, "n"]:
        """``latent``'s activation on every token (zeros where inactive)."""
        where, value = self.activations(latent)
        return torch.zeros(self.n_tokens).index_put_((where,), value)

    def density(self, latent: int) -> float:
        """Share of tokens on which ``latent`` is active."""
        self.check(latent)
        return (self.ptr[latent + 1] - self.ptr[latent]).item() / self.n_tokens

    def densities(self) -> Float[Tensor, "width"]:
        """Share of the indexed tokens on which each latent fires."""
        return (self.ptr[1:] - self.ptr[:-1]).float() / self.n_tokens
