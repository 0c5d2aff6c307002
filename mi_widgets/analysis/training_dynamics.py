"""How induction forms during training: a small two-layer attention-only model, its checkpoints, and the
quantities Olsson et al. (2022) plot against the training step.

The recipe is the suite's induction recipe cut down to run in a minute on a CPU: a 64-wide model with a
64-token context, trained from the first step on a few story rows plus many rows of repeated random spans
(`mi_widgets.organisms.corpus.RowSampler`), whose copies only induction can predict. At every checkpoint
`dynamics` measures

* the **in-context-learning score**: the loss on a late token of held-out stories minus the loss on an early
  one (Olsson et al. take the 500th and the 50th token; our context has 64, so tokens 60 and 6);
* the **second-copy loss** on repeated random tokens;
* the best head's **prefix-matching score** (its attention to the token after the current token's earlier copy);
* the **K-composition** (Elhage et al. 2021) of the pair of heads that ends up as the induction circuit (or of
  the best adjacent pair at each checkpoint).

`fastest_change_step` says when a curve moves fastest, and `change_correlation` whether two curves move in
the same intervals. Introduced in ``notebooks/60_training_dynamics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float, Int
from transformer_lens import HookedTransformer, HookedTransformerConfig

from mi_widgets.heads import induction_report
from mi_widgets.logprobs import next_token_losses
from mi_widgets.models import check_device
from mi_widgets.organisms.corpus import RowSampler
from mi_widgets.organisms.model_training import TrainConfig, TrainLog, train

CURVES = {"ICL score": -1, "second-copy loss": -1, "prefix matching": 1, "K-composition": 1}
"""The four quantities `dynamics` measures at every checkpoint, and the way each moves as induction forms."""


@dataclass(frozen=True)
class InductionRecipe:
    """A two-layer attention-only model small enough to form induction heads in about a minute on a CPU."""

    d_model: int = 64
    n_heads: int = 4
    n_ctx: int = 64
    story_rows: int = 8
    """Story rows per step: the language the model learns beside copying."""
    repeat_rows: int = 24
    """Rows of repeated random spans per step. Mixed from the first step (the suite trains on repeats alone
    first): with a third of the rows repeats instead of three quarters, the 64-wide model had not formed
    induction after 1,200 steps."""
    steps: int = 900
    lr: float = 5e-3
    warmup_steps: int = 50
    every: int = 25
    """Steps between checkpoints."""

    def __post_init__(self):
        if self.steps <= 0 or self.every <= 0 or self.every > self.steps:
            raise ValueError(f"need 0 < every <= steps, got every={self.every}, steps={self.steps}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}")
        if self.story_rows < 1 or self.repeat_rows < 0:
            raise ValueError("need at least one story row per step and no negative row count")


def small_attn_only(tokenizer, recipe: InductionRecipe, seed: int, device: str = "cpu") -> HookedTransformer:
    """A freshly initialised two-layer attention-only model with ``tokenizer``'s vocabulary, on ``device`` (a
    device torch cannot use is a clear `mi_widgets.models.ModelLoadError`)."""
    device = check_device(device)
    cfg = HookedTransformerConfig(n_layers=2, attn_only=True, d_model=recipe.d_model, n_heads=recipe.n_heads,
                                  d_head=recipe.d_model // recipe.n_heads, n_ctx=recipe.n_ctx,
                                  d_vocab=len(tokenizer), normalization_type="LN",
                                  positional_embedding_type="standard", seed=seed, device=device)
    return HookedTransformer(cfg, tokenizer=tokenizer)


@dataclass
class TrainingRun:
    """A trained model, its training log, and its weights every ``recipe.every`` steps (step 0: the initialisation)."""

    model: HookedTransformer
    log: TrainLog
    checkpoints: dict[int, dict[str, torch.Tensor]]
    seed: int


def train_with_checkpoints(tokenizer, tokens: Int[np.ndarray, "n_tokens"], recipe: InductionRecipe, seed: int,
                           device: str = "cpu") -> TrainingRun:
    """Train `small_attn_only` on story ``tokens`` and repeated spans, keeping its weights on the CPU every
    ``recipe.every`` steps. The same seed gives the same initialisation, rows and checkpoints."""
    model = small_attn_only(tokenizer, recipe, seed, device)
    sampler = RowSampler(tokens, recipe.n_ctx, tokenizer.bos_token_id, len(tokenizer), seed=seed)
    cfg = TrainConfig(tokens=recipe.steps * recipe.story_rows * recipe.n_ctx, batch_size=recipe.story_rows,
                      lr=recipe.lr, warmup_steps=recipe.warmup_steps, induction_warmup_steps=0,
                      repeat_rows_with_stories=recipe.repeat_rows, induction_target=0.0, eval_every=recipe.steps,
                      seed=seed)

    def snapshot(m) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}

    checkpoints = {0: snapshot(model)}

    def keep(step: int, m) -> None:
        if step % recipe.every == 0:
            checkpoints[step] = snapshot(m)

    val = sampler.batch(8, repeat_frac=0.0).to(device)
    with torch.enable_grad():  # a notebook may have switched gradients off
        log = train(model, sampler, val, cfg, on_step=keep)
    return TrainingRun(model, log, checkpoints, seed)


def icl_score(losses: Float[torch.Tensor, "batch pos_minus_1"], early: int, late: int, width: int = 2) -> float:
    """Mean loss on token ``late`` minus mean loss on token ``early`` (negative: later tokens are easier).

    ``losses[:, p - 1]`` is the loss of predicting token ``p``; each position is averaged with its ``width``
    neighbours on either side, over every row, to steady a small batch.
    """
    n = losses.shape[1]
    if not 1 + width <= early < late <= n - width:
        raise ValueError(f"need {1 + width} <= early < late <= {n - width} for {n + 1}-token rows, "
                         f"got early={early}, late={late}")

    def around(p: int) -> float:
        return float(losses[:, p - 1 - width: p + width].mean())

    return around(late) - around(early)


@torch.no_grad()
def dynamics(model: HookedTransformer, checkpoints: dict[int, dict[str, torch.Tensor]],
             stories: Int[torch.Tensor, "batch pos"], pair: tuple[tuple[int, int], tuple[int, int]] | None = None,
             seq_len: int | None = None, n_seqs: int = 16, seed: int = 0) -> pd.DataFrame:
    """One row per checkpoint: the step, the story loss, and the four `CURVES`.

    ``model`` is loaded with each checkpoint in turn (it is left with the last). The ICL score compares
    tokens at a tenth and at the end of ``stories``' rows; the repeated-token test uses ``seq_len`` tokens
    shown twice (default: as many as fit). K-composition is that of ``pair``, ((layer, head) of the sender,
    (layer, head) of the receiver), or, without one, the largest over adjacent layers at each checkpoint
    (early in training that maximum wanders among pairs that never become a circuit).
    """
    if not checkpoints:
        raise ValueError("no checkpoints to measure")
    if model.cfg.n_layers < 2:
        raise ValueError("K-composition needs at least two layers")
    n = stories.shape[1]
    seq_len = seq_len or (model.cfg.n_ctx - 1) // 2
    early, late = max(3, n // 10), n - 4
    stories = stories.to(model.cfg.device)
    rows = []
    for step in sorted(checkpoints):
        model.load_state_dict(checkpoints[step])
        losses = next_token_losses(model(stories), stories)
        report = induction_report(model, seq_len=seq_len, n_seqs=n_seqs, seed=seed)
        kcomp = model.all_composition_scores("K").detach()
        if pair is None:
            k = max(float(kcomp[l, :, l + 1, :].max()) for l in range(model.cfg.n_layers - 1))
        else:
            (sl, sh), (rl, rh) = pair
            k = float(kcomp[sl, sh, rl, rh])
        rows.append({"step": step, "story loss": float(losses.mean()), "ICL score": icl_score(losses, early, late),
                     "second-copy loss": report.loss_second, "prefix matching": float(report.scores.max()),
                     "K-composition": k})
    return pd.DataFrame(rows)


def fastest_change_step(steps: Sequence[int], values: Sequence[float], direction: int, span: int = 2) -> int:
    """The step at which a curve moves fastest in ``direction`` (+1: up, -1: down): the middle checkpoint of
    the window of ``span`` intervals over which it moves most that way."""
    values, steps = np.asarray(values, dtype=float), np.asarray(steps)
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction}")
    if len(values) != len(steps) or len(values) <= span:
        raise ValueError(f"need more than span={span} checkpoints and a value for each step")
    moves = direction * (values[span:] - values[:-span])
    if not np.isfinite(moves).any():
        raise ValueError("the curve has no finite values")
    return int(steps[int(np.nanargmax(moves)) + span // 2])


def change_correlation(frame: pd.DataFrame, a: str, b: str, center: int, window: int, lag: int = 0) -> float:
    """Pearson correlation of two curves' changes between consecutive checkpoints within ``window`` steps
    of ``center``: near 1 (or -1, for curves that move in opposite directions) when they move in the same
    intervals. ``lag``: take curve ``b``'s change that many steps later (a null: curves that move apart)."""
    near = frame.step.between(center - window, center + window)
    steps = frame.step[near]
    changes = frame.set_index("step")[[a, b]].diff()
    da = changes[a].loc[steps].to_numpy()
    db = changes[b].reindex(steps + lag).to_numpy()
    keep = np.isfinite(da) & np.isfinite(db)
    if keep.sum() < 3 or da[keep].std() == 0 or db[keep].std() == 0:
        return float("nan")
    return float(np.corrcoef(da[keep], db[keep])[0, 1])


def recipe_table(recipe: InductionRecipe) -> pd.DataFrame:
    """The recipe as a one-column table, for the chapter's setup cell."""
    return pd.DataFrame({"value": asdict(recipe)})
