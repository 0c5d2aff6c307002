"""Train a HookedTransformer language model on the CPU: warm-up then a constant learning rate.

The learning rate stays constant after warm-up on purpose: decaying it early stopped induction heads
from forming in our prototype. Every ``eval_every`` steps the loop measures validation loss and the
repeated-random-tokens induction test, so the training log shows when induction appears. Introduced
in ``notebooks/01_models/01_models.ipynb``; ``python -m mi_widgets.organisms.suite`` trains the suite.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from jaxtyping import Int

from mi_widgets.heads import induction_report
from mi_widgets.organisms.corpus import RowSampler
from mi_widgets.progress import progress_bar


@dataclass
class TrainConfig:
    """How one model is trained."""

    tokens: int = 8_000_000
    """Story-phase training tokens (the induction warm-up comes on top)."""
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    induction_warmup_steps: int = 600
    """Steps at the start that train on repeated random spans only (``repeat_rows`` rows of
    ``repeat_row_len`` tokens per step). Many short sequences per step is what made induction form
    here (2-layer attention-only model): 16 rows of 256 tokens left the second-copy loss at 93% of
    the first after 800 steps, 64 rows of 64 tokens brought it to 49% in 500 steps at lr 2e-3 (74%
    at lr 1e-3), and a 10-30% share of repeat rows mixed into stories barely moved it (99%). Rows
    must be longer than the test's two copies (101 tokens): trained on 64-token rows only, it
    stalled at 50%."""
    repeat_rows: int = 32
    repeat_row_len: int = 128
    """A repeat row is BOS + one random span of 8 to a third of the row, tiled to the row's length."""
    induction_target: float = 0.3
    """End the warm-up early, checked every 100 steps, once the loss on the second copy of repeated
    random tokens is below this share of the loss on the first (0: always run every warm-up step)."""
    induction_lr: float | None = None
    """Learning rate during the induction warm-up (None: ``lr``)."""
    attention_only_warmup: bool = True
    """Switch the MLPs off (their output is zeroed) during the induction warm-up. With them on, the
    2- and 4-layer GELU models had not formed induction after 500 and 1,000 steps (second-copy loss
    98-99% of the first) where the attention-only 2-layer model had (11% at step 750)."""
    warmup_layers: int | None = None
    """Train only the first this many blocks during the induction warm-up (the attention of later
    blocks is switched off too); None: all blocks."""
    repeat_rows_with_stories: int = 4
    """After the warm-up, each step also trains on this many full-length repeat rows beside the
    ``batch_size`` story rows, so induction keeps its signal at every position (0: stories only)."""
    ioi_rows: int = 0
    """After the warm-up, each step also trains on this many rows of indirect-object drills
    (`mi_widgets.organisms.stories.ioi_drills`): short scenes with fresh names in every role order, where only
    the real task pays. In stories alone the 4-layer model learned a shortcut that failed on unseen
    templates (mean log-probability difference -0.44 and -0.78 in the two role orders)."""
    ioi_warmup_steps: int = 0
    """Steps between the induction warm-up and the stories that train on drill rows only
    (``repeat_rows`` rows of ``repeat_row_len`` tokens, plus ``repeat_rows_with_stories`` full-length
    repeat rows), every block on: a concentrated dose of the indirect-object task."""
    ioi_template_steps: int = 0
    """The first this many steps of the drill phase train on drills of the nine training templates only
    (``template_drills``); the rest of the phase and the story steps' drill rows use the full drill pool.
    Trained on the full pool from the start, the 4-layer model learned the task weakly (mean difference
    +1.7 on the training templates, not above chance on held-out ones); on the nine templates alone,
    strongly but tied to them."""
    cooldown_frac: float = 0.0
    """Decay the learning rate linearly to a tenth over this last share of the story steps (induction
    has formed long before; 0: constant to the end)."""
    eval_every: int = 250
    seed: int = 0

    def __post_init__(self):
        if self.tokens <= 0 or self.batch_size <= 0:
            raise ValueError("tokens and batch_size must be positive")
        if not 0 < self.lr < 1:
            raise ValueError(f"lr must be in (0, 1), got {self.lr}")
        if not 0 <= self.cooldown_frac < 1:
            raise ValueError(f"cooldown_frac must be in [0, 1), got {self.cooldown_frac}")


@dataclass
class TrainLog:
    """What happened during training, saved as ``train_log.json`` next to the weights."""

    config: dict
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    induction_loss_ratio: list[float] = field(default_factory=list)
    best_induction_score: list[float] = field(default_factory=list)
    seconds: float = 0.0
    tokens_seen: int = 0
    warmup_steps: int = 0
    """Induction warm-up steps actually run (it ends early once induction has formed)."""


def tokens_after(step: int, cfg: TrainConfig | dict, n_ctx: int, warmup_steps: int | None = None) -> int:
    """Training tokens seen after ``step`` steps (warm-up steps and story steps differ in size).

    ``warmup_steps``: how many warm-up steps were run (a `TrainLog` records it); default the maximum.
    """
    if isinstance(cfg, dict):  # a saved log's config; keys of older versions are ignored
        cfg = TrainConfig(**{k: v for k, v in cfg.items() if k in TrainConfig.__dataclass_fields__})
    warmup = cfg.induction_warmup_steps if warmup_steps is None else warmup_steps
    warm = min(step, warmup)
    drill = min(max(0, step - warmup), cfg.ioi_warmup_steps)
    story = max(0, step - warmup - cfg.ioi_warmup_steps)
    return (warm * cfg.repeat_rows * cfg.repeat_row_len
            + drill * (cfg.repeat_rows * cfg.repeat_row_len + cfg.repeat_rows_with_stories * n_ctx)
            + story * (cfg.batch_size + cfg.repeat_rows_with_stories + cfg.ioi_rows) * n_ctx)


def lr_at(step: int, cfg: TrainConfig, in_warmup: bool = False, steps_left: int | None = None,
          cooldown_steps: int = 0) -> float:
    """Linear warm-up to ``cfg.lr`` (``cfg.induction_lr`` during the induction warm-up), then constant,
    then (when ``steps_left`` after this step falls below ``cooldown_steps``) linear decay to a tenth."""
    lr = cfg.induction_lr if in_warmup and cfg.induction_lr else cfg.lr
    lr *= min(1.0, (step + 1) / cfg.warmup_steps)
    if steps_left is not None and steps_left < cooldown_steps:
        lr *= 0.1 + 0.9 * steps_left / cooldown_steps
    return lr


@torch.no_grad()
def validation_loss(model, rows: Int[torch.Tensor, "batch pos"], batch_size: int = 32) -> float:
    """Mean next-token loss over held-out rows."""
    losses = [model(rows[i: i + batch_size], return_type="loss").item() * len(rows[i: i + batch_size])
              for i in range(0, len(rows), batch_size)]
    return sum(losses) / len(rows)


def _evaluate(model, val_rows, step: int, log: TrainLog) -> None:
    model.eval()
    report = induction_report(model, seq_len=min(50, (model.cfg.n_ctx - 1) // 2), n_seqs=16)
    log.eval_steps.append(step)
    log.val_loss.append(validation_loss(model, val_rows))
    log.induction_loss_ratio.append(report.loss_ratio)
    log.best_induction_score.append(report.scores.max().item())
    model.train()


def train(model, sampler: RowSampler, val_rows: Int[torch.Tensor, "batch pos"], cfg: TrainConfig,
          drills: RowSampler | None = None, template_drills: RowSampler | None = None,
          on_step: Callable[[int, torch.nn.Module], None] | None = None) -> TrainLog:
    """Train ``model`` in place with AdamW on rows from ``sampler``; returns the log.

    Phase 1 (``cfg.induction_warmup_steps``): repeated random spans only, many short rows per step,
    with the MLPs switched off if ``cfg.attention_only_warmup``.
    Drill phase (``cfg.ioi_warmup_steps``): drill rows only, from ``template_drills`` for the first
    ``cfg.ioi_template_steps`` steps, then from ``drills``.
    Story phase: ``cfg.batch_size`` story rows plus ``cfg.repeat_rows_with_stories`` repeat rows per
    step (and ``cfg.ioi_rows`` rows from ``drills``), until ``cfg.tokens`` story tokens; the last
    ``cfg.cooldown_frac`` of them at a decaying learning rate.
    ``on_step(steps_done, model)`` runs after every optimizer step (to keep checkpoints, for example).
    """
    if (cfg.ioi_rows or cfg.ioi_warmup_steps) and drills is None:
        raise ValueError("cfg.ioi_rows and cfg.ioi_warmup_steps need a RowSampler of drill text (drills=...)")
    if cfg.ioi_template_steps and template_drills is None:
        raise ValueError("cfg.ioi_template_steps needs a RowSampler of training-template drills (template_drills=...)")
    torch.manual_seed(cfg.seed)
    warmup = cfg.induction_warmup_steps
    story_steps = cfg.tokens // (cfg.batch_size * model.cfg.n_ctx)
    cooldown_steps = int(cfg.cooldown_frac * story_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    log = TrainLog(config=asdict(cfg))
    start = time.perf_counter()
    model.train()
    rest = cfg.ioi_warmup_steps + story_steps  # steps after the induction warm-up
    bar = progress_bar(total=warmup + rest, desc="training", unit="step")
    zero = lambda out, hook: torch.zeros_like(out)  # noqa: E731
    mlps_off = ([(f"blocks.{layer}.hook_mlp_out", zero) for layer in range(model.cfg.n_layers)]
                if cfg.attention_only_warmup and not model.cfg.attn_only else [])
    mlps_off += [(f"blocks.{layer}.hook_attn_out", zero) for layer in range(cfg.warmup_layers or model.cfg.n_layers,
                                                                          model.cfg.n_layers)]
    step = 0
    while step < warmup + rest:
        story = step >= warmup  # past the induction warm-up (drill phase included)
        drilling = story and step < warmup + cfg.ioi_warmup_steps
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg, not story, warmup + rest - step - 1, cooldown_steps)
        n_repeat = cfg.repeat_rows_with_stories if story else cfg.repeat_rows
        source = template_drills if step < warmup + cfg.ioi_template_steps else drills
        parts = ([source.batch(cfg.repeat_rows, repeat_frac=0.0, n_ctx=cfg.repeat_row_len)] if drilling
                 else [sampler.batch(cfg.batch_size, repeat_frac=0.0)] if story else [])
        if n_repeat:
            parts.append(sampler.batch(n_repeat, repeat_frac=1.0, n_ctx=None if story else cfg.repeat_row_len))
        if story and not drilling and cfg.ioi_rows:
            parts.append(drills.batch(cfg.ioi_rows, repeat_frac=0.0))
        # Mean loss over all predicted tokens of the step, whatever the row lengths.
        n_pred = [rows.shape[0] * (rows.shape[1] - 1) for rows in parts]
        with model.hooks(fwd_hooks=mlps_off if not story else []):
            losses = [model(rows, return_type="loss") for rows in parts]
        loss = sum(part * n for part, n in zip(losses, n_pred)) / sum(n_pred)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"training loss became {loss.item()} at step {step}; lower the learning rate")
        log.steps.append(step)
        log.train_loss.append(round(losses[0].item(), 4))  # stories (repeats or drills during the warm-ups)
        log.tokens_seen += sum(rows.numel() for rows in parts)
        if not story and cfg.induction_target and (step + 1) % 100 == 0:
            with model.hooks(fwd_hooks=mlps_off):
                model.eval()
                done = induction_report(model, seq_len=min(50, (model.cfg.n_ctx - 1) // 2), n_seqs=8).loss_ratio
                model.train()
            if done < cfg.induction_target:
                warmup = step + 1  # induction has formed: on to the stories
                bar.total = warmup + rest
        if step % cfg.eval_every == 0 or step == warmup + rest - 1:
            with model.hooks(fwd_hooks=mlps_off if not story else []):  # the model as it is being trained
                _evaluate(model, val_rows, step, log)
            bar.set_postfix(val=f"{log.val_loss[-1]:.3f}", ind=f"{log.induction_loss_ratio[-1]:.2f}")
        step += 1
        if on_step is not None:
            on_step(step, model)
        bar.update()
    bar.close()
    log.warmup_steps = warmup
    model.eval()
    log.seconds = time.perf_counter() - start
    return log
