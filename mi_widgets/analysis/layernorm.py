"""Removing LayerNorm by fine-tuning (Heimersheim 2024), and what the norm did.

A LayerNorm divides its input by the input's own scale, a different number at every position. Freeze
that scale to its average over the data and the norm is linear: the centring, the frozen division and
the norm's weights fold into the weights that read it, and the model has no LayerNorm left. Done one
norm at a time with fine-tuning in between, the model learns to live without the division.

    names = layernorm_names(model)                               # the paper's order: ln2s, ln1s, ln_final
    run = remove_layernorms(model, sampler, RemovalSchedule())   # fine-tunes a copy; run.scales, run.log
    plain = fold_frozen_layernorms(run.model, run.scales)        # normalization_type=None, same outputs
    tc = across_frozen_norm(shipped_transcoder, run.scales)      # reads hook_resid_mid of the plain model

Introduced in ``notebooks/36_layernorm``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace

import pandas as pd
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.dictionaries.dictionary import Dictionary
from mi_widgets.organisms.corpus import RowSampler
from mi_widgets.progress import progress_bar

NORMS = ("LN", "LNPre")
"""The normalisation types this module removes: LayerNorm with and without its own weights."""


def centring_matrix(d: int) -> Float[Tensor, "d d"]:
    """``x - mean(x)`` as a symmetric [d, d] matrix: the linear part of every LayerNorm, frozen or not."""
    return torch.eye(d) - 1.0 / d


def check_layernorm(model) -> None:
    """Raise a clear error unless ``model`` normalises with LayerNorm (a centring and a division)."""
    kind = model.cfg.normalization_type
    if kind not in NORMS:
        raise ValueError(f"this model's normalization_type is {kind!r}; LayerNorm removal needs one of {NORMS} "
                         "(RMSNorm has no centring, and a model without a norm has nothing to remove)")


def layernorm_names(model) -> list[str]:
    """The model's LayerNorms in the order the paper removes them: each MLP's (ln2), each attention
    layer's (ln1), then the final one (ln_final)."""
    check_layernorm(model)
    layers = range(model.cfg.n_layers)
    mlps = [] if model.cfg.attn_only else [f"blocks.{l}.ln2" for l in layers]
    return mlps + [f"blocks.{l}.ln1" for l in layers] + ["ln_final"]


@torch.no_grad()
def average_scales(model, rows: Int[Tensor, "batch pos"], names: list[str], frozen: dict[str, float] | None = None,
                   batch_size: int = 16, bos: dict[str, float] | None = None) -> dict[str, float]:
    """The mean of each named LayerNorm's scale (the input's standard deviation) over every position but BOS,
    with the norms in ``frozen`` already frozen (their scales replaced by the given numbers)."""
    hooks = [f"{name}.hook_scale" for name in names]
    total = {h: 0.0 for h in hooks}
    count = 0
    for i in range(0, len(rows), batch_size):
        with model.hooks(fwd_hooks=frozen_hooks(frozen or {}, bos)):
            _, cache = model.run_with_cache(rows[i: i + batch_size].to(model.cfg.device), names_filter=hooks)
        for h in hooks:
            total[h] += float(cache[h][:, 1:].sum())
        count += rows[i: i + batch_size, 1:].numel()
    return {name: total[h] / count for name, h in zip(names, hooks)}


def frozen_hooks(scales: dict[str, float], bos: dict[str, float] | None = None) -> list[tuple[str, callable]]:
    """Forward hooks that replace each named LayerNorm's scale by a constant: the norm becomes linear (it still
    centres its input, and divides by the same number everywhere). With ``bos``, position 0 is divided by its own
    number instead (the paper's special treatment of BOS; such a model no longer folds into one without norms)."""
    def freeze(name: str, value: float):
        def hook(scale, hook):
            out = torch.full_like(scale, value)
            if bos is not None:
                out[:, 0] = bos[name]
            return out
        return hook
    return [(f"{name}.hook_scale", freeze(name, value)) for name, value in scales.items()]


@torch.no_grad()
def bos_scales(model, names: list[str], frozen: dict[str, float] | None = None,
               bos: dict[str, float] | None = None) -> dict[str, float]:
    """Each named norm's scale at position 0 when BOS sits there (the same number in every row, since position 0
    sees only itself), with the norms in ``frozen`` frozen (and BOS divided by ``bos``)."""
    row = torch.tensor([[model.tokenizer.bos_token_id]], device=model.cfg.device)
    with model.hooks(fwd_hooks=frozen_hooks(frozen or {}, bos)):
        _, cache = model.run_with_cache(row, names_filter=[f"{n}.hook_scale" for n in names])
    return {n: float(cache[f"{n}.hook_scale"][0, 0, 0]) for n in names}


@dataclass
class RemovalSchedule:
    """How the LayerNorms are removed: which are frozen together at each stage, and the fine-tuning after each.

    The default is the paper's method scaled to our models: one norm at a time (``layernorm_names`` order),
    ``steps_between`` fine-tuning steps after each, ``final_steps`` more at the end.
    """

    groups: list[list[str]] | None = None
    """Norms frozen together at each stage; None: one at a time, in the paper's order."""
    steps_between: int = 30
    final_steps: int = 60
    """Steps after the last stage, over which the learning rate decays linearly to zero."""
    lr: float = 3e-4
    batch_size: int = 8
    """Story rows per step (the model's full context each)."""
    repeat_rows: int = 2
    """Rows of repeated random tokens per step, as in the suite's own training: they keep the induction heads
    exercised."""
    distill: bool = False
    """Train on the KL divergence to the original model's next-token distribution instead of the data's tokens."""
    bos_apart: bool = False
    """Freeze a separate scale for BOS at position 0 (the paper's later runs); the result does not fold."""
    seed: int = 0

    def stages(self, names: list[str]) -> list[list[str]]:
        """The norms frozen at each stage, for a model whose norms are ``names`` (in `layernorm_names` order)."""
        return [[n] for n in names] if self.groups is None else [list(g) for g in self.groups]


@dataclass
class RemovalRun:
    """A fine-tuned copy of the model with its frozen scales, and what the fine-tuning cost."""

    model: torch.nn.Module
    scales: dict[str, float]
    bos: dict[str, float] | None
    """BOS's own frozen scales (``schedule.bos_apart``), else None."""
    log: pd.DataFrame
    """One row per step: step, loss, the number of norms frozen so far."""
    tokens: int
    """Tokens the student ran forward and backward on."""
    teacher_tokens: int
    """Tokens the original model ran forward on (distillation only)."""
    seconds: float
    stages: list[list[str]] = field(default_factory=list)

    def flops(self, n_params: int) -> float:
        """Fine-tuning compute: 6 FLOPs per parameter per token trained on, 2 per token of a teacher's forward."""
        return 6.0 * n_params * self.tokens + 2.0 * n_params * self.teacher_tokens


def _step_loss(model, rows: Tensor, teacher, hooks: list) -> Tensor:
    with model.hooks(fwd_hooks=hooks):
        logits = model(rows)
    if teacher is None:
        return F.cross_entropy(logits[:, :-1].flatten(0, 1), rows[:, 1:].flatten())
    with torch.no_grad():
        target = teacher(rows).log_softmax(-1)
    return F.kl_div(logits.log_softmax(-1).flatten(0, 1), target.flatten(0, 1), log_target=True, reduction="batchmean")


def remove_layernorms(model, sampler: RowSampler, schedule: RemovalSchedule, calibration_rows: int = 32,
                      freeze: bool = True, progress: bool = True) -> RemovalRun:
    """Fine-tune a copy of ``model`` while freezing its LayerNorms' scales stage by stage (``schedule``).

    At each stage the scales of the stage's norms are measured on ``calibration_rows`` fresh rows, with the
    earlier stages' norms already frozen (what the norm sees then), and frozen; then the model trains for
    ``schedule.steps_between`` steps with every frozen norm frozen. ``freeze=False`` runs the same steps
    with the norms left alone: the control that tells what fine-tuning alone changes.
    """
    names = layernorm_names(model)
    stages = schedule.stages(names)
    unknown = sorted({n for stage in stages for n in stage} - set(names))
    if unknown:
        raise ValueError(f"unknown LayerNorms {unknown}; this model has {names}")
    teacher = model if schedule.distill else None
    student = copy.deepcopy(model).requires_grad_(True)  # the original may have its gradients switched off
    torch.manual_seed(schedule.seed)
    optimizer = torch.optim.AdamW(student.parameters(), lr=schedule.lr, weight_decay=0.0, betas=(0.9, 0.99))
    scales: dict[str, float] = {}
    bos: dict[str, float] | None = {} if schedule.bos_apart else None
    log, tokens, teacher_tokens, step = [], 0, 0, 0
    device = model.cfg.device
    start = time.perf_counter()
    plan = [(stage, schedule.steps_between) for stage in stages] + [([], schedule.final_steps)]
    bar = progress_bar(total=sum(n for _, n in plan), desc="removing LayerNorm" if freeze else "fine-tuning",
                       unit="step", disable=not progress)
    with torch.enable_grad():
        for stage, n_steps in plan:
            if stage:
                # Drawn in the control too, so that both train on the same rows.
                calibration = sampler.batch(calibration_rows, repeat_frac=0.0).to(device)
            if stage and freeze:
                student.eval()
                if bos is not None:
                    bos.update(bos_scales(student, stage, frozen=scales, bos=bos))
                scales.update(average_scales(student, calibration, stage, frozen=scales, bos=bos))
            hooks = frozen_hooks(scales, bos)
            student.train()
            for i in range(n_steps):
                if not stage:  # the last steps: the learning rate decays to zero
                    for group in optimizer.param_groups:
                        group["lr"] = schedule.lr * (1 - i / n_steps)
                rows = sampler.batch(schedule.batch_size, repeat_frac=0.0)
                if schedule.repeat_rows:
                    rows = torch.cat([rows, sampler.batch(schedule.repeat_rows, repeat_frac=1.0)])
                rows = rows.to(device)
                loss = _step_loss(student, rows, teacher, hooks)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"the fine-tuning loss became {loss.item()} at step {step} "
                                             f"({len(scales)} norms frozen); lower the learning rate")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
                optimizer.step()
                tokens += rows.numel()
                teacher_tokens += rows.numel() if teacher is not None else 0
                log.append((step, loss.item(), len(scales)))
                step += 1
                bar.update()
    bar.close()
    student.eval()
    return RemovalRun(student, scales, bos, pd.DataFrame(log, columns=["step", "loss", "frozen"]), tokens,
                      teacher_tokens, time.perf_counter() - start, stages)


def _norm_weights(state: dict, name: str, d_model: int) -> tuple[Tensor, Tensor]:
    w = state.pop(f"{name}.w", None)
    b = state.pop(f"{name}.b", None)
    return (torch.ones(d_model) if w is None else w), (torch.zeros(d_model) if b is None else b)


@torch.no_grad()
def fold_frozen_layernorms(model, scales: dict[str, float]):
    """A copy of ``model`` with no LayerNorm (``normalization_type=None``) that computes what ``model`` computes
    with every norm frozen at ``scales``: each frozen norm (centre, divide by its scale, then its weight and bias)
    is folded into the weights that read it. Every norm of the model must be frozen."""
    from transformer_lens import HookedTransformer

    names = layernorm_names(model)
    missing = [n for n in names if n not in scales]
    if missing:
        raise ValueError(f"every LayerNorm must be frozen before folding; these are not: {missing}")
    d = model.cfg.d_model
    centre = centring_matrix(d)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    def fold(name: str, readers: list[tuple[str, str]]) -> None:
        w, b = _norm_weights(state, name, d)
        linear = centre * (w / scales[name])  # x -> centre(x) / scale * w, as a [d, d] matrix applied to x
        for weight, bias in readers:
            W = state[weight]  # [..., d_model, out]
            state[bias] = state[bias] + torch.einsum("d,...do->...o", b, W)
            state[weight] = torch.einsum("ed,...do->...eo", linear, W)

    for layer in range(model.cfg.n_layers):
        block = f"blocks.{layer}"
        if f"{block}.attn._W_K" in state:
            raise ValueError("grouped-query attention is not supported here")
        fold(f"{block}.ln1", [(f"{block}.attn.W_{m}", f"{block}.attn.b_{m}") for m in "QKV"])
        if not model.cfg.attn_only:
            readers = [(f"{block}.mlp.W_in", f"{block}.mlp.b_in")]
            if f"{block}.mlp.W_gate" in state:
                raise ValueError("gated MLPs are not supported here")
            fold(f"{block}.ln2", readers)
    fold("ln_final", [("unembed.W_U", "unembed.b_U")])
    cfg = copy.deepcopy(model.cfg)
    cfg.normalization_type = None
    plain = HookedTransformer(cfg, tokenizer=model.tokenizer, move_to_device=False)
    plain.load_state_dict(state, strict=True)
    plain.to(model.cfg.device, print_details=False)
    plain.eval()
    return plain


NORMALISED = {"ln2": "hook_resid_mid", "ln1": "hook_resid_pre"}
"""The residual-stream hook each block's norm reads (``ln_final`` reads the last block's ``hook_resid_post``)."""


def norm_input_hook(norm: str, n_layers: int) -> str:
    """The hook point a LayerNorm reads: ``blocks.2.ln2`` -> ``blocks.2.hook_resid_mid``."""
    if norm == "ln_final":
        return f"blocks.{n_layers - 1}.hook_resid_post"
    block, kind = norm.rsplit(".", 1)
    return f"{block}.{NORMALISED[kind]}"


@torch.no_grad()
def across_frozen_norm(transcoder: Dictionary, scales: dict[str, float], n_layers: int) -> Dictionary:
    """A copy of a transcoder that reads a norm's output (``...hook_normalized``) made to read the norm's input
    instead, with the frozen norm folded into its encoder: it then splices into the model that
    `fold_frozen_layernorms` makes, which has no ``hook_normalized``. Exact for the frozen model.

    An SAE on a normalised site cannot move this way (it reconstructs the normalised vector itself)."""
    hook = transcoder.cfg.hook_in or ""
    if not hook.endswith(".hook_normalized") or not transcoder.cfg.is_transcoder:
        raise ValueError(f"only a transcoder reading a norm's output (…hook_normalized) can move across the norm; "
                         f"this dictionary reads {hook!r}")
    norm = hook.rsplit(".", 1)[0]
    if norm not in scales:
        raise ValueError(f"{norm} has no frozen scale in `scales` (frozen: {sorted(scales)})")
    moved = copy.deepcopy(transcoder)
    d = moved.cfg.d_in
    centre = centring_matrix(d).to(moved.W_enc.device)
    moved.W_enc.copy_(moved.W_enc @ centre)  # encodes centre(x) / scale: the centring goes into the weights...
    moved.scale_in.div_(scales[norm])  # ...and the frozen division into the input scale
    if moved.W_skip is not None:
        moved.W_skip.copy_(centre @ moved.W_skip)
    moved.cfg = replace(moved.cfg, hook_in=norm_input_hook(norm, n_layers))
    return moved


def relative_weight_change(before: dict[str, Tensor], after: dict[str, Tensor]) -> pd.Series:
    """``|after - before| / |before|`` (Frobenius norms) for every weight matrix the two state dicts share (biases,
    which TransformerLens keeps per head as [n_heads, d_head], and buffers left out)."""
    changes = {name: float((after[name] - w).norm() / w.norm()) for name, w in before.items()
               if w.ndim >= 2 and w.is_floating_point() and not name.rsplit(".", 1)[-1].startswith("b_")
               and name in after and after[name].shape == w.shape and w.norm() > 0}
    return pd.Series(changes, name="relative change")


@torch.no_grad()
def scale_ratios(model, rows: Int[Tensor, "batch pos"], scales: dict[str, float]) -> dict[str, Float[Tensor, "batch pos"]]:
    """Each norm's true scale at every position of ``rows`` (in ``model`` with its norms) over its frozen
    value: 1 where freezing the norm changes nothing at that position."""
    hooks = [f"{name}.hook_scale" for name in scales]
    _, cache = model.run_with_cache(rows.to(model.cfg.device), names_filter=hooks)
    return {name: (cache[h][..., 0] / value).cpu() for (name, value), h in zip(scales.items(), hooks)}


def frozen_layernorm(x: Float[Tensor, "... d"], w: Float[Tensor, "d"], b: Float[Tensor, "d"],
                     scale: float) -> Float[Tensor, "... d"]:
    """A LayerNorm whose scale is frozen: centre ``x``, divide by the constant ``scale``, then apply ``w`` and ``b``.
    Linear in ``x``, unlike the real norm, which divides each row by its own standard deviation."""
    return (x - x.mean(-1, keepdim=True)) / scale * w + b


@torch.no_grad()
def match_across_norm(before: Float[Tensor, "n_before d"], after: Float[Tensor, "n_after d"], centre: bool = True
                      ) -> tuple[Int[Tensor, "n_before"], Float[Tensor, "n_before"]]:
    """For each direction of ``before`` (decoder rows of an SAE on a norm's input), the row of ``after`` (an SAE on
    the norm's output) nearest to it once centred, as the norm centres it: ``(index, cosine)`` per row.
    The frozen division and the norm's own weights come after ``hook_normalized``, so centring is all that
    stands between the two spaces there. ``centre=False`` matches two dictionaries of the same space."""
    centred = before - before.mean(-1, keepdim=True) if centre else before
    cos = F.normalize(centred, dim=-1) @ F.normalize(after, dim=-1).T  # [n_before, n_after]
    best = cos.max(-1)
    return best.indices, best.values


def capability_gap(labels: pd.Series, loss_before: pd.Series, loss_after: pd.Series) -> pd.DataFrame:
    """Per label (a planted capability): tokens, mean loss before and after, and the change, worst first.
    The three series hold one row per token, in the same order (e.g. `capability_token_scores` of two models)."""
    if not len(labels) == len(loss_before) == len(loss_after):
        raise ValueError(f"one row per token in each: got {len(labels)} labels, {len(loss_before)} and "
                         f"{len(loss_after)} losses")
    frame = pd.DataFrame({"capability": labels.values, "before": loss_before.values, "after": loss_after.values})
    table = frame.groupby("capability").agg(tokens=("before", "size"), before=("before", "mean"),
                                            after=("after", "mean"))
    table["change"] = table["after"] - table["before"]
    return table.sort_values("change", ascending=False)
