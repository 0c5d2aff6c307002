"""Activation patching: run a corrupt prompt with one activation taken from a clean run.

    logits = patch_activation(model, clean, corrupt, "blocks.0.hook_resid_post", pos=7)

Which positions and hook points carry the difference between two prompts is read from how far each
patch moves the output back towards the clean run. Introduced in ``notebooks/00_start``.
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int


@torch.no_grad()
def patch_activation(model, clean: Int[torch.Tensor, "batch pos"], corrupt: Int[torch.Tensor, "batch pos"],
                     hook_name: str, pos: int) -> Float[torch.Tensor, "batch pos d_vocab"]:
    """Logits of ``corrupt`` with the activation at ``hook_name``, position ``pos``, from the ``clean`` run."""
    if clean.shape != corrupt.shape:
        raise ValueError(f"clean and corrupt prompts must have the same shape (same token count), got "
                         f"{tuple(clean.shape)} and {tuple(corrupt.shape)}")
    if hook_name not in model.hook_dict:
        raise ValueError(f"no hook point {hook_name!r} in this model (model.hook_dict lists them)")
    if not -clean.shape[1] <= pos < clean.shape[1]:
        raise ValueError(f"pos {pos} is outside the prompt's {clean.shape[1]} positions")
    _, cache = model.run_with_cache(clean, names_filter=hook_name)

    def put_clean(act, hook):
        act[:, pos] = cache[hook_name][:, pos]
        return act

    return model.run_with_hooks(corrupt, fwd_hooks=[(hook_name, put_clean)])
