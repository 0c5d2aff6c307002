"""The logit lens, for layers and for dictionary features, in the token basis and in a pre-unembed SAE's basis.

    probs = logit_lens(model, tokens)             # [n_layers + 1, pos, d_vocab] for one row of tokens
    kl = lens_kl(model, rows, norm="frozen")      # [n_layers + 1]: KL(model output || each layer's reading)
    effects = feature_logit_effects(model, sae)   # [width, d_vocab]: each latent's direct logit effect
    paths = path_effects(model, row, layers, deltas, positions)   # measured vs predicted effects of edits

Each layer's residual stream goes through the final LayerNorm and the unembedding. How the final norm
is applied matters for a model with a LayerNorm before the unembedding: ``norm="recompute"`` (the
default) normalises each layer's residual by its own scale, as the model would if that layer were
last; ``norm="frozen"`` divides by the scale the final layer's residual had, so layers are read on a
common scale and only their direction differs. Token classes and enrichment scores are in
`mi_widgets.analysis.enrichment`. Introduced in ``notebooks/40_lens/40_lens.ipynb``.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.dictionaries.feature_index import FeatureIndex
from mi_widgets.progress import progress_bar

FINAL = "ln_final.hook_normalized"
"""Where a pre-unembed dictionary reads: the final residual, centred and divided by its scale."""


def _check_norm(norm: str) -> None:
    if norm not in ("recompute", "frozen"):
        raise ValueError(f"norm must be 'recompute' or 'frozen', got {norm!r}")


def _centre(x: Tensor) -> Tensor:
    return x - x.mean(-1, keepdim=True)


def _affine(norm) -> tuple[Tensor | float, Tensor | float]:
    """A LayerNorm's weight and bias; 1 and 0 for TransformerLens's ``LNPre``, whose weight and bias were
    folded into the next weights (``from_pretrained`` does that for hub models)."""
    return getattr(norm, "w", 1.0), getattr(norm, "b", 0.0)


def _check_layernorm(model, what: str) -> None:
    if model.cfg.normalization_type not in ("LN", "LNPre"):
        raise ValueError(f"{what} is written for LayerNorm (centre, then divide by the scale), but "
                         f"{model.cfg.model_name} uses {model.cfg.normalization_type!r}")


@torch.no_grad()
def residual_stack(model, tokens: Int[Tensor, "pos"] | Int[Tensor, "1 pos"]) -> Float[Tensor, "layers pos d_model"]:
    """The residual stream before block 0 and after every block (``n_layers + 1`` readings) for one row."""
    tokens = torch.as_tensor(tokens)
    if tokens.ndim == 1:
        tokens = tokens[None]
    if tokens.ndim != 2 or tokens.shape[0] != 1 or tokens.shape[1] == 0:
        raise ValueError(f"logit lens takes one non-empty row of tokens, got shape {tuple(tokens.shape)}")
    return _stack(model, tokens)[:, 0]


def _stack(model, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "layers batch pos d_model"]:
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{l}.hook_resid_post" for l in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names, return_type=None)
    return torch.stack([cache[n] for n in names])


def lens_logits(model, stack: Float[Tensor, "layers ... d_model"], norm: str) -> Float[Tensor, "layers ... d_vocab"]:
    """Logit-lens logits of each reading in ``stack`` (last entry: the final residual stream). ``"frozen"``
    divides every reading by the final stream's norm scale instead of its own."""
    if model.cfg.normalization_type is None:
        normed = stack
    elif norm == "recompute":
        normed = model.ln_final(stack)
    else:
        _check_layernorm(model, "the frozen-norm lens")
        scale = _centre(stack[-1]).pow(2).mean(-1, keepdim=True).add(model.cfg.eps).sqrt()  # the last layer's
        w, b = _affine(model.ln_final)
        normed = _centre(stack) / scale * w + b
    return normed @ model.W_U + model.b_U


@torch.no_grad()
def logit_lens(model, tokens, norm: str = "recompute") -> Float[Tensor, "layers pos d_vocab"]:
    """Next-token probabilities read from each layer's residual stream (layer 0 = the embeddings)."""
    _check_norm(norm)
    return lens_logits(model, residual_stack(model, tokens), norm).softmax(-1)


@torch.no_grad()
def lens_kl(model, tokens: Int[Tensor, "batch pos"], norm: str = "recompute",
            batch_size: int = 8) -> Float[Tensor, "layers"]:
    """Mean KL(model output || lens reading) per layer over every position after BOS (nats; last layer 0)."""
    _check_norm(norm)
    tokens = torch.as_tensor(tokens)
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise ValueError(f"tokens must be [batch, pos] with pos >= 2, got shape {tuple(tokens.shape)}")
    total = torch.zeros(model.cfg.n_layers + 1, dtype=torch.float64)
    for i in range(0, len(tokens), batch_size):
        logp = lens_logits(model, _stack(model, tokens[i: i + batch_size])[:, :, 1:], norm).log_softmax(-1)
        final = logp[-1]
        total += (final.exp() * (final - logp)).sum(-1).sum((1, 2)).double()
    return (total / (tokens.shape[0] * (tokens.shape[1] - 1))).float()


DECODERS = {  # where a Hugging Face causal LM keeps its blocks, final norm and unembedding
    "transformer": ("transformer.h", "transformer.ln_f", "lm_head"),  # GPT-2, GPT-Neo, GPT-J
    "model": ("model.layers", "model.norm", "lm_head"),  # Llama, Mistral, Qwen, Gemma
    "gpt_neox": ("gpt_neox.layers", "gpt_neox.final_layer_norm", "embed_out"),  # Pythia
}


def decoder_parts(lm) -> tuple:
    """The blocks, final norm and unembedding of an nnsight model of a Hugging Face causal LM (envoys), found by name."""
    def get(path):
        envoy = lm
        for part in path.split("."):
            envoy = getattr(envoy, part)
        return envoy

    for root, paths in DECODERS.items():
        if hasattr(lm._module, root) and hasattr(getattr(lm._module, root), paths[0].split(".")[1]):
            return tuple(get(path) for path in paths)
    raise ValueError(f"no logit lens for {type(lm._module).__name__}: its blocks are not under any of "
                     f"{[paths[0] for paths in DECODERS.values()]} (add its layout to lens.DECODERS)")


def nnsight_lens_kl(lm, tokens: Int[Tensor, "batch pos"], remote: bool = False) -> Float[Tensor, "n_layers"]:
    """`lens_kl` with the final norm recomputed, after every block, through an nnsight trace of a Hugging Face
    model (``lm``, from `mi_widgets.organisms.hf_export.language_model`): ``remote=True`` runs the trace on
    NDIF, and only the per-layer means come back.

        kl = nnsight_lens_kl(language_model("stories-gelu-2l"), tokens)   # [n_layers], the last one 0
    """
    tokens = torch.as_tensor(tokens)
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise ValueError(f"tokens must be [batch, pos] with pos >= 2, got shape {tuple(tokens.shape)}")
    blocks, norm, unembed = decoder_parts(lm)
    with torch.no_grad(), lm.trace(tokens, remote=remote):
        readings = []
        for block in blocks:
            hidden = block.output[0] if isinstance(block.output, tuple) else block.output
            readings.append(unembed(norm(hidden))[:, 1:].log_softmax(-1))
        final = lm.output.logits[:, 1:].log_softmax(-1)
        kl = torch.stack([(final.exp() * (final - r)).sum(-1).mean() for r in readings]).save()
    return kl.detach().float().cpu()


# ---------------------------------------------------------------- features in the token basis


@torch.no_grad()
def logit_effects(model, directions: Float[Tensor, "n d_model"],
                  scale: float | Float[Tensor, "n 1"] | None = None) -> Float[Tensor, "n d_vocab"]:
    """Direct logit change per unit of each direction, through the final norm's weight and the unembedding.

    ``scale=None``: the directions live after the norm's division (in ``ln_final.hook_normalized``).
    A number (or one per row): residual-stream directions, centred and divided by that frozen scale.
    """
    if scale is not None:
        _check_layernorm(model, "reading a residual-stream direction through the frozen final norm")
        directions = _centre(directions) / scale
    if model.cfg.normalization_type is not None:
        directions = directions * _affine(model.ln_final)[0]
    return directions @ model.W_U


@torch.no_grad()
def feature_logit_effects(model, sae, scale: float | None = None) -> Float[Tensor, "width d_vocab"]:
    """Each latent's direct logit effect per unit activation (decoder row in data units).

    A pre-unembed dictionary (reading ``ln_final.hook_normalized``) needs no ``scale``; a residual-stream
    one needs the final norm's frozen scale (e.g. its mean over tokens) to pass its directions through.
    """
    hook = sae.cfg.hook_in
    if sae.cfg.is_transcoder or not (hook == FINAL or ".hook_resid_" in hook):
        raise ValueError(f"feature_logit_effects needs an SAE on the residual stream or {FINAL}, got {hook!r}")
    if hook != FINAL and scale is None:
        raise ValueError(f"{hook} is before the final norm: pass scale= (the final norm's frozen scale)")
    return logit_effects(model, sae.W_dec.detach() / sae.scale_out, None if hook == FINAL else scale)


# ---------------------------------------------------------------- earlier features: predicted vs measured effects


class PathEffects(NamedTuple):
    """Effects of edits to the residual stream at the edited position and the ``window - 1`` after it."""

    measured: Float[Tensor, "batch window d_vocab"]
    """Change of the logits in the real forward pass."""
    normalized: dict[str, Float[Tensor, "batch window d_model"]]
    """Change of ``ln_final.hook_normalized``: "measured" (the real pass) and the predictions of `PATHS`."""
    clean: Float[Tensor, "batch window d_model"]
    """``ln_final.hook_normalized`` of the clean run at the same positions."""


PATHS = {
    "direct": "straight to the final norm (frozen scale)",
    "attention": "through later attention with patterns, norm scales and MLP outputs frozen (value paths only)",
    "frozen": "through later blocks with attention patterns and norm scales frozen, MLPs live",
}


def _propagate(model, cache: dict, at: tuple[Tensor, Tensor], layers: Int[Tensor, "batch"],
               delta: Float[Tensor, "batch window d_model"], mlps: bool) -> Float[Tensor, "batch window d_model"]:
    """Carry a change of the residual stream through the later blocks with patterns and norm scales frozen.

    Frozen patterns make it local: position q only reads changed values from positions p..q of the window.
    """
    rows, q = at  # [batch, 1], [batch, window]
    heads = torch.arange(model.cfg.n_heads)[None, :, None, None]
    for l in range(model.cfg.n_layers):
        block = model.blocks[l]
        pattern = cache[f"blocks.{l}.attn.hook_pattern"][rows[..., None, None], heads, q[:, None, :, None],
                                                          q[:, None, None, :]]  # [batch, head, window, window]
        x = _centre(delta) / cache[f"blocks.{l}.ln1.hook_scale"][rows, q] * _affine(block.ln1)[0]
        v = torch.einsum("bwd,hde->bhwe", x, block.attn.W_V)
        step = delta + torch.einsum("bhqk,bhke,hem->bqm", pattern, v, block.attn.W_O)
        if mlps:
            mid, scale = cache[f"blocks.{l}.hook_resid_mid"][rows, q], cache[f"blocks.{l}.ln2.hook_scale"][rows, q]
            w, b = _affine(block.ln2)
            mlp = lambda r: block.mlp(_centre(r) / scale * w + b)  # noqa: E731
            step = step + mlp(mid + step) - mlp(mid)
        delta = torch.where((layers < l)[:, None, None], step, delta)
    return delta


@torch.no_grad()
def path_effects(model, tokens: Int[Tensor, "rows pos"], rows: Int[Tensor, "batch"], layers: Int[Tensor, "batch"],
                 positions: Int[Tensor, "batch"], deltas: Float[Tensor, "batch d_model"],
                 window: int = 4) -> PathEffects:
    """Add ``deltas[b]`` to ``blocks.{layers[b]}.hook_resid_post`` at ``tokens[rows[b], positions[b]]``.

    The measured effect comes from one real forward pass per edit (batched); the predicted ones from the
    clean run's frozen attention patterns and norm scales. "attention" is linear in the edit.
    """
    batch, n_layers = len(deltas), model.cfg.n_layers
    _check_layernorm(model, "path_effects (it freezes the LayerNorm scales)")
    if not (len(rows) == len(layers) == len(positions) == batch) or deltas.shape[-1] != model.cfg.d_model:
        raise ValueError(f"need one row, layer, position and d_model delta per edit, got {len(rows)}, {len(layers)}, "
                         f"{len(positions)} and {tuple(deltas.shape)}")
    if batch == 0 or positions.min() < 1 or positions.max() + window > tokens.shape[1] or layers.min() < 0 \
            or layers.max() >= n_layers:
        raise ValueError(f"need edits at positions 1..{tokens.shape[1] - window} (window {window}) and layers "
                         f"0..{n_layers - 1}, got positions {positions.tolist()} and layers {layers.tolist()}")
    used, rows = rows.unique(return_inverse=True)
    part = tokens[used, : int(positions.max()) + window]  # causal: later tokens change nothing here
    names = {FINAL, "ln_final.hook_scale"} | {f"blocks.{l}.{n}" for l in range(n_layers) for n in (
        "attn.hook_pattern", "ln1.hook_scale", "ln2.hook_scale", "hook_resid_mid")}
    logits, cache = model.run_with_cache(part, names_filter=names.__contains__)
    at = (rows[:, None], positions[:, None] + torch.arange(window))  # [batch, 1], [batch, window]
    seen: dict[str, Tensor] = {}

    def edit(act, hook):
        mask = layers == int(hook.name.split(".")[1])
        act[mask, positions[mask]] += deltas[mask]
        return act

    def keep(act, hook):
        seen["n"] = act[torch.arange(batch)[:, None], at[1]]

    hooks = [(f"blocks.{l}.hook_resid_post", edit) for l in layers.unique().tolist()] + [(FINAL, keep)]
    with model.hooks(fwd_hooks=hooks):
        edited = model(part[rows])
    clean = cache[FINAL][at]
    delta = torch.zeros_like(clean)
    delta[:, 0] = deltas
    final_scale = cache["ln_final.hook_scale"][at]
    direct = torch.zeros_like(clean)
    direct[:, 0] = _centre(deltas) / final_scale[:, 0]
    normalized = {"measured": seen["n"] - clean, "direct": direct,
                  **{p: _centre(_propagate(model, cache, at, layers, delta, p == "frozen")) / final_scale
                     for p in ("attention", "frozen")}}
    return PathEffects(edited[torch.arange(batch)[:, None], at[1]] - logits[at], normalized, clean)


def final_basis(sae, directions: Float[Tensor, "... d_model"],
                scale: float | None = None) -> Float[Tensor, "... width"]:
    """Directions read in a pre-unembed dictionary's basis: its encoder's projection (linear, before TopK).

    ``scale=None``: the directions live in ``ln_final.hook_normalized``; a number: residual-stream
    directions, centred and divided by that frozen final-norm scale first.
    """
    if sae.cfg.hook_in != FINAL:
        raise ValueError(f"the pre-unembed basis needs a dictionary on {FINAL}, got one on {sae.cfg.hook_in!r}")
    directions = directions if scale is None else _centre(directions) / scale
    return (directions * sae.scale_in) @ sae.W_enc.detach().T


@torch.no_grad()
def dictionary_reading(model, sae, dn: Float[Tensor, "... d_model"], clean: Float[Tensor, "... d_model"] | None = None,
                       top: int | None = None) -> Float[Tensor, "... d_vocab"]:
    """Change of the logits as a pre-unembed dictionary passes on a change ``dn`` of its input.

    With ``clean`` (its input in context): ``sae(clean + dn) - sae(clean)``, TopK choosing the latents.
    Without: linear, `final_basis` of ``dn`` with the ``top`` largest coefficients (in size) kept, decoded.
    """
    coef = final_basis(sae, dn)  # [..., width]; also checks the dictionary's site
    if clean is not None:
        return logit_effects(model, sae(clean + dn) - sae(clean))
    if top is not None:
        kept = coef.abs().topk(top, dim=-1).indices
        coef = torch.zeros_like(coef).scatter(-1, kept, coef.gather(-1, kept))
    return logit_effects(model, coef @ sae.W_dec / sae.scale_out)


def vocab_correlation(pred: Float[Tensor, "batch window d_vocab"],
                      measured: Float[Tensor, "batch window d_vocab"]) -> Float[Tensor, "batch"]:
    """Pearson correlation of predicted and measured logit changes per edit, over positions and vocabulary.

    Each position is centred first: adding one constant to all of a position's logits changes nothing.
    """
    p, m = _centre(pred).flatten(1), _centre(measured).flatten(1)
    return (p * m).sum(1) / (p.norm(dim=1) * m.norm(dim=1)).clamp_min(1e-12)


@torch.no_grad()
def readings(model, final, effects: PathEffects,
             top: int | None = None) -> dict[str, Float[Tensor, "batch window d_vocab"]]:
    """Predicted logit changes: the logit lens (token basis) and the pre-unembed dictionary ``final``'s basis."""
    n = effects.normalized
    top = final.cfg.k if top is None else top
    return {"lens": logit_effects(model, n["direct"]),
            "lens + attention": logit_effects(model, n["attention"]),
            "lens + frozen blocks": logit_effects(model, n["frozen"]),
            "pre-unembed": dictionary_reading(model, final, n["direct"], top=top),
            "pre-unembed + attention": dictionary_reading(model, final, n["attention"], top=top),
            "pre-unembed in context": dictionary_reading(model, final, n["direct"], effects.clean),
            "pre-unembed of measured": dictionary_reading(model, final, n["measured"], effects.clean)}


class Occurrences(NamedTuple):
    """Tokens where latents fire: ``row``, ``pos`` index a ``[batch, pos]`` token array."""

    layer: Int[Tensor, "n"]
    latent: Int[Tensor, "n"]
    row: Int[Tensor, "n"]
    pos: Int[Tensor, "n"]
    act: Float[Tensor, "n"]


def sample_occurrences(index: FeatureIndex, layer: int, n_latents: int, per_latent: int, window: int = 4,
                       seed: int = 0, max_density: float = 0.1) -> Occurrences:
    """``per_latent`` random firings of each of ``n_latents`` random latents (not dense, firing often enough).

    Only firings with ``window - 1`` tokens after them count, so an edit's later effects can be measured.
    """
    gen = torch.Generator().manual_seed(seed)
    per_row, n_pos = index.tokens.shape[1] - 1, index.tokens.shape[1]
    firings, fits = {}, []
    for latent in torch.randperm(index.sae.cfg.width, generator=gen).tolist():
        where, value = index.activations(latent)
        ok = where % per_row + 1 + window <= n_pos
        if 0 < index.density(latent) < max_density and int(ok.sum()) >= per_latent:
            pick = torch.randperm(int(ok.sum()), generator=gen)[:per_latent]
            firings[latent] = (where[ok][pick], value[ok][pick])
            fits.append(latent)
        if len(fits) == n_latents:
            break
    if len(fits) < n_latents:
        raise ValueError(f"only {len(fits)} latents fire {per_latent} times here; asked for {n_latents}")
    where = torch.cat([firings[l][0] for l in fits])
    return Occurrences(torch.full((len(where),), layer), torch.tensor(fits).repeat_interleave(per_latent),
                       where // per_row, where % per_row + 1, torch.cat([firings[l][1] for l in fits]))


def ablation_deltas(saes: dict, occ: Occurrences) -> Float[Tensor, "n d_model"]:
    """The edit that ablates each occurrence: minus its activation times its latent's decoder row."""
    return torch.stack([-occ.act[i] * saes[int(occ.layer[i])].W_dec[occ.latent[i]].detach()
                        / saes[int(occ.layer[i])].scale_out for i in range(len(occ.act))])


@torch.no_grad()
def measured_ablations(model, saes: dict, tokens: Int[Tensor, "batch pos"], occ: Occurrences,
                       chunk: int = 32) -> Float[Tensor, "n d_vocab"]:
    """The logit change at each occurrence's own position when its latent is ablated (real forward pass)."""
    deltas = ablation_deltas(saes, occ)
    out = torch.zeros(len(deltas), model.cfg.d_vocab)
    for sel in torch.argsort(occ.row, stable=True).split(chunk):
        out[sel] = path_effects(model, tokens, occ.row[sel], occ.layer[sel], occ.pos[sel], deltas[sel], 1).measured[:, 0]
    return out


def ablation_readings(model, saes: dict, final, tokens: Int[Tensor, "batch pos"], occ: Occurrences,
                      window: int = 4, top: int | None = None, chunk: int = 32) -> pd.DataFrame:
    """Ablate each occurrence's latent (subtract its contribution) and score every reading against the change.

    ``saes`` maps a layer to its dictionary on ``blocks.{layer}.hook_resid_post``. One row per occurrence
    and reading: the correlation at the latent's own position ("own") and over the window ("window").
    """
    deltas = ablation_deltas(saes, occ)
    order = torch.argsort(occ.row, stable=True)  # edits of the same rows share a clean run
    rows = []
    for sel in progress_bar(order.split(chunk), desc="ablating", unit="batch"):
        effects = path_effects(model, tokens, occ.row[sel], occ.layer[sel], occ.pos[sel], deltas[sel], window)
        for name, pred in readings(model, final, effects, top).items():
            own = vocab_correlation(pred[:, :1], effects.measured[:, :1]).tolist()
            span = vocab_correlation(pred, effects.measured).tolist()
            rows += [dict(layer=int(occ.layer[i]), latent=int(occ.latent[i]), row=int(occ.row[i]), pos=int(occ.pos[i]),
                          reading=name, own=o, window=w) for i, o, w in zip(sel.tolist(), own, span)]
    return pd.DataFrame(rows)
