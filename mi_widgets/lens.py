"""The logit lens: read the residual stream after each layer as if it were the last.

    probs = logit_lens(model, tokens)            # [n_layers + 1, pos, d_vocab] for one row of tokens

Each layer's residual stream goes through the final LayerNorm and the unembedding. How the final norm
is applied matters for a model with a LayerNorm before the unembedding: ``norm="recompute"`` (the
default) normalises each layer's residual by its own scale, as the model would if that layer were
last; ``norm="frozen"`` divides by the scale the final layer's residual had, so layers are read on a
common scale and only their direction differs.
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor


@torch.no_grad()
def residual_stack(model, tokens: Int[Tensor, "pos"] | Int[Tensor, "1 pos"]) -> Float[Tensor, "layers pos d_model"]:
    """The residual stream before block 0 and after every block (``n_layers + 1`` readings) for one row."""
    tokens = torch.as_tensor(tokens)
    if tokens.ndim == 1:
        tokens = tokens[None]
    if tokens.ndim != 2 or tokens.shape[0] != 1 or tokens.shape[1] == 0:
        raise ValueError(f"logit lens takes one non-empty row of tokens, got shape {tuple(tokens.shape)}")
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{l}.hook_resid_post" for l in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names, return_type=None)
    return torch.stack([cache[n][0] for n in names])


@torch.no_grad()
def logit_lens(model, tokens, norm: str = "recompute") -> Float[Tensor, "layers pos d_vocab"]:
    """Next-token probabilities read from each layer's residual stream (layer 0 = the embeddings)."""
    if norm not in ("recompute", "frozen"):
        raise ValueError(f"norm must be 'recompute' or 'frozen', got {norm!r}")
    stack = residual_stack(model, tokens)
    if model.cfg.normalization_type is None:
        normed = stack
    elif norm == "recompute":
        normed = model.ln_final(stack)
    else:
        last = stack[-1]
        centred = stack - stack.mean(-1, keepdim=True)
        scale = (last - last.mean(-1, keepdim=True)).pow(2).mean(-1, keepdim=True).add(model.cfg.eps).sqrt()
        normed = centred / scale * model.ln_final.w + model.ln_final.b
    return (normed @ model.W_U + model.b_U).softmax(-1)
