"""The first positions of a prompt, explained exactly: every piece of the residual stream, read through the unembedding.

    d = decompose_prediction(model, [bos, once], transcoders)   # the prediction after "<BOS>Once"
    d.top(5)            # [("embed", 3.1), ("L0 MLP #812", 1.4), ("L1H2 from BOS", 0.9), ...]
    d.needed(0.9)       # components that carry 90% of the logit

At position 1 a model has seen two tokens, BOS and one more, and BOS is the same in every row: whatever a
head reads from it is a fixed bias, scaled only by how much attention the head gives it. So the prediction
there is a function of one token, a bigram table written by the weights. `decompose_prediction` splits the
residual stream at the last position into the token and position embeddings, each head's output from each
source position (``L0H1 from BOS``, ``L0H1 from pos 1``: a head writes the sum over sources of its attention
weight times the value there), each attention bias, and each MLP, or, given its transcoder, the MLP's
features, the transcoder's skip path and bias, and its error (what the transcoder misses). Read through the
final LayerNorm with its scale frozen, the pieces add up to the logit exactly. The logit is *centred*: the top
token's logit minus the mean logit over the vocabulary, since a raw logit has an arbitrary offset. Introduced in
``notebooks/44_whole_model``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int

from mi_widgets.attribution import final_ln_bias, through_final_ln


@dataclass
class Decomposition:
    """The centred logit of one prediction, split into what every component wrote."""

    token: int
    """The token explained: the model's top prediction, unless another was asked for."""
    names: list[str]
    values: np.ndarray
    """Each component's share of the centred logit, in the order of ``names``."""
    constant: float
    """What no component writes: the final LayerNorm's bias and the unembedding's bias, centred."""
    logit: float
    """The model's own centred logit of ``token``: its logit minus the mean logit."""

    @property
    def check_sum(self) -> float:
        """The absolute difference between the values plus ``constant`` and the model's centred logit: float error if
        the split is exact."""
        return abs(float(self.values.sum()) + self.constant - self.logit)

    def top(self, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` components of largest absolute value, largest first."""
        order = np.argsort(-np.abs(self.values))[:n]
        return [(self.names[i], float(self.values[i])) for i in order]

    def needed(self, share: float = 0.9) -> int:
        """The fewest components, largest first, whose sum reaches ``share`` of what all components write.

        The target is ``logit - constant`` (the biases are not components). Components that push the other
        way are never picked, so the count can be smaller than the number of components with any effect;
        it is ``len(names) + 1`` if no number of them reaches the share (when the target is not positive).
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        target = self.logit - self.constant
        if target <= 0:
            return len(self.names) + 1
        running = np.cumsum(np.sort(self.values)[::-1])
        reached = np.flatnonzero(running >= share * target)
        return int(reached[0]) + 1 if len(reached) else len(self.names) + 1

    def grouped(self) -> dict[str, float]:
        """Values summed by kind: embeddings, attention (all heads and biases) and each layer's MLP (all its pieces)."""
        out: dict[str, float] = {}
        for name, value in zip(self.names, self.values):
            key = ("embeddings" if name in ("embed", "pos_embed") else
                   "attention" if "H" in name.split()[0] or "attn" in name else f"{name.split()[0]} MLP")
            out[key] = out.get(key, 0.0) + float(value)
        return out


def prompt_ids(model, tokens: Sequence[int] | Int[torch.Tensor, "pos"]) -> Int[torch.Tensor, "pos"]:
    """One prompt's token ids as a 1-D tensor, refused clearly if empty, longer than the context or outside the
    vocabulary."""
    tokens = torch.as_tensor(tokens, dtype=torch.long).reshape(-1)
    if len(tokens) == 0:
        raise ValueError("the prompt is empty: give at least one token")
    if len(tokens) > model.cfg.n_ctx:
        raise ValueError(f"the prompt has {len(tokens)} tokens, more than the model's context ({model.cfg.n_ctx})")
    if tokens.min() < 0 or tokens.max() >= model.cfg.d_vocab:
        raise ValueError(f"token ids must be in 0..{model.cfg.d_vocab - 1}")
    return tokens


def _source_name(pos: int, bos: bool) -> str:
    return "BOS" if pos == 0 and bos else f"pos {pos}"


@torch.no_grad()
def decompose_prediction(model, tokens: Sequence[int] | Int[torch.Tensor, "pos"],
                         transcoders: Mapping[int, object] | None = None,
                         token: int | None = None) -> Decomposition:
    """Split the centred logit of ``token`` (default: the top prediction) after ``tokens`` into every component.

    ``tokens`` is one prompt as token ids, BOS first if the model expects it; its last position is explained.
    ``transcoders`` maps a layer to the transcoder of its MLP (``blocks.{l}.ln2.hook_normalized`` to
    ``blocks.{l}.hook_mlp_out``): those MLPs are split into features (``L0 MLP #812``), ``skip``, ``bias`` and
    ``error``, and the others stay whole (``L1 MLP``). The values plus ``constant`` add up to the model's centred
    logit (`Decomposition.check_sum`).
    """
    tokens = prompt_ids(model, tokens)
    transcoders = dict(transcoders or {})
    bad = [layer for layer in transcoders if not 0 <= layer < model.cfg.n_layers]
    if bad or (transcoders and model.cfg.attn_only):
        raise ValueError(f"transcoders for layers {bad or list(transcoders)}: the model has "
                         f"{model.cfg.n_layers} layers{' and no MLPs' if model.cfg.attn_only else ''}")
    logits, cache = model.run_with_cache(tokens[None].to(model.cfg.device))
    pos = len(tokens) - 1
    last = logits[0, pos].float()
    token = int(last.argmax()) if token is None else int(token)
    bos = model.tokenizer is not None and int(tokens[0]) == model.tokenizer.bos_token_id
    names, rows = ["embed", "pos_embed"], [cache["hook_embed"][0, pos], cache["hook_pos_embed"][0, pos]]
    for layer in range(model.cfg.n_layers):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"][0, :, pos, : pos + 1]  # [head, src]
        v = cache[f"blocks.{layer}.attn.hook_v"][0, : pos + 1]  # [src, head, d_head]
        if v.shape[1] != model.cfg.n_heads:  # grouped-query attention: each key-value head serves several heads
            v = v.repeat_interleave(model.cfg.n_heads // v.shape[1], dim=1)
        per_source = torch.einsum("hs,shd,hdm->hsm", pattern, v, model.W_O[layer])  # [head, src, d_model]
        for h in range(model.cfg.n_heads):
            names += [f"L{layer}H{h} from {_source_name(s, bos)}" for s in range(pos + 1)]
            rows += list(per_source[h])
        names.append(f"L{layer} attn bias")
        rows.append(model.b_O[layer])
        if model.cfg.attn_only:
            continue
        mlp_out = cache[f"blocks.{layer}.hook_mlp_out"][0, pos]
        tc = transcoders.get(layer)
        if tc is None:
            names.append(f"L{layer} MLP")
            rows.append(mlp_out)
            continue
        x = cache[tc.cfg.hook_in][0, pos][None].float().to(tc.W_dec.device)  # dictionaries may sit on the CPU
        codes = tc.encode(x)[0]
        active = torch.nonzero(codes).flatten()
        scale = tc.scale_out
        pieces = list(codes[active, None] * tc.W_dec[active] / scale)
        names += [f"L{layer} MLP #{int(i)}" for i in active]
        if tc.W_skip is not None:
            names.append(f"L{layer} MLP skip")
            pieces.append(((x * tc.scale_in) @ tc.W_skip)[0] / scale)
        names += [f"L{layer} MLP bias", f"L{layer} MLP error"]
        pieces += [tc.b_dec / scale, mlp_out - tc(x)[0].to(mlp_out.device)]
        rows += [piece.to(mlp_out.device) for piece in pieces]
    parts = through_final_ln(model, cache, torch.stack([r.float() for r in rows]), pos)
    direction = model.W_U[:, token] - model.W_U.mean(1)  # the centred logit reads along this
    constant = final_ln_bias(model) @ direction + model.b_U[token] - model.b_U.mean()
    return Decomposition(token, names, (parts @ direction).cpu().numpy(), float(constant),
                         float(last[token] - last.mean()))


def direct_path(model, token: int) -> Float[torch.Tensor, "d_vocab"]:
    """What the embeddings alone add to every centred logit after ``[BOS, token]``: the direct path at position 1.

    The token's and position 1's embeddings, centred and divided by the final LayerNorm's scale from the
    model's own run (frozen), through its weight and the centred unembedding.
    """
    bos = model.tokenizer.bos_token_id
    _, cache = model.run_with_cache(torch.tensor([[bos, token]], device=model.cfg.device),
                                    names_filter="ln_final.hook_scale")
    embeddings = (model.W_E[token] + model.W_pos[1])[None]
    read = through_final_ln(model, cache, embeddings, pos=1)[0]
    unembed = model.W_U - model.W_U.mean(1, keepdim=True)
    return (read @ unembed).detach()
