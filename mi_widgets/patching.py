"""Activation, path and attribution patching, addressed by TransformerLens hook names.

    logits = patch(model, clean, corrupt, "blocks.0.hook_resid_post", pos=7)          # one activation
    scores = patch_scan(model, clean, corrupt, metric, ["blocks.2.attn.hook_z"], per_head=True)
    effect = path_patch(model, corrupt, clean, metric, sender=("blocks.1.attn.hook_z", 2),
                        receivers=[("blocks.3.attn.hook_q", 0)])
    guess = attribution_patch(model, clean, corrupt, metric, ["blocks.2.attn.hook_z"], per_head=True)

Every function runs the ``target`` prompts with activations taken from the ``source`` prompts.
*Denoising* (source clean, target corrupt) asks what is **sufficient** to bring the clean behaviour back;
*noising* (source corrupt, target clean) asks what is **necessary** for it. A metric maps logits to one
number; `logit_diff_metric` gives the usual one, 1 for the clean run and 0 for the corrupt run.
`attribution_patch` estimates `patch_scan`'s numbers from one backward pass (Nanda 2023; Syed et al.
2023): the metric's gradient on the target run times the activation difference. `path_patch` follows Wang
et al. (2022): the sender's change reaches the receivers with every other head frozen; MLPs recompute.
Introduced in ``notebooks/00_start``; ``notebooks/41_patching`` uses all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from jaxtyping import Float, Int
from transformer_lens import ActivationCache

from mi_widgets.progress import progress_bar

Metric = Callable[[torch.Tensor], torch.Tensor]
"""Logits [batch, pos, d_vocab] -> a scalar tensor (differentiable, for `attribution_patch`)."""
Source = Int[torch.Tensor, "batch pos"] | ActivationCache
Position = int | Int[torch.Tensor, "batch"] | None
HEAD_HOOKS = ("hook_z", "hook_q", "hook_k", "hook_v", "hook_result")  # [batch, pos, head, d_head]


def logit_diff(logits: Float[torch.Tensor, "batch pos d_vocab"], answer: Int[torch.Tensor, "batch"],
               wrong: Int[torch.Tensor, "batch"]) -> Float[torch.Tensor, "batch"]:
    """Each prompt's last-position logit of ``answer`` minus that of ``wrong``."""
    last = logits[:, -1]
    return last.gather(1, answer[:, None])[:, 0] - last.gather(1, wrong[:, None])[:, 0]


def logit_diff_metric(answer: Int[torch.Tensor, "batch"], wrong: Int[torch.Tensor, "batch"],
                      clean_value: float, corrupt_value: float) -> Metric:
    """The mean logit difference, normalised: 1 at ``clean_value``, 0 at ``corrupt_value``.

        metric = logit_diff_metric(answer, wrong, clean_ld, corrupt_ld)
        metric(model(clean))     # tensor(1.)
    """
    gap = clean_value - corrupt_value
    if not abs(gap) > 1e-6:
        raise ValueError(f"the clean and corrupt logit differences are equal ({clean_value:.4g}): no patch "
                         "can be scored against them; use a corruption that changes the answer")

    def metric(logits):
        return (logit_diff(logits, answer, wrong).mean() - corrupt_value) / gap

    return metric


def every_position(tokens: Int[torch.Tensor, "batch pos"]) -> Int[torch.Tensor, "batch pos"]:
    """The ``positions`` argument that patches each position of aligned prompts in turn."""
    return torch.arange(tokens.shape[1], device=tokens.device).expand(tokens.shape[0], -1)


def _check_hook(model, hook_name: str, head: int | None) -> None:
    if hook_name not in model.hook_dict:
        raise ValueError(f"no hook point {hook_name!r} in this model (model.hook_dict lists them)")
    if head is not None:
        if not hook_name.endswith(HEAD_HOOKS):
            raise ValueError(f"{hook_name!r} has no head dimension; per-head patching takes one of {HEAD_HOOKS}")
        if not 0 <= head < model.cfg.n_heads:
            raise ValueError(f"head {head} is out of range: the model has {model.cfg.n_heads} heads per layer")


def _check_pair(source: Source, target: torch.Tensor) -> None:
    if target.ndim != 2 or target.shape[0] == 0:
        raise ValueError(f"target tokens must be [batch, pos] with at least one prompt, got {tuple(target.shape)}")
    if isinstance(source, torch.Tensor) and source.shape != target.shape:
        raise ValueError(f"source and target prompts must have the same shape (same token count), got "
                         f"{tuple(source.shape)} and {tuple(target.shape)}")


def _check_positions(positions: torch.Tensor, target: torch.Tensor) -> None:
    if positions.ndim != 2 or positions.shape[0] != target.shape[0]:
        raise ValueError(f"positions must be [batch, n_positions] for {target.shape[0]} prompts, got "
                         f"{tuple(positions.shape)}")
    if positions.numel() and not (0 <= positions.min() and positions.max() < target.shape[1]):
        raise ValueError(f"positions must lie in 0..{target.shape[1] - 1}, the prompts' positions")


def _cache(model, source: Source, names: Sequence[str], target: torch.Tensor) -> ActivationCache:
    if isinstance(source, ActivationCache):
        missing = [n for n in names if n not in source.cache_dict]
        if missing:
            raise ValueError(f"the source cache lacks {missing}; run run_with_cache with these hooks")
        # [batch, pos, ...] for every hook but the attention patterns and scores ([batch, head, query, key])
        wrong = [n for n in names if source[n].shape[0] != target.shape[0] or (
            not n.endswith(("hook_pattern", "hook_attn_scores")) and source[n].shape[1] != target.shape[1])]
        if wrong:
            raise ValueError(f"the source cache's {wrong[0]} is {tuple(source[wrong[0]].shape)}: it must start with the "
                             f"target's [batch, pos] = {tuple(target.shape)}")
        return source
    with torch.no_grad():
        return model.run_with_cache(source, names_filter=lambda name: name in set(names))[1]


def _index(act: torch.Tensor, pos: Position, head: int | None) -> tuple:
    """The index of ``act`` [batch, pos, ...] that a patch at ``pos`` (and ``head``) replaces."""
    rows = slice(None) if not isinstance(pos, torch.Tensor) else torch.arange(act.shape[0], device=act.device)
    where = slice(None) if pos is None else pos
    return (rows, where) if head is None else (rows, where, head)


def patch_hook(hook_name: str, values: torch.Tensor, pos: Position = None, head: int | None = None):
    """A forward hook ``(hook_name, fn)`` that writes ``values`` (the source activation) at ``pos``/``head``."""

    def put(act, hook):
        index = _index(act, pos, head)
        act[index] = values[index].to(act.dtype)
        return act

    return hook_name, put


def patch(model, source: Source, target: Int[torch.Tensor, "batch pos"], hook_name: str, pos: Position = None,
          head: int | None = None) -> Float[torch.Tensor, "batch pos d_vocab"]:
    """Logits of ``target`` with the activation at ``hook_name`` taken from ``source``.

    ``source``: prompts of the target's shape, or their cache. ``pos``: every position (None), one position
    (int), or one per prompt (a [batch] tensor). ``head``: one head of a per-head hook (``hook_z``, ``hook_q``...).
    """
    _check_pair(source, target)
    _check_hook(model, hook_name, head)
    if isinstance(pos, int) and not -target.shape[1] <= pos < target.shape[1]:
        raise ValueError(f"pos {pos} is outside the prompt's {target.shape[1]} positions")
    if isinstance(pos, torch.Tensor):
        _check_positions(pos[:, None], target)
    cache = _cache(model, source, [hook_name], target)
    with torch.no_grad():
        return model.run_with_hooks(target, fwd_hooks=[patch_hook(hook_name, cache[hook_name], pos, head)])


def _columns(positions: torch.Tensor | None) -> list[Position]:
    return [None] if positions is None else [positions[:, j] for j in range(positions.shape[1])]


def patch_scan(model, source: Source, target: Int[torch.Tensor, "batch pos"], metric: Metric,
               hook_names: Sequence[str], positions: Int[torch.Tensor, "batch n_pos"] | None = None,
               per_head: bool = False, heads: Sequence[int] | None = None,
               progress: bool = True) -> Float[torch.Tensor, "hook n_pos *head"]:
    """``metric`` after patching each hook (each position, each head) from ``source`` into ``target``.

    ``positions`` [batch, n_pos]: column j patches prompt b at ``positions[b, j]`` (named positions of
    prompts of different layouts); `every_position` gives all of them; None patches all positions at once
    (one column). Shape: [len(hook_names), n_pos] or, with ``per_head``, [len(hook_names), n_pos, n_heads]
    (``heads``: only these head indices, in this order, as the last dimension).
    """
    _check_pair(source, target)
    if not hook_names:
        raise ValueError("give at least one hook name")
    if heads is not None and not per_head:
        raise ValueError("heads= picks heads of a per-head scan: pass per_head=True too")
    heads = (list(range(model.cfg.n_heads)) if heads is None else list(heads)) if per_head else [None]
    if not heads:
        raise ValueError("heads= is empty: give at least one head index")
    for name in hook_names:
        for head in heads:
            _check_hook(model, name, head)
    if positions is not None:
        _check_positions(positions, target)
    cache = _cache(model, source, hook_names, target)
    columns = _columns(positions)
    out = torch.zeros(len(hook_names), len(columns), len(heads))
    jobs = [(i, j, k) for i in range(len(hook_names)) for j in range(len(columns)) for k in range(len(heads))]
    with torch.no_grad():
        for i, j, k in progress_bar(jobs, desc="patching", disable=not progress, mininterval=2):
            hook = patch_hook(hook_names[i], cache[hook_names[i]], columns[j], heads[k])
            out[i, j, k] = float(metric(model.run_with_hooks(target, fwd_hooks=[hook])))
    return out if per_head else out[..., 0]


def attribution_patch(model, source: Source, target: Int[torch.Tensor, "batch pos"], metric: Metric,
                      hook_names: Sequence[str], positions: Int[torch.Tensor, "batch n_pos"] | None = None,
                      per_head: bool = False) -> Float[torch.Tensor, "hook n_pos *head"]:
    """`patch_scan`'s numbers, estimated to first order from one forward and one backward pass of ``target``.

    Each entry is metric(target) + sum over the patched slice of (source - target activation) x d metric /
    d activation, the gradient taken on the target run. Exact where the metric is linear in the activation;
    it misses what a nonlinearity downstream (an attention pattern, a LayerNorm scale) does with a large change.
    """
    _check_pair(source, target)
    if not hook_names:
        raise ValueError("give at least one hook name")
    for name in hook_names:
        _check_hook(model, name, 0 if per_head else None)
    if positions is not None:
        _check_positions(positions, target)
    src = _cache(model, source, hook_names, target)
    acts: dict[str, torch.Tensor] = {}

    def keep(act, hook):
        act.retain_grad()
        acts[hook.name] = act
        return act

    def track(act, hook):  # the weights may not require grad: start the graph at the embeddings
        return act.detach().requires_grad_(True)

    with torch.enable_grad():
        starts = [(name, track) for name in ("hook_embed", "hook_pos_embed") if name in model.hook_dict]
        value = metric(model.run_with_hooks(target, fwd_hooks=starts + [(name, keep) for name in hook_names]))
        if value.ndim != 0:
            raise ValueError(f"the metric must return one number, got shape {tuple(value.shape)}")
        value.backward()
        value = value.detach()
    base = value.item()
    rows = [attribution_estimate(src[name], acts[name].detach(), acts[name].grad, positions) for name in hook_names]
    return base + torch.stack(rows).cpu()


def attribution_estimate(source_act: Float[torch.Tensor, "batch pos *head d"], target_act: Float[torch.Tensor, "batch pos *head d"],
                         grad: Float[torch.Tensor, "batch pos *head d"],
                         positions: Int[torch.Tensor, "batch n_pos"] | None = None) -> Float[torch.Tensor, "n_pos *head"]:
    """The first-order change of a metric when ``target_act`` becomes ``source_act``: sum of difference x gradient.

    Summed over the batch and the last (feature) dimension; per column of ``positions`` (one position per
    prompt), or over all positions when None (one column).
    """
    change = ((source_act - target_act) * grad).sum(-1)  # [batch, pos(, head)]
    if positions is None:
        return change.sum((0, 1))[None]
    return change[torch.arange(change.shape[0], device=change.device)[:, None], positions].sum(0)


def path_patch(model, source: Source, target: Int[torch.Tensor, "batch pos"], metric: Metric,
               sender: tuple[str, int | None], receivers: Sequence[tuple[str, int | None]]) -> float:
    """``metric`` when the sender's source activation reaches the target run only through the receivers.

    Run 1 (on ``target``): the sender ``(hook_name, head)`` takes its ``source`` value, every other head's
    ``hook_z`` is frozen at its target value (MLPs recompute), and the receivers' activations are recorded.
    Run 2: a clean ``target`` run with only the receivers (for example ``("blocks.3.attn.hook_q", 0)``, or the
    last ``hook_resid_post`` with head None for the direct path to the logits) set to what run 1 recorded.
    """
    _check_pair(source, target)
    if not receivers:
        raise ValueError("give at least one receiver (hook_name, head)")
    _check_hook(model, *sender)
    for receiver in receivers:
        _check_hook(model, *receiver)
        if receiver[0].endswith("hook_z"):
            raise ValueError(f"receiver {receiver[0]!r}: every hook_z is frozen on the way; take the head's "
                             "input (hook_q, hook_k or hook_v) or a residual stream hook")
    z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    src = _cache(model, source, [sender[0]], target)
    with torch.no_grad():
        _, tgt = model.run_with_cache(target, names_filter=lambda name: name in set(z_names))

        def freeze(act, hook):
            act[:] = tgt[hook.name]
            return act

        recorded: dict[str, torch.Tensor] = {}

        def record(act, hook):
            recorded[hook.name] = act.clone()
            return act

        hooks = [(name, freeze) for name in z_names]
        hooks.append(patch_hook(sender[0], src[sender[0]], None, sender[1]))  # after the freeze at the same hook
        hooks += [(name, record) for name in {name for name, _ in receivers}]
        model.run_with_hooks(target, fwd_hooks=hooks)
        final = [patch_hook(name, recorded[name], None, head) for name, head in receivers]
        return float(metric(model.run_with_hooks(target, fwd_hooks=final)))


def ablate_heads(model, tokens: Int[torch.Tensor, "batch pos"], heads: Sequence[tuple[int, int]],
                 means: dict[str, Float[torch.Tensor, "pos head d_head"]]) -> Float[torch.Tensor, "batch pos d_vocab"]:
    """Logits of ``tokens`` with each head ``(layer, head)`` in ``heads`` replaced by its mean output.

    ``means`` maps ``blocks.{layer}.attn.hook_z`` to the mean over a reference distribution (per position),
    for example `head_means` of the corrupted prompts.
    """
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        if not (0 <= layer < model.cfg.n_layers and 0 <= head < model.cfg.n_heads):
            raise ValueError(f"no head L{layer}H{head}: the model has {model.cfg.n_layers} layers of "
                             f"{model.cfg.n_heads} heads")
        by_layer.setdefault(layer, []).append(head)

    def hook_for(layer: int, chosen: list[int]):
        def put(act, hook):
            act[:, :, chosen] = means[hook.name][None, : act.shape[1], chosen].to(act.dtype)
            return act
        return f"blocks.{layer}.attn.hook_z", put

    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=[hook_for(layer, chosen) for layer, chosen in by_layer.items()])


def head_means(model, tokens: Int[torch.Tensor, "batch pos"]) -> dict[str, Float[torch.Tensor, "pos head d_head"]]:
    """Every layer's ``hook_z`` averaged over the prompts (aligned prompts: one mean per position)."""
    names = {f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)}
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    return {name: cache[name].mean(0) for name in names}


def faithfulness(model, tokens: Int[torch.Tensor, "batch pos"], answer: Int[torch.Tensor, "batch"],
                 wrong: Int[torch.Tensor, "batch"], circuit: Sequence[tuple[int, int]],
                 means: dict[str, Float[torch.Tensor, "pos head d_head"]]) -> float:
    """The circuit's mean logit difference as a share of the model's: every head outside ``circuit`` is
    mean-ablated (`ablate_heads`); MLPs and embeddings stay. 1: the circuit alone does what the model does."""
    rest = [(layer, head) for layer in range(model.cfg.n_layers) for head in range(model.cfg.n_heads)
            if (layer, head) not in set(circuit)]
    with torch.no_grad():
        full = logit_diff(model(tokens), answer, wrong).mean()
    kept = logit_diff(ablate_heads(model, tokens, rest, means), answer, wrong).mean()
    return float(kept / full)
