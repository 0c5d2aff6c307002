# %% [markdown]
# # Removing LayerNorm, and what it did
#
# > **You will learn to** freeze a LayerNorm's scale and fold it away, remove every norm of a model by fine-tuning,
# > find the capabilities that needed the norm, and check whether dictionaries and features survive the removal.
# >
# > **You need:** [The model organisms](../01_models/01_models.ipynb) (the planted capabilities);
# > [Sparse dictionaries](../10_dictionaries/10_dictionaries.ipynb) (SAEs, transcoders, loss recovered).
# >
# > **Time:** about 75 min to study and do the exercises; the full run takes about 9 min on a laptop CPU (five
# > fine-tuning runs), and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** A LayerNorm divides each position's residual vector by its own standard deviation. That division is
# the one nonlinearity between the residual stream and every head and MLP, and it gets in the way of reading a model
# as a sum of linear pieces: direct logit attribution, linear probes and SAE features all hold only up to the norm's
# scale. Heimersheim (2024), "You can remove GPT2's LayerNorm by fine-tuning", froze each norm's scale to its
# average, one norm at a time, and fine-tuned in between: GPT-2 small lost about 0.05 nats of loss, after fine-tuning
# on 500M tokens. Seed 002 asks three follow-ups: **which tasks did the model use LayerNorm for, can removal be made
# cheap, and do SAEs still work afterwards?** Seed 001 (Lee) asks how features before and after a norm relate.
# Our 4-layer model was trained with its capabilities planted, so we can answer all four on a CPU.
#
# **What we changed from the paper, and why.** Our model has 1.35M parameters, not 124M, and a chapter has minutes:
# it fine-tunes 40 steps after each norm (5 rows of 256 tokens a step) and 160 at the end, at a constant learning rate
# that decays over the last steps. The paper
# treats the BOS position specially in later versions (its scale is far from the others'); we freeze one scale per
# norm for every position, so that the result is a plain model without norms, and we measure what that costs.
# We fine-tune on our stories plus a few rows of repeated random tokens, as the model was trained.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-4l"  # any model with LayerNorm (bundled or a TransformerLens name); this one ships dictionaries
DEVICE = "cpu"  # "cuda" on a GPU machine

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.activations import harvest_activations
from mi_widgets.analysis.layernorm import (RemovalSchedule, across_frozen_norm, average_scales, bos_scales,
                                           capability_gap, check_layernorm, fold_frozen_layernorms, frozen_hooks,
                                           layernorm_names, match_across_norm, relative_weight_change,
                                           remove_layernorms, scale_ratios)
from mi_widgets.analysis.task_metrics import score_task
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_dictionary
from mi_widgets.dictionaries.metrics import reconstruction_stats, splice_stats
from mi_widgets.heads import induction_report
from mi_widgets.logprobs import is_trained
from mi_widgets.organisms.capability_scores import capability_token_scores
from mi_widgets.organisms.cards import read_facts
from mi_widgets.organisms.corpus import RowSampler, capability_tokens, row_length, story_rows, story_tokens
from mi_widgets.organisms.stories import generate_stories
from mi_widgets.organisms.task_format import load_tasks

torch.manual_seed(SEED)
torch.set_grad_enabled(False)  # measuring only; the fine-tuning and the dictionaries turn gradients on for themselves
SEEDS = [SEED] if SMOKE else [SEED, SEED + 1]  # fine-tuning runs of each method (the spread is shown)
PAPER = (RemovalSchedule(steps_between=1, final_steps=2, batch_size=2, repeat_rows=1) if SMOKE
         else RemovalSchedule(steps_between=40, final_steps=160, batch_size=4, repeat_rows=1))
# The cheap method: every norm frozen at once, then trained to match the original model's outputs (distillation),
# at a higher learning rate (the KL target keeps the student near the original; plain fine-tuning at this rate drifts).
CHEAP = dict(steps_between=1, final_steps=1, lr=1e-3) if SMOKE else dict(steps_between=80, final_steps=80, lr=1e-3)
TRAIN_TOKENS = 60_000 if SMOKE else 1_000_000  # the story stream the fine-tuning rows are cut from
EVAL_ROWS = 8 if SMOKE else 64  # held-out rows for the losses
CALIBRATION_ROWS = 4 if SMOKE else 32  # rows on which each norm's average scale is measured
N_STORIES = 10 if SMOKE else 200  # held-out stories whose labelled tokens score the planted capabilities
TASK_ITEMS = 5 if SMOKE else 100  # items of each task file
HARVEST_ROWS = 8 if SMOKE else 300  # rows whose activations retrain the dictionaries (255 tokens each)
RETRAIN_TOKENS = 8192 if SMOKE else 200_000  # token-steps of retraining each dictionary
SIDE_TOKENS = 8192 if SMOKE else 400_000  # token-steps of training each dictionary of section 6
LAYER = 2  # the block whose MLP norm (ln2) section 6 looks across
WIDTH = 256 if SMOKE else 512  # latents of the SAEs trained on either side of that norm
SAME = 0.9  # two latents (or a latent's read and written directions) agree above this cosine

model = mw.load_model(MODEL, device=DEVICE)
check_layernorm(model)  # a clear error for a model without LayerNorm (or with RMSNorm)
tokenizer, n_layers = model.tokenizer, model.cfg.n_layers
LAYER = min(LAYER, n_layers - 1)
n_ctx = row_length(model)
held_out = story_rows(tokenizer, EVAL_ROWS, n_ctx, seed=SEED + 40, split="val").to(DEVICE)


def loss_of(m, hooks=(), rows: int | None = None) -> float:
    """Mean next-token loss on the held-out rows (the first ``rows`` of them), with ``hooks`` (e.g. frozen norms)."""
    tokens = held_out[:rows]
    with m.hooks(fwd_hooks=list(hooks)):
        return float(np.mean([m(tokens[i: i + 16], return_type="loss").item() for i in range(0, len(tokens), 16)]))


original_loss = loss_of(model)
mw.record("trained", is_trained(original_loss, model.cfg.d_vocab))
print(f"{MODEL}: {len(layernorm_names(model))} LayerNorms, held-out loss {original_loss:.3f} nats")

# %% [markdown]
# ## 1. The norms and their scales
#
# A norm's scale is the standard deviation of its input across the residual dimensions, one number per position.
# `average_scales` averages it over every position but BOS; freezing a norm replaces its scale by that average
# (`frozen_hooks`), which makes the norm linear. How much does each norm's scale vary, and how much does freezing each
# one alone, with no fine-tuning, cost? The BOS column is the scale at position 0, which is the same in every row
# (BOS always sits there, and attention is causal).

# %%
calibration = story_rows(tokenizer, CALIBRATION_ROWS, n_ctx, seed=SEED + 41, split="train").to(DEVICE)
names = layernorm_names(model)
measured = average_scales(model, calibration, names)
_, cache = model.run_with_cache(calibration, names_filter=[f"{n}.hook_scale" for n in names])
norm_table = pd.DataFrame({
    "mean scale": measured,
    "spread (std / mean)": {n: float(cache[f"{n}.hook_scale"][:, 1:].std() / measured[n]) for n in names},
    "BOS scale / mean": {n: float(cache[f"{n}.hook_scale"][0, 0]) / measured[n] for n in names},
    "loss, this norm frozen": {n: loss_of(model, frozen_hooks({n: measured[n]}), rows=16) for n in names},
})
norm_table["loss increase"] = norm_table["loss, this norm frozen"] - loss_of(model, rows=16)
del cache
all_frozen_loss = loss_of(model, frozen_hooks(measured))
# The same with BOS divided by its own scale (the paper's later special treatment): what BOS alone costs.
bos_apart_loss = loss_of(model, frozen_hooks(measured, bos_scales(model, names)))
print(f"every norm frozen at once, no fine-tuning: {all_frozen_loss:.3f} nats; with BOS apart {bos_apart_loss:.3f} "
      f"(original {original_loss:.3f})")
norm_table.style.format(precision=3)

# %% [markdown]
# ## 2. Removal by fine-tuning, the paper's way
#
# `remove_layernorms` fine-tunes a copy of the model. In the paper's order (each MLP's norm, then each attention
# norm, then the final one) it measures one norm's average scale with the earlier norms already frozen, freezes it,
# and trains for `PAPER.steps_between` steps; then `PAPER.final_steps` more. The **control** runs the same steps on the
# same rows with the norms left alone: what fine-tuning by itself changes. We run each method once per seed.

# %%
train_tokens = story_tokens(tokenizer, TRAIN_TOKENS, seed=SEED, split="train")


def sampler(seed: int) -> RowSampler:
    return RowSampler(train_tokens, n_ctx, tokenizer.bos_token_id, model.cfg.d_vocab, seed=seed)


def frozen_loss(run) -> float:
    return loss_of(run.model, frozen_hooks(run.scales, run.bos))


paper_runs = {s: remove_layernorms(model, sampler(s), RemovalSchedule(**{**PAPER.__dict__, "seed": s}), CALIBRATION_ROWS)
            for s in SEEDS}
first = paper_runs[SEEDS[0]]  # the run the later sections study
control = remove_layernorms(model, sampler(SEED), PAPER, freeze=False)
n_params = sum(p.numel() for p in model.parameters())
# What training the model cost, where the suite recorded it (a TransformerLens model's is not known here).
trained_tokens = read_facts(MODEL)["training"]["tokens_seen"] if MODEL in mw.bundled_models() else None
removal = pd.DataFrame({f"seed {s}": {"loss after": frozen_loss(r), "tokens": r.tokens, "seconds": r.seconds}
                        for s, r in paper_runs.items()}).T
removal["vs original"] = removal["loss after"] / original_loss - 1
control_loss = loss_of(control.model)
removal["vs control"] = removal["loss after"] / control_loss - 1
print(f"original {original_loss:.3f}; control (fine-tuned, norms kept) {control_loss:.3f}; "
      f"every norm frozen without fine-tuning {all_frozen_loss:.3f} nats")
if trained_tokens:
    print(f"each removal fine-tunes on {first.tokens:,} tokens: {first.tokens / trained_tokens:.1%} of the "
          f"{trained_tokens:,} the model was trained on")
removal.style.format({"loss after": "{:.3f}", "tokens": "{:,.0f}", "seconds": "{:.0f}", "vs original": "{:+.1%}",
                      "vs control": "{:+.1%}"})

# %% [markdown]
# The fine-tuning loss over the run (first seed), with a dotted line where each norm was frozen: each freeze costs a
# jump, and the steps after it win most of it back.

# %%
fig, ax = plt.subplots(figsize=(9, 3.4))
smooth = first.log.loss.rolling(5, min_periods=1).mean()
ax.plot(first.log.step, smooth, lw=1.2, label="removal (5-step mean)")
ax.plot(control.log.step, control.log.loss.rolling(5, min_periods=1).mean(), lw=1.2, color="grey", label="control")
for step in first.log.step[first.log.frozen.diff().fillna(first.log.frozen.iloc[0]) > 0]:
    ax.axvline(step, color="k", ls=":", lw=0.7)
ax.set_xlabel("fine-tuning step")
ax.set_ylabel("training loss (nats)")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# With every norm frozen, the model is linear in each norm's input, so the norms fold into the weights that read them
# (`fold_frozen_layernorms`): centring, the frozen division and the norm's weight and bias become part of `W_Q`, `W_K`,
# `W_V`, `W_in` and `W_U`. The result has `normalization_type=None`: no LayerNorm at all. It computes the same logits
# as the frozen model, up to float rounding:

# %%
plain = fold_frozen_layernorms(first.model, first.scales)
with first.model.hooks(fwd_hooks=frozen_hooks(first.scales)):
    fold_error = float((first.model(held_out[:4]) - plain(held_out[:4])).abs().max())
print(f"{MODEL} without LayerNorm: normalization_type={plain.cfg.normalization_type}, "
      f"largest logit difference from the frozen model {fold_error:.1e}")

# %% [markdown]
# ## 3. Cheaper removal
#
# The paper's schedule pays for one round of fine-tuning per norm. The cheap method freezes every norm at once and
# trains the student to match the original model's next-token distribution (a KL loss, as in distillation), which
# gives a signal at every vocabulary entry rather than one token, and anchors the student to the original, so it can
# take a learning rate about three times higher (`CHEAP`). Cost is counted in FLOPs: 6 per parameter per token
# trained on, 2 per parameter per token the original model reads to make the targets.

# %%
cheap_runs = {s: remove_layernorms(model, sampler(s), RemovalSchedule(groups=[names], distill=True, seed=s,
                                                                    batch_size=PAPER.batch_size,
                                                                    repeat_rows=PAPER.repeat_rows, **CHEAP),
                                  CALIBRATION_ROWS)
              for s in SEEDS}
costs = pd.DataFrame(
    [{"method": "paper (one norm at a time)", "seed": s, "loss after": frozen_loss(r), "GFLOP": r.flops(n_params) / 1e9}
     for s, r in paper_runs.items()]
    + [{"method": "cheap (all at once, distilled)", "seed": s, "loss after": frozen_loss(r),
        "GFLOP": r.flops(n_params) / 1e9} for s, r in cheap_runs.items()])
costs["vs original"] = costs["loss after"] / original_loss - 1
paper_flops = float(np.mean([r.flops(n_params) for r in paper_runs.values()]))
cheap_flops = float(np.mean([r.flops(n_params) for r in cheap_runs.values()]))
costs.style.format({"loss after": "{:.3f}", "GFLOP": "{:.0f}", "vs original": "{:+.1%}"}).hide(axis="index")

# %% [markdown]
# ## 4. Which capabilities needed LayerNorm?
#
# Each held-out story labels the tokens that a planted capability makes predictable. We compare the loss on them
# between the no-LayerNorm model and the control (fine-tuned the same steps with its norms): what is left is what the
# norms did, not what fine-tuning did. The original's loss and accuracy stand beside them. Then the same on every task
# file, item by item.

# %%
stories = list(generate_stories(N_STORIES, seed=SEED + 1, split="val"))
token_scores = {"original": capability_token_scores(model, stories), "control": capability_token_scores(control.model, stories),
                "no LayerNorm": capability_token_scores(plain, stories)}
gap = capability_gap(token_scores["control"].capability, token_scores["control"].loss, token_scores["no LayerNorm"].loss)
accuracy = {k: t.groupby("capability").correct.mean() for k, t in token_scores.items()}
gap.insert(1, "original", token_scores["original"].groupby("capability").loss.mean())  # loss of the model we started from
gap["accuracy, original"] = accuracy["original"]
gap["accuracy, control"] = accuracy["control"]
gap["accuracy, no LN"] = accuracy["no LayerNorm"]
gap["relative change"] = gap["change"] / gap["before"]
gap = gap.rename(columns={"original": "loss, original", "before": "loss, control", "after": "loss, no LN"})
worst = gap.index[0]
gap.style.format(precision=3)

# %%
tasks = load_tasks(tokenizer=tokenizer).groupby("task").head(TASK_ITEMS)
task_scores = pd.concat([score_task(m, tasks, name, context_tokens=0) for name, m in
                         (("original", model), ("control", control.model), ("no LayerNorm", plain))], ignore_index=True)
wide = task_scores.pivot_table(index=["task", "id"], columns="model", values=["logprob", "correct"])
per_item = pd.DataFrame({"logprob change": wide["logprob"]["no LayerNorm"] - wide["logprob"]["control"],
                         "lost": wide["correct"]["control"].astype(bool) & ~wide["correct"]["no LayerNorm"].astype(bool),
                         "gained": ~wide["correct"]["control"].astype(bool) & wide["correct"]["no LayerNorm"].astype(bool)})
task_table = per_item.groupby("task").agg(items=("lost", "size"), mean_logprob_change=("logprob change", "mean"),
                                          worse_items=("logprob change", lambda v: float((v < 0).mean())),
                                          answers_lost=("lost", "sum"), answers_gained=("gained", "sum"))
task_table = task_table.sort_values("mean_logprob_change")
for name in ("original", "control", "no LayerNorm"):  # top-1 accuracy on the answers' tokens, per model
    task_table[f"accuracy, {name}"] = wide["correct"][name].groupby("task").mean()
worst_task = task_table.index[0]
task_table.style.format(precision=3)

# %% [markdown]
# The items of the task that suffers most on which the no-LayerNorm model loses most log-probability against the
# control:

# %%
drop = per_item.loc[worst_task].sort_values("logprob change").head(6)
tasks.set_index(["task", "id"]).loc[[(worst_task, i) for i in drop.index], ["prompt", "answer"]].assign(
    **{"logprob change": drop["logprob change"].values})

# %% [markdown]
# **What did the norm do for that capability?** Two pieces of evidence, on the original model. First, the *scale*:
# at the labelled tokens of the capability that suffers most, how far is each norm's true scale from its frozen value,
# against all other tokens? A norm whose scale sits far from its average at those tokens was rescaling them, and a
# frozen norm cannot. Second, the *attention sink*: BOS's scale is not the others' (section 1), so freezing the
# attention norms changes BOS's keys and values more than any other position's; we measure the attention paid to BOS
# at the capability's tokens, with the norms and without.

# %%
probe_stories = stories[: 40 if not SMOKE else 8]
encoded = [capability_tokens(tokenizer, story) for story in probe_stories]
lengths = [min(len(ids), n_ctx) for ids, _ in encoded]
rows = torch.tensor([ids[:n] + [tokenizer.bos_token_id] * (n_ctx - n) for (ids, _), n in zip(encoded, lengths)])
worst_marks = [[p for c, p in marks if c == worst and p < n] for (_, marks), n in zip(encoded, lengths)]


def split_mean(values: torch.Tensor, marks) -> tuple[float, float]:
    """Mean of ``values`` [row, pos] at the marked positions, and at every other real position after BOS."""
    inside = [float(values[r, p]) for r, ps in enumerate(marks) for p in ps]
    outside = [float(values[r, p]) for r, n in enumerate(lengths) for p in range(1, n) if p not in set(marks[r])]
    return float(np.mean(inside)) if inside else float("nan"), float(np.mean(outside))


ratios = scale_ratios(model, rows, first.scales)
evidence = pd.DataFrame({n: dict(zip([f"|log scale ratio|, {worst}", "|log scale ratio|, other tokens"],
                                     split_mean(ratios[n].log().abs(), worst_marks))) for n in names}).T


def bos_attention(m, hooks=()) -> torch.Tensor:
    """Attention to position 0, averaged over heads and layers: [row, pos]."""
    with m.hooks(fwd_hooks=list(hooks)):
        _, c = m.run_with_cache(rows.to(DEVICE), names_filter=lambda h: h.endswith("hook_pattern"))
    return torch.stack([c[f"blocks.{l}.attn.hook_pattern"][:, :, :, 0].mean(1) for l in range(n_layers)]).mean(0).cpu()


sink = pd.DataFrame({name: dict(zip([worst, "other tokens"], split_mean(bos_attention(m), worst_marks)))
                     for name, m in (("original", model), ("control", control.model), ("no LayerNorm", plain))}).T
most_off = (evidence.iloc[:, 0] - evidence.iloc[:, 1]).idxmax()  # the norm whose scale is most unusual there
display(evidence.style.format(precision=3))
display(sink.style.format(precision=3))

# %% [markdown]
# Third, the induction heads, whose queries and keys are read through the attention norms: on random tokens shown
# twice, the best head's prefix-matching score and the loss on the second copy.

# %%
reports = {name: induction_report(m, seq_len=min(50, (n_ctx - 1) // 2), seed=SEED)
           for name, m in (("original", model), ("control", control.model), ("no LayerNorm", plain))}
pd.DataFrame({name: {"best prefix matching": float(rep.scores.max()), "second-copy loss": rep.loss_second}
              for name, rep in reports.items()}).T.style.format(precision=3)

# %% [markdown]
# ## 5. Do the dictionaries still work?
#
# The shipped residual SAEs read `hook_resid_post`, which the model without norms still has. The transcoders read each
# MLP's normalised input (`ln2.hook_normalized`), which it does not: `across_frozen_norm` folds the frozen norm into a
# transcoder's encoder so that it reads `hook_resid_mid` instead (exact for the frozen model). For each dictionary:
# FVU and loss recovered (against mean ablation) on the original model, on the model without norms, and after a short
# retraining that starts from the shipped weights.

# %%
dict_layers = sorted({round(i * (n_layers - 1) / 3) for i in range(4)})  # every layer of a 4-layer model; 4 of a deeper one
dictionaries = {**{f"resid{l}": mw.dictionary_for(model, f"resid{l}", smoke=SMOKE) for l in dict_layers},
                **{f"mlp{l}-tc": mw.dictionary_for(model, f"mlp{l}-tc", smoke=SMOKE) for l in dict_layers}}
moved = {name: across_frozen_norm(d, first.scales, n_layers) if d.cfg.is_transcoder else d
         for name, d in dictionaries.items()}
harvest_rows = story_rows(tokenizer, HARVEST_ROWS, n_ctx, seed=SEED + 50, split="train")
sites = sorted({h for d in moved.values() for h in (d.cfg.hook_in, d.cfg.hook_out) if h})
acts = harvest_activations(plain, sites, harvest_rows, progress=False)
n_fit = int(0.8 * len(next(iter(acts.values()))))  # retrain on the first 80% of the tokens, measure on the rest
fit = {h: a[:n_fit] for h, a in acts.items()}
test = {h: a[n_fit:] for h, a in acts.items()}
orig_sites = sorted({h for d in dictionaries.values() for h in (d.cfg.hook_in, d.cfg.hook_out) if h})
orig_acts = harvest_activations(model, orig_sites, harvest_rows[: max(2, HARVEST_ROWS // 4)], progress=False)


def quality(m, d, x, y) -> dict:
    stats = splice_stats(m, d, held_out[:8])
    return {"FVU": reconstruction_stats(d, x, y).fvu, "loss recovered": stats.loss_recovered_mean}


rows_out, retrained = [], {}
for name, d in dictionaries.items():
    new = moved[name]
    y_of = lambda a, dd: a[dd.cfg.hook_out] if dd.cfg.hook_out else None  # noqa: E731
    before = quality(model, d, orig_acts[d.cfg.hook_in], y_of(orig_acts, d))
    after = quality(plain, new, test[new.cfg.hook_in], y_of(test, new))
    tuned = Dictionary(new.cfg, seed=SEED)
    tuned.load_state_dict(new.state_dict())
    train_dictionary(tuned, fit[new.cfg.hook_in], TrainSettings(tokens=RETRAIN_TOKENS, batch_size=1024, lr=5e-4,
                                                                 seed=SEED, progress=False, refit=False),
                     y_of(fit, new))
    retrained[name] = tuned.eval()
    again = quality(plain, tuned, test[new.cfg.hook_in], y_of(test, new))
    cosine = torch.nn.functional.cosine_similarity(tuned.W_dec.detach(), new.W_dec.detach(), dim=-1)
    rows_out.append({"dictionary": name, "FVU, original": before["FVU"], "FVU, no LN": after["FVU"],
                     "FVU, retrained": again["FVU"], "loss recovered, original": before["loss recovered"],
                     "loss recovered, no LN": after["loss recovered"], "loss recovered, retrained": again["loss recovered"],
                     "decoder cosine, retrained vs shipped (median)": float(cosine.median())})
dict_table = pd.DataFrame(rows_out).set_index("dictionary")
dict_table.style.format(precision=3)

# %% [markdown]
# How much did the removal move the model's weights? Each matrix of the model without norms against the same matrix
# of the original with the *same* frozen scales folded in, so that only the fine-tuning's change is counted. The
# control's change (fine-tuning with the norms kept, against the original) is the yardstick.

# %%
reference = fold_frozen_layernorms(model, first.scales).state_dict()
moved_weights = relative_weight_change(reference, plain.state_dict())
control_weights = relative_weight_change(model.state_dict(), control.model.state_dict())
weights_table = pd.DataFrame({"removal": moved_weights, "control": control_weights}).dropna()
weights_table.sort_values("removal", ascending=False).head(10).style.format(precision=3)

# %% [markdown]
# ## 6. Features before and after a norm
#
# Seed 001 (Lee) asks how a LayerNorm changes the features an SAE finds. On the original model, block `LAYER`'s MLP
# norm: one SAE on its input (`hook_resid_mid`), one on its output (`ln2.hook_normalized`), trained on the same
# tokens. `match_across_norm` pairs each input latent with the output latent nearest to its centred direction (the
# norm centres, then divides by a number). A pair keeps its meaning if the two also fire on the same tokens: we
# correlate their activations over held-out tokens. Two references: a random rotation of the output SAE (what
# matching finds by chance), and a second SAE on the *input* side trained from another seed (how well two SAEs of
# the same activations agree: the most the norm could leave intact).

# %%
before_hook, after_hook = f"blocks.{LAYER}.hook_resid_mid", f"blocks.{LAYER}.ln2.hook_normalized"
side = harvest_activations(model, [before_hook, after_hook], harvest_rows, progress=False)
n_side = int(0.8 * len(side[before_hook]))  # trained on the first 80%, compared on the rest
test_before, test_after = side[before_hook][n_side:], side[after_hook][n_side:]


def side_sae(hook: str, seed: int) -> Dictionary:
    sae = Dictionary(DictConfig(d_in=model.cfg.d_model, width=WIDTH, k=16, hook_in=hook), seed=seed)
    train_dictionary(sae, side[hook][:n_side], TrainSettings(tokens=SIDE_TOKENS, batch_size=1024, seed=seed,
                                                             progress=False))
    return sae.eval()


def column_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each column of ``a`` with the same column of ``b``."""
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0)).clamp_min(1e-12)


# The two partners of sae_before share a seed of their own, so both comparisons are between different seeds and
# differ only in the norm (two SAEs from one seed start from the same directions and stay near them).
sae_before, sae_after, twin = side_sae(before_hook, SEED), side_sae(after_hook, SEED + 1), side_sae(before_hook, SEED + 1)
dec_before = sae_before.W_dec.detach()
code_before = sae_before.encode(test_before)
rotation = torch.linalg.qr(torch.randn(model.cfg.d_model, model.cfg.d_model,
                                       generator=torch.Generator().manual_seed(SEED)))[0]
pairings = {}
for label, partner, test_x, centre in (("across the norm", sae_after, test_after, True),
                                       ("same side, another seed", twin, test_before, False)):
    index, cos = match_across_norm(dec_before, partner.W_dec.detach(), centre=centre)
    code_partner = partner.encode(test_x)[:, index]  # each input latent's partner, column by column
    alive = (code_before > 0).any(0) & (code_partner > 0).any(0)
    r_act = column_correlation(code_before, code_partner)
    pairings[label] = {"cosine": cos[alive], "activation r": r_act[alive],
                       "same direction": float((cos[alive] > SAME).float().mean()),
                       "keeps its meaning": float(((cos[alive] > SAME) & (r_act[alive] > 0.8)).float().mean())}
null_cosine = match_across_norm(dec_before, sae_after.W_dec.detach() @ rotation)[1]
fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
for label, p in pairings.items():
    ax[0].hist(p["cosine"].numpy(), bins=40, alpha=0.6, label=label)
    ax[1].scatter(p["cosine"].numpy(), p["activation r"].numpy(), s=4, alpha=0.6, label=label)
ax[0].hist(null_cosine.numpy(), bins=40, alpha=0.6, label="null (rotated)")
ax[0].set_xlabel("cosine to the matched latent")
ax[0].legend(fontsize=8)
ax[1].set_xlabel("cosine")
ax[1].set_ylabel("activation correlation")
plt.tight_layout()
plt.show()
pd.DataFrame({label: {"median cosine": float(p["cosine"].median()), f"same direction (> {SAME})": p["same direction"],
                      "and fires on the same tokens (r > 0.8)": p["keeps its meaning"]}
              for label, p in pairings.items()}).T.style.format(precision=2)

# %% [markdown]
# A transcoder across the norm (input: the norm's input; output: the normalised vector) shows what the norm does to
# each feature. A latent that writes, once centred, the direction it reads passes its feature through, only
# rescaled; one that writes another direction mixes features. The yardstick is the input SAE itself, which maps
# each vector to itself: how far its own latents' read and written directions agree.

# %%
across = Dictionary(DictConfig(d_in=model.cfg.d_model, width=WIDTH, k=16, d_out=model.cfg.d_model,
                               hook_in=before_hook, hook_out=after_hook), seed=SEED)
train_dictionary(across, side[before_hook][:n_side], TrainSettings(tokens=SIDE_TOKENS, batch_size=1024, seed=SEED,
                                                                   progress=False), side[after_hook][:n_side])


def read_write_cosine(d: Dictionary, x: torch.Tensor, centre: bool) -> torch.Tensor:
    """Cosine of each firing latent's encoder row (centred if ``centre``) with its decoder row."""
    read = d.W_enc.detach() - d.W_enc.detach().mean(-1, keepdim=True) if centre else d.W_enc.detach()
    fires = (d.encode(x) > 0).any(0)
    return torch.nn.functional.cosine_similarity(read, d.W_dec.detach(), dim=-1)[fires]


through = {"transcoder across the norm": read_write_cosine(across, test_before, centre=True),
           "SAE on the norm's input": read_write_cosine(sae_before, test_before, centre=False)}
across_fvu = reconstruction_stats(across, test_before, test_after).fvu
print(f"transcoder across {MODEL}'s block-{LAYER} MLP norm: FVU {across_fvu:.3f}")
pd.DataFrame({label: {"latents that fire": len(c), "median read/write cosine": float(c.median()),
                      f"share above {SAME}": float((c > SAME).float().mean())}
              for label, c in through.items()}).T.style.format(precision=2)

# %% [markdown]
# ## Records

# %%
paper_losses = [frozen_loss(r) for r in paper_runs.values()]
cheap_losses = [frozen_loss(r) for r in cheap_runs.values()]
mw.record("seeds", len(SEEDS))
mw.record("original_loss", original_loss)
mw.record("all_frozen_loss", all_frozen_loss)
mw.record("bos_apart_loss", bos_apart_loss)
mw.record("all_frozen_increase", all_frozen_loss - original_loss)
mw.record("worst_single_norm", str(norm_table["loss increase"].idxmax()))
mw.record("worst_single_norm_increase", float(norm_table["loss increase"].max()))
mw.record("bos_scale_ratio_max", float(norm_table["BOS scale / mean"].max()))
mw.record("control_loss", control_loss)
mw.record("removed_loss_min", float(min(paper_losses)))
mw.record("removed_loss_max", float(max(paper_losses)))
mw.record("removed_vs_original_max", float(max(paper_losses)) / original_loss - 1)
mw.record("removed_vs_control_max", float(max(paper_losses)) / control_loss - 1)
mw.record("within_5_percent_runs", int(sum(loss <= 1.05 * original_loss for loss in paper_losses)))
# The share of the loss that freezing every norm costs which the fine-tuning wins back, in the worse run.
mw.record("recovered_share_min", (all_frozen_loss - max(paper_losses)) / (all_frozen_loss - original_loss))
# Is the removal still closing its gap to the control when the budget ends? The training-loss gap (removal minus
# control, trained on the same rows) over the last quarter of the final steps, minus over the quarter before (negative: closing).
quarter = max(1, PAPER.final_steps // 4)
loss_gap = first.log.loss.to_numpy() - control.log.loss.to_numpy()
mw.record("gap_still_closing", float(loss_gap[-quarter:].mean() - loss_gap[-2 * quarter:-quarter].mean()))
mw.record("fold_error", fold_error)
mw.record("paper_tokens", int(first.tokens))
mw.record("model_training_tokens", trained_tokens or "not recorded for this model")
mw.record("cheap_loss_min", float(min(cheap_losses)))
mw.record("cheap_loss_max", float(max(cheap_losses)))
mw.record("cheap_vs_original_max", float(max(cheap_losses)) / original_loss - 1)
mw.record("cheap_compute_ratio", cheap_flops / paper_flops)
mw.record("worst_capability", str(worst))
mw.record("worst_capability_change", float(gap.loc[worst, "change"]))
mw.record("worst_capability_relative", float(gap.loc[worst, "relative change"]))
mw.record("worst_capability_accuracy_control", float(gap.loc[worst, "accuracy, control"]))
mw.record("worst_capability_accuracy_no_ln", float(gap.loc[worst, "accuracy, no LN"]))
mw.record("best_capability", str(gap.index[-1]))
mw.record("best_capability_change", float(gap["change"].iloc[-1]))
mw.record("worst_task", str(worst_task))
mw.record("worst_task_logprob_change", float(task_table.loc[worst_task, "mean_logprob_change"]))
mw.record("worst_task_answers_lost", int(task_table.loc[worst_task, "answers_lost"]))
mw.record("worst_task_items", int(task_table.loc[worst_task, "items"]))
mw.record("evidence_norm", str(most_off))
mw.record("scale_ratio_worst", float(evidence.loc[most_off].iloc[0]))
mw.record("scale_ratio_other", float(evidence.loc[most_off].iloc[1]))
mw.record("scale_ratio_excess", float(evidence.loc[most_off].iloc[0] - evidence.loc[most_off].iloc[1]))
mw.record("bos_attention_original", float(sink.loc["original", worst]))
mw.record("bos_attention_no_ln", float(sink.loc["no LayerNorm", worst]))
mw.record("prefix_matching", {name: float(rep.scores.max()) for name, rep in reports.items()})
mw.record("second_copy_loss", {name: rep.loss_second for name, rep in reports.items()})
mw.record("dict_loss_recovered_original_min", float(dict_table["loss recovered, original"].min()))
mw.record("dict_loss_recovered_no_ln_min", float(dict_table["loss recovered, no LN"].min()))
mw.record("dict_loss_recovered_no_ln_median", float(dict_table["loss recovered, no LN"].median()))
mw.record("dict_loss_recovered_retrained_min", float(dict_table["loss recovered, retrained"].min()))
mw.record("dict_fvu_no_ln_max", float(dict_table["FVU, no LN"].max()))
mw.record("dict_fvu_retrained_max", float(dict_table["FVU, retrained"].max()))
mw.record("retrain_fvu_gain_min", float((dict_table["FVU, no LN"] - dict_table["FVU, retrained"]).min()))
mw.record("dict_worst_no_ln", str(dict_table["loss recovered, no LN"].idxmin()))
mw.record("decoder_cosine_min", float(dict_table["decoder cosine, retrained vs shipped (median)"].min()))
mw.record("weight_change_median", float(weights_table["removal"].median()))
mw.record("weight_change_max", float(weights_table["removal"].max()))
mw.record("weight_change_largest", str(weights_table["removal"].idxmax()))
mw.record("control_weight_change_median", float(weights_table["control"].median()))
mw.record("weight_change_excess", float(weights_table["removal"].median() - weights_table["control"].median()))
mw.record("matched_cosine_median", float(pairings["across the norm"]["cosine"].median()))
mw.record("twin_cosine_median", float(pairings["same side, another seed"]["cosine"].median()))
# How much further apart the norm puts two SAEs' latents than a new seed does (positive: the norm changes them more).
mw.record("norm_vs_seed_gap", float(pairings["same side, another seed"]["cosine"].median()
                                    - pairings["across the norm"]["cosine"].median()))
mw.record("null_cosine_median", float(null_cosine.median()))
mw.record("same_direction_share", pairings["across the norm"]["same direction"])
mw.record("twin_same_direction_share", pairings["same side, another seed"]["same direction"])
mw.record("keeps_meaning_share", pairings["across the norm"]["keeps its meaning"])
mw.record("twin_keeps_meaning_share", pairings["same side, another seed"]["keeps its meaning"])
mw.record("across_fvu", across_fvu)
mw.record("across_read_write_cosine", float(through["transcoder across the norm"].median()))
mw.record("sae_read_write_cosine", float(through["SAE on the norm's input"].median()))

# %% [markdown]
# ## What we found

# %% tags=["hide-input"]
r = mw.records()
if not r["trained"]:
    found = [mw.untrained_finding(MODEL, r["original_loss"], model.cfg.d_vocab, "what its norms do")]
else:
    found = [
        f"Freezing every norm of {MODEL} at its average scale, with no fine-tuning, raises the held-out loss from "
        f"{r['original_loss']:.3f} to {r['all_frozen_loss']:.3f} nats. Alone, {r['worst_single_norm']} costs most "
        f"(+{r['worst_single_norm_increase']:.3f} nats); BOS's scale is up to {r['bos_scale_ratio_max']:.1f} times a "
        "norm's average.",
        f"Removed the paper's way ({r['paper_tokens']:,} tokens of fine-tuning"
        + (f", {r['paper_tokens'] / r['model_training_tokens']:.1%} of the tokens the model was trained on"
           if isinstance(r["model_training_tokens"], int) else "") + f"), the model without LayerNorm ends at {r['removed_loss_min']:.3f} to {r['removed_loss_max']:.3f} "
        f"nats over {r['seeds']} seed{'s' * (r['seeds'] > 1)}: at most {r['removed_vs_original_max']:+.1%} against the "
        f"original and {r['removed_vs_control_max']:+.1%} against the control fine-tuned with its norms "
        f"({r['control_loss']:.3f}). "
        + ("Every run is within the 5% we aimed for." if r["removed_vs_original_max"] <= 0.05 else
           f"{r['within_5_percent_runs']} of {r['seeds']} runs end{'s' * (r['within_5_percent_runs'] == 1)} within the "
           "5% we aimed for; "
           + ("the gap to the control was still closing when the fine-tuning stopped, so more fine-tuning than a "
              "10-minute chapter affords would likely close it." if r["gap_still_closing"] < 0 else
              "the gap to the control had stopped closing by the end, so more of the same steps may not reach it.")),
        f"Removing every norm at once and distilling costs {r['cheap_compute_ratio']:.0%} of the paper's compute and "
        f"ends at {r['cheap_loss_min']:.3f} to {r['cheap_loss_max']:.3f} nats ({r['cheap_vs_original_max']:+.1%} at "
        "worst against the original).",
        f"The capability that suffers most is {r['worst_capability']}: its labelled tokens' loss rises by "
        f"{r['worst_capability_change']:.3f} nats ({r['worst_capability_relative']:+.0%}) against the control, top-1 "
        f"accuracy {r['worst_capability_accuracy_control']:.2f} to {r['worst_capability_accuracy_no_ln']:.2f}; "
        f"{r['best_capability']} changes least ({r['best_capability_change']:+.3f}). Among the task files, "
        f"{r['worst_task']} loses most ({r['worst_task_logprob_change']:+.3f} nats per answer, "
        f"{r['worst_task_answers_lost']} of {r['worst_task_items']} answers lost).",
        f"At the labelled tokens of {r['worst_capability']}, the norm whose scale is most unusual there is "
        f"{r['evidence_norm']}: its true scale is "
        + ("further from" if r["scale_ratio_worst"] > r["scale_ratio_other"] else "no further from")
        + f" its frozen value (mean |log ratio| {r['scale_ratio_worst']:.3f}) than at other tokens "
        f"({r['scale_ratio_other']:.3f}). "
        + (f"Attention to BOS there is negligible with and without norms ({r['bos_attention_original']:.1e} and "
           f"{r['bos_attention_no_ln']:.1e}): this model has no attention sink to lose. "
           if max(r["bos_attention_original"], r["bos_attention_no_ln"]) < 0.01 else
           f"Attention to BOS there is {r['bos_attention_original']:.3f} in the original and "
           f"{r['bos_attention_no_ln']:.3f} without norms. ")
        + "The best induction head's prefix-matching score is "
        f"{r['prefix_matching']['original']:.2f} in the original, {r['prefix_matching']['control']:.2f} in the "
        f"control and {r['prefix_matching']['no LayerNorm']:.2f} without norms (second-copy loss "
        f"{r['second_copy_loss']['original']:.2f}, {r['second_copy_loss']['control']:.2f}, "
        f"{r['second_copy_loss']['no LayerNorm']:.2f}).",
        f"The shipped dictionaries recover at least {r['dict_loss_recovered_original_min']:.2f} of the loss (against "
        f"mean ablation) on the original model, at least {r['dict_loss_recovered_no_ln_min']:.2f} (median "
        f"{r['dict_loss_recovered_no_ln_median']:.2f}; worst {r['dict_worst_no_ln']}) on the model without norms as they "
        f"are, and at least {r['dict_loss_recovered_retrained_min']:.2f} after a short retraining, whose decoder rows "
        f"stay at median cosine {r['decoder_cosine_min']:.2f} or more to the shipped ones. The removal moved the "
        f"weights by {r['weight_change_median']:.1%} (median over matrices; most: {r['weight_change_largest']}, "
        f"{r['weight_change_max']:.1%}), against {r['control_weight_change_median']:.1%} for the control.",
        f"Across block {LAYER}'s MLP norm, an SAE's latents find a partner after the norm at median cosine "
        f"{r['matched_cosine_median']:.2f} (a random rotation: {r['null_cosine_median']:.2f}; a second SAE on the same "
        f"side from another seed: {r['twin_cosine_median']:.2f}). "
        + ("So the norm changes the features no more than training the SAE from another seed does; a norm that mixed "
           "them completely would bring the matches down to the rotated null's. Our SAEs disagree with themselves "
           "across seeds too much to see smaller changes." if r["norm_vs_seed_gap"] <= 0.05 else
           "So the norm changes the features more than training the SAE from another seed does.")
        + f" A transcoder across the norm (FVU {r['across_fvu']:.3f}) has its latents read and write directions at "
        f"median cosine {r['across_read_write_cosine']:.2f}, against {r['sae_read_write_cosine']:.2f} for the SAE on "
        "the norm's input, which maps each vector to itself.",
    ]
mw.findings(*found)

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to write one of this chapter's tools. The check under it runs your function on made-up
# inputs and says PASSED, FAILED with what is wrong, or "not attempted" while your stub is untouched. In the learner
# notebook the solutions are stubs that return None.
#
# ```{exercise} A LayerNorm with a frozen scale
# :label: ex-layernorm-frozen
#
# **Difficulty** 1/5 · **Importance** 5/5 · **Time** 5 min
#
# `x` is a [..., d] tensor of residual vectors, `w` and `b` the norm's weight and bias [d], `scale` a number. Return
# what the LayerNorm computes once its scale is frozen at `scale`: each row centred, divided by `scale`, then scaled by
# `w` and shifted by `b`.
# ```
#
# <details><summary>Hint</summary>
#
# The real norm divides each row by that row's own standard deviation; that is the nonlinear part, and the only part
# that freezing changes. `x.mean(-1, keepdim=True)` is each row's mean.
#
# </details>

# %%
def layernorm_frozen(x, w, b, scale):
    """LayerNorm of ``x`` with its scale frozen at ``scale``."""
    # BEGIN SOLUTION (stub: return None)
    return (x - x.mean(-1, keepdim=True)) / scale * w + b
    # END SOLUTION


# %%
exercises.check_frozen_layernorm(layernorm_frozen, strict=STRICT)

# %% [markdown]
# ```{exercise} Which capability got worse?
# :label: ex-layernorm-capability
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 10 min
#
# `labels` is a list with one capability name per labelled token; `before` and `after` are tensors with the two
# models' losses on those tokens, in the same order. Return `(names, changes)`: the capabilities, sorted so that the
# one whose mean loss rises most comes first, and a tensor of those rises (mean loss after minus mean loss before).
# ```
#
# <details><summary>Hint</summary>
#
# A `pandas.DataFrame` with the three columns, `groupby("capability").mean()`, then `sort_values(ascending=False)`.
#
# </details>

# %%
def capability_change(labels, before, after):
    """Capabilities worst first, and the rise of their mean loss."""
    # BEGIN SOLUTION (stub: return None)
    frame = pd.DataFrame({"capability": labels, "change": (after - before).numpy()})
    means = frame.groupby("capability").change.mean().sort_values(ascending=False)
    return list(means.index), torch.tensor(means.values)
    # END SOLUTION


# %%
exercises.check_capability_change(capability_change, strict=STRICT)

# %% [markdown]
# ```{exercise} How far did a matrix move?
# :label: ex-layernorm-change
#
# **Difficulty** 1/5 · **Importance** 3/5 · **Time** 5 min
#
# Return the relative change of a weight matrix from `before` to `after`: the Frobenius norm of the difference over
# the Frobenius norm of `before`, as a float.
# ```
#
# <details><summary>Hint</summary>
#
# `torch.linalg.norm` of a matrix is its Frobenius norm by default, and so is `tensor.norm()`.
#
# </details>

# %%
def relative_change(before, after):
    """|after - before| / |before|, Frobenius norms."""
    # BEGIN SOLUTION (stub: return None)
    return float((after - before).norm() / before.norm())
    # END SOLUTION


# %%
exercises.check_relative_change(relative_change, strict=STRICT)

# %% [markdown]
# ```{exercise} Matching latents across a norm
# :label: ex-layernorm-match
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 10 min
#
# `before` holds the decoder directions of an SAE on a norm's input [n_before, d], `after` those of an SAE on its
# normalised output [n_after, d]. The norm centres each vector and divides it by a number, so a feature's direction
# after the norm is its centred direction before it. For each row of `before`, return the index of the row of
# `after` with the highest cosine to its centred direction, and that cosine: `(index, cosine)`, two tensors.
# ```
#
# <details><summary>Hint</summary>
#
# Centre the rows of `before` (subtract each row's mean), normalise both sets of rows with
# `torch.nn.functional.normalize`, multiply, and take `.max(-1)`.
#
# </details>

# %%
def match_latents(before, after):
    """Index and cosine of each centred ``before`` row's nearest ``after`` row."""
    # BEGIN SOLUTION (stub: return None)
    centred = before - before.mean(-1, keepdim=True)
    cos = torch.nn.functional.normalize(centred, dim=-1) @ torch.nn.functional.normalize(after, dim=-1).T
    best = cos.max(-1)
    return best.indices, best.values
    # END SOLUTION


# %%
exercises.check_match_across_norm(match_latents, strict=STRICT)

# %% [markdown]
# ## Going further
#
# * **BOS, treated apart.** BOS's scale is far from every norm's average, and its residual vector is the same in every
#   row. Freeze a separate scale for position 0 during fine-tuning (the paper's later runs do): how much of the loss
#   gap closes? The result no longer folds into a plain model; what would it take to make it fold?
# * **A loss that keeps the SAEs working** (seed 002): add the spliced-in loss of the shipped SAEs to the fine-tuning
#   loss, and compare the dictionaries' loss recovered afterwards with section 5.
# * **Direct logit attribution, exactly.** Without norms, each head's and each MLP's contribution to a logit adds up
#   exactly. Redo the direct logit attribution of [Attention heads across the suite](../21_heads/21_heads.ipynb) on
#   the model without norms, and compare it with the usual approximation (the final norm's scale frozen per prompt).
# * **A longer schedule.** Double `steps_between` and `final_steps`: how much closer to the original does the loss
#   come, and does the capability that suffered most recover?
#
# ## References
#
# * Heimersheim (2024). You can remove GPT2's LayerNorm by fine-tuning. arXiv:2409.13710.
# * Transformers Don't Need LayerNorm at Inference Time: Scaling LayerNorm Removal to GPT-2 XL and the Implications
#   for Mechanistic Interpretability (2025): the same method on larger models, with BOS treated apart.
# * "Medium-sized mech interp project ideas" (seed 002): the three LayerNorm follow-ups.
# * "A List of 45+ Mech Interp Project Ideas from Apollo Research's Interpretability Team" (2024, seed 001): Lee's
#   question about features before and after LayerNorm.
