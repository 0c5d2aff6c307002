"""Direct logit attribution: how much each component's output, read straight through the unembedding, adds
to one prediction.

    attribution = direct_logit_attribution(model, tokens, answer=" Lily", wrong=" Tom")
    attribution.top(5)      # [("L1H3", 4.2), ("embed", 1.9), ...]

The residual stream at the last position is a sum: the token and position embeddings, every head's
output, every attention bias and every MLP's output. The final LayerNorm is not linear, but with its
scale frozen at the value this prompt gives (as the model computed it), it is: centre each term, divide
by the scale, and read it along the unembedding direction of the answer (minus that of a wrong token).
The terms then add up to the logit (difference) exactly, up to float error, which is what `check_sum`
measures. "Direct" means only the path straight to the unembedding: a head that matters by feeding a
later head gets no credit here. Introduced in ``notebooks/00_start``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int


@dataclass
class Attribution:
    """Each component's direct contribution to one logit (difference), and the parts that close the sum."""

    names: list[str]
    """Components in forward order: ``embed``, ``pos_embed``, then per layer ``L{l}H{h}`` for each
    head, ``L{l} attn bias`` and ``L{l} MLP``."""
    values: list[float]
    """Their contributions, in logits, in the order of ``names``."""
    constant: float
    """What no component writes: the final LayerNorm's bias and the unembedding's bias, read along the
    same direction."""
    logit: float
    """The model's own logit (difference) for this prediction."""

    def top(self, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` components of largest absolute contribution, largest first.

            attribution.top(3)   # [("L1H3", 4.2), ("L1H0", -1.1), ("embed", 0.9)]
        """
        order = sorted(range(len(self.values)), key=lambda i: -abs(self.values[i]))
        return [(self.names[i], self.values[i]) for i in order[:n]]

    @property
    def check_sum(self) -> float:
        """|sum of the contributions + constant - the model's logit|: near 0 if the split is right."""
        return abs(sum(self.values) + self.constant - self.logit)


def _token_id(model, token: str | int) -> int:
    if isinstance(token, int):
        if not 0 <= token < model.cfg.d_vocab:
            raise ValueError(f"token id {token} is outside the vocabulary (0..{model.cfg.d_vocab - 1})")
        return token
    ids = model.to_tokens(token, prepend_bos=False)[0]
    if len(ids) != 1:
        raise ValueError(f"{token!r} is {len(ids)} tokens ({model.to_str_tokens(token, prepend_bos=False)}); "
                         "give a string that is one token, e.g. with its leading space")
    return int(ids[0])


@torch.no_grad()
def component_outputs(model, cache, pos: int = -1) -> tuple[list[str], Float[torch.Tensor, "component d_model"]]:
    """The residual stream at ``pos`` of the first prompt in ``cache``, split into what each component wrote.

    The rows add up to ``cache["blocks.{last}.hook_resid_post"][0, pos]``. Heads are split by their
    ``hook_z`` times their slice of ``W_O``, so the cache must hold ``hook_z`` of every layer; an
    attention-only model has no MLP rows.

        names, parts = component_outputs(model, cache)    # [2 + n_layers * (n_heads + 2), d_model] with MLPs
        parts.sum(0)                                      # the final residual stream at the last position
    """
    names, rows = ["embed", "pos_embed"], [cache["hook_embed"][0, pos], cache["hook_pos_embed"][0, pos]]
    for layer in range(model.cfg.n_layers):
        z = cache[f"blocks.{layer}.attn.hook_z"][0, pos]  # [head, d_head]
        heads = torch.einsum("hd,hdm->hm", z, model.W_O[layer])
        names += [f"L{layer}H{h}" for h in range(model.cfg.n_heads)] + [f"L{layer} attn bias"]
        rows += list(heads) + [model.b_O[layer]]
        if not model.cfg.attn_only:
            names.append(f"L{layer} MLP")
            rows.append(cache[f"blocks.{layer}.hook_mlp_out"][0, pos])
    return names, torch.stack(rows)


@torch.no_grad()
def direct_logit_attribution(model, tokens: str | Int[torch.Tensor, "1 pos"], answer: str | int,
                             wrong: str | int | None = None, pos: int = -1) -> Attribution:
    """Each component's direct contribution to the logit of ``answer`` (minus ``wrong``'s) at ``pos``.

    Args:
        model: a HookedTransformer (an attention-only one has no MLP rows).
        tokens: one prompt, as text or a ``[1, pos]`` array of token ids.
        answer, wrong: tokens as one-token strings (``" Lily"``, leading space included) or ids; with
            ``wrong`` the attribution is of the logit difference ``answer - wrong``, which ignores
            everything the two logits share.
        pos: the position whose prediction is explained (default: the last).

    The final LayerNorm's scale is frozen at the value of this forward pass, so the contributions add
    up to the model's logit (difference): ``Attribution.check_sum`` is the error of that sum.

        attribution = direct_logit_attribution(model, "Lily went to the park. Then", " Lily", " Tom")
        attribution.top(3)   # the heads and MLPs that push " Lily" over " Tom" most directly
    """
    if isinstance(tokens, str):
        if not tokens.strip():
            raise ValueError("the prompt is empty: give some text to explain the prediction after")
        tokens = model.to_tokens(tokens)
    tokens = torch.as_tensor(tokens)
    if tokens.ndim != 2 or tokens.shape[0] != 1:
        raise ValueError(f"give one prompt: tokens of shape [1, pos], got {tuple(tokens.shape)}")
    if not -tokens.shape[1] <= pos < tokens.shape[1]:
        raise ValueError(f"pos {pos} is outside the prompt's {tokens.shape[1]} positions")
    direction = model.W_U[:, _token_id(model, answer)].clone()
    bias = model.b_U[_token_id(model, answer)].clone()
    if wrong is not None:
        direction -= model.W_U[:, _token_id(model, wrong)]
        bias = bias - model.b_U[_token_id(model, wrong)]
    logits, cache = model.run_with_cache(tokens)
    names, parts = component_outputs(model, cache, pos)
    bias += final_ln_bias(model) @ direction
    logit = logits[0, pos, _token_id(model, answer)]
    if wrong is not None:
        logit = logit - logits[0, pos, _token_id(model, wrong)]
    return Attribution(names, (through_final_ln(model, cache, parts, pos) @ direction).tolist(), float(bias),
                       logit.item())


def through_final_ln(model, cache, parts: Float[torch.Tensor, "n d_model"], pos: int,
                     batch: int = 0) -> Float[torch.Tensor, "n d_model"]:
    """Residual-stream terms at ``pos`` as the unembedding reads them: the final LayerNorm with its scale frozen.

    LayerNorm centres the sum of the terms, so it centres each one; its scale (from ``cache``, the run the
    terms came from) divides them all alike, and its weight multiplies them. What it adds on its own, its
    bias, is `final_ln_bias`. So ``through_final_ln(...).sum(0) + final_ln_bias(model)`` is what the
    unembedding reads at ``pos``.
    """
    if model.cfg.normalization_type in ("LN", "LNPre"):
        parts = parts - parts.mean(-1, keepdim=True)
    if model.cfg.normalization_type in ("LN", "LNPre", "RMS", "RMSPre"):
        parts = parts / cache["ln_final.hook_scale"][batch, pos]
    weight = getattr(model.ln_final, "w", None)
    return parts * weight if weight is not None else parts


def final_ln_bias(model) -> Float[torch.Tensor, "d_model"]:
    """The final LayerNorm's bias (zeros where it has none): the one term of the unembedding's input that no
    component writes."""
    bias = getattr(getattr(model, "ln_final", None), "b", None)
    return bias.detach() if bias is not None else torch.zeros(model.cfg.d_model, device=model.W_U.device)
