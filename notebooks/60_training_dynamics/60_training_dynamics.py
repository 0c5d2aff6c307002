# %% [markdown]
# # How induction heads form: the phase change, on a CPU
#
# > **You will learn to** keep checkpoints while a model trains, measure in-context learning, prefix matching
# > and K-composition at each one, find the step where they change, and test whether they change together.
# >
# > **You need:** [Start here](../00_start/00_start.ipynb) (induction heads);
# > [Attention heads across the suite](../21_heads/21_heads.ipynb) (prefix matching, K-composition).
# >
# > **Time:** about 60 min to study and do the exercises; the full run takes about 5 min on a laptop CPU
# > (three training runs), and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** Olsson et al. (2022), "In-context Learning and Induction Heads", found that small transformers
# go through a *phase change* early in training: within a short window, induction heads form, the model becomes
# much better at using earlier context (its in-context-learning score drops), and the training loss shows a
# bump. Seed 003 asks to replicate this across checkpoints (5.22) and to follow recognisable heads over training
# (5.25). Here we train a two-layer attention-only model three times, keep its weights every 25 steps, and ask:
# when do the four quantities below change, and do they change *together*?
#
# 1. the **in-context-learning (ICL) score**: the loss on a late token of a story minus the loss on an early one
#    (negative: later tokens are easier, because the model uses what came before);
# 2. the **second-copy loss**: the loss on the second copy of a sequence of random tokens, which only copying can
#    predict;
# 3. the best head's **prefix-matching score**: its attention from a token to the token after that token's
#    earlier copy (the induction pattern);
# 4. the **K-composition** of the circuit's pair: how much a layer-0 head's output feeds the induction head's keys
#    (Elhage et al. 2021), the wiring an induction head needs.
#
# **What we changed from the paper, and why.** The paper's models train on billions of tokens of natural text with
# long contexts, and the phase change comes after roughly 2.5 to 5 billion tokens; its ICL score is the
# loss on the 500th token minus the loss on the 50th. A CPU has minutes. Our model is 64 wide with a 64-token
# context, and every step trains on 8 rows of our stories plus 24 rows of repeated random spans
# (`InductionRecipe`), which make the reward for copying dense: the phase change then comes after a few hundred
# steps, about a million tokens. Our ICL score takes tokens 60 and 6 (the paper's ratio of ten), each averaged with
# its two neighbours on either side. The suite's own two-layer model (`MODEL`) was trained the long way; we compare
# with it at the end.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-attn-2l"  # the model trained with the full recipe, compared with at the end (any model)
DEVICE = "cpu"  # "cuda" on a GPU machine: the three runs train there, and the comparison model runs there

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.analysis.training_dynamics import (CURVES, InductionRecipe, change_correlation, dynamics,
                                                   fastest_change_step, recipe_table, train_with_checkpoints)
from mi_widgets.heads import induction_report, previous_token_scores, repeated_random_tokens
from mi_widgets.logprobs import is_trained
from mi_widgets.organisms.corpus import load_bundled_tokenizer, row_length, story_rows, story_tokens

torch.manual_seed(SEED)
torch.set_grad_enabled(False)  # measuring only; train_with_checkpoints turns gradients on for its own training
SEEDS = [SEED] if SMOKE else [SEED, SEED + 1, SEED + 2]  # training runs: the claims below hold in each
# Smoke mode stops at step 200, before the phase change (it comes after 575-625 steps here), so the smoke run checks
# the machinery and the early phase only.
RECIPE = InductionRecipe(steps=200, every=25) if SMOKE else InductionRecipe()
TRAIN_TOKENS = 300_000 if SMOKE else 1_000_000  # distinct story tokens the story rows are cut from
EVAL_ROWS = 64 if SMOKE else 256  # held-out story rows for the story loss and the ICL score
WINDOW = 150  # steps either side of the phase change in which the curves' changes are correlated
LAG = 100  # the null: one curve's changes taken this many steps later
FORMED = 0.3  # a run has formed induction if its best prefix-matching score ends at least this high

tokenizer = load_bundled_tokenizer()
train_tokens = story_tokens(tokenizer, TRAIN_TOKENS, seed=SEED, split="train")
held_out = story_rows(tokenizer, EVAL_ROWS, RECIPE.n_ctx, seed=SEED + 40, split="val")
recipe_table(RECIPE)

# %% [markdown]
# ## 1. Training, with checkpoints
#
# `train_with_checkpoints` builds the model, trains it with the suite's training loop
# (`mi_widgets.organisms.model_training.train`, constant learning rate after a short warm-up) and copies its
# weights every `RECIPE.every` steps. `circuit` finds the pair of heads the run ends with: the best induction head
# of layer 1 (a layer-0 head cannot know what came before a key) and the layer-0 head that K-composes with it
# most. Then `dynamics` loads each checkpoint in turn and measures the four curves, the K-composition being that
# pair's. Each run has its own seed: its own initialisation and its own rows.

# %%
def circuit(run) -> dict:
    """The best induction head of layer 1 (where one can form) and the layer-0 head that K-composes with it most."""
    model = run.model
    report = induction_report(model, seq_len=(RECIPE.n_ctx - 1) // 2, seed=SEED)
    head = int(report.scores[1].argmax())
    kcomp = model.all_composition_scores("K").detach()
    sender = int(kcomp[0, :, 1, head].argmax())
    previous = previous_token_scores(model, held_out[:16].to(model.cfg.device))
    return {"induction head": f"L1H{head}", "prefix matching": float(report.scores[1, head]),
            "sender": f"L0H{sender}", "sender's previous-token score": float(previous[0, sender]),
            "K-composition": float(kcomp[0, sender, 1, head]), "second-copy loss": report.loss_second,
            "pair": ((0, sender), (1, head))}


runs, frames, ends = {}, {}, {}
for seed in SEEDS:
    runs[seed] = train_with_checkpoints(tokenizer, train_tokens, RECIPE, seed, device=DEVICE)
    ends[seed] = circuit(runs[seed])  # the circuit it ends with: its K-composition is followed back in time
    frames[seed] = dynamics(runs[seed].model, runs[seed].checkpoints, held_out, pair=ends[seed].pop("pair"), seed=SEED)
    print(f"seed {seed}: {len(runs[seed].checkpoints)} checkpoints, trained in {runs[seed].log.seconds:.0f} s")
frames[SEEDS[0]].iloc[::4].style.format(precision=3).hide(axis="index")

# %% [markdown]
# ## 2. The curves
#
# Each panel shows one quantity against the training step, one line per seed. The dotted lines mark each run's
# phase change: the median, over the four curves, of the step at which each moves fastest in its own direction
# (`fastest_change_step`: the ICL score and the second-copy loss fall, the other two rise). The table gives those
# steps, and how far apart the three behavioural curves' steps are (the ICL score, the second-copy loss and the
# prefix-matching score). K-composition is a property of the weights alone, and it also moves while the weights
# leave their initialisation: its fastest rise can come then.

# %%
steps_table = pd.DataFrame({seed: {name: fastest_change_step(f.step, f[name], direction)
                                   for name, direction in CURVES.items()} for seed, f in frames.items()}).T
steps_table.index.name = "seed"
steps_table["phase change"] = steps_table[list(CURVES)].median(axis=1).round().astype(int)
behaviour = ["ICL score", "second-copy loss", "prefix matching"]  # what the model does, and where a head looks
steps_table["spread of the three"] = steps_table[behaviour].max(axis=1) - steps_table[behaviour].min(axis=1)

fig, axes = plt.subplots(2, 3, figsize=(11, 6))
axes = axes.flatten()
axes[-1].axis("off")  # five panels
for ax, name in zip(axes, [*CURVES, "story loss"]):
    for seed, f in frames.items():
        line, = ax.plot(f.step, f[name], lw=1.5, label=f"seed {seed}")
        ax.axvline(steps_table.loc[seed, "phase change"], color=line.get_color(), ls=":", lw=1)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("step")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()
steps_table

# %% [markdown]
# ## 3. Do they change together?
#
# Curves that all trend over training correlate whatever their timing, so we correlate their *changes* between
# consecutive checkpoints, within 150 steps either side of each run's phase change, each curve against the
# prefix-matching score (signs turned so that moving together is positive). The null takes the prefix-matching
# score's changes 100 steps later: what the correlation would be if the curves moved 100 steps apart.

# %%
pairs = [name for name in CURVES if name != "prefix matching"]
together = []
for seed, f in frames.items():
    center = int(steps_table.loc[seed, "phase change"])
    for name in pairs:
        sign = CURVES[name] * CURVES["prefix matching"]
        together.append({"seed": seed, "curve": name,
                         "r (same steps)": sign * change_correlation(f, name, "prefix matching", center, WINDOW),
                         f"r ({LAG} steps apart)": sign * change_correlation(f, name, "prefix matching", center,
                                                                             WINDOW, lag=LAG)})
together = pd.DataFrame(together)
together["together beats apart"] = together["r (same steps)"] > together[f"r ({LAG} steps apart)"]
together.style.format(precision=2).hide(axis="index")

# %% [markdown]
# Olsson et al. also saw a **bump in the training loss** at the phase change: for a few hundred steps the loss
# stops falling, or rises, while the model rewires. Below: the story loss just after each run's phase change minus
# its lowest value in the 150 steps before it (positive: a bump).

# %%
def loss_bump(f: pd.DataFrame, center: int) -> float:
    before = f[f.step.between(center - WINDOW, center - RECIPE.every)]["story loss"].min()
    after = f[f.step.between(center, center + 3 * RECIPE.every)]["story loss"].max()
    return float(after - before)


bumps = {seed: loss_bump(f, int(steps_table.loc[seed, "phase change"])) for seed, f in frames.items()}
pd.Series(bumps, name="story-loss bump (nats)").to_frame().style.format(precision=3)

# %% [markdown]
# ## 4. What formed, and how it compares with the suite's model
#
# The circuit each run ends with, and the sender's previous-token score on story text. Different seeds can pick
# different heads. Below, the best
# induction head's attention on random tokens shown twice, before, during and after the phase change of the first
# run: the induction stripe (attention to the token after the earlier copy) appears in the window.

# %%
circuits = pd.DataFrame(ends).T
circuits.index.name = "seed"
circuits

# %%
first = runs[SEEDS[0]]
phase = int(steps_table.loc[SEEDS[0], "phase change"])
shown = [s for s in (phase - 4 * RECIPE.every, phase, phase + 4 * RECIPE.every) if s in first.checkpoints]
shown = shown if len(shown) == 3 else [0, RECIPE.steps // 2, RECIPE.steps]
best_layer, best_head = (int(c) for c in circuits.loc[SEEDS[0], "induction head"][1:].split("H"))
rep = repeated_random_tokens(first.model, seq_len=12, n_seqs=1, seed=SEED)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for ax, step in zip(axes, shown):
    first.model.load_state_dict(first.checkpoints[step])
    _, cache = first.model.run_with_cache(rep, names_filter=f"blocks.{best_layer}.attn.hook_pattern")
    ax.imshow(cache[f"blocks.{best_layer}.attn.hook_pattern"][0, best_head].cpu(), cmap="Blues", vmin=0, vmax=1)
    ax.set_title(f"step {step}: L{best_layer}H{best_head}", fontsize=10)
    ax.set_xlabel("key position")
axes[0].set_ylabel("query position")
plt.tight_layout()
plt.show()
first.model.load_state_dict(first.checkpoints[max(first.checkpoints)])

# %% [markdown]
# The suite's `MODEL` was trained with the long recipe (a repeat-only warm-up, then millions of story tokens at
# a 256-token context). On the same test (random tokens, 31 of them shown twice), where do our short runs end
# against it?

# %%
reference = mw.load_model(MODEL, device=DEVICE)
reference_loss = float(reference(story_rows(reference.tokenizer, 8, row_length(reference), seed=SEED + 40,
                                            split="val").to(DEVICE), return_type="loss"))
ref_report = induction_report(reference, seq_len=min(31, (reference.cfg.n_ctx - 1) // 2), seed=SEED)
ref_kcomp = reference.all_composition_scores("K").detach()
ref_adjacent = (max(float(ref_kcomp[l, :, l + 1, :].max()) for l in range(reference.cfg.n_layers - 1))
                if reference.cfg.n_layers > 1 else float("nan"))
pd.DataFrame({"prefix matching (best head)": [circuits["prefix matching"].median(), float(ref_report.scores.max())],
              "second-copy loss": [circuits["second-copy loss"].median(), ref_report.loss_second],
              "K-composition (best adjacent pair)": [float(np.median([f["K-composition"].iloc[-1]
                                                                      for f in frames.values()])), ref_adjacent]},
             index=[f"our runs (median of {len(runs)})", MODEL]).style.format(precision=3)

# %% [markdown]
# ## Records

# %%
last = {seed: f.iloc[-1] for seed, f in frames.items()}
mw.record("seeds", len(SEEDS))
mw.record("steps", RECIPE.steps)
mw.record("story_loss_start", float(np.median([f["story loss"].iloc[0] for f in frames.values()])))
mw.record("story_loss_end_max", float(max(row["story loss"] for row in last.values())))
mw.record("formed_runs", int(sum(row["prefix matching"] >= FORMED for row in last.values())))
mw.record("prefix_matching_end_min", float(min(row["prefix matching"] for row in last.values())))
mw.record("second_copy_loss_start", float(np.median([f["second-copy loss"].iloc[0] for f in frames.values()])))
mw.record("second_copy_loss_end_max", float(max(row["second-copy loss"] for row in last.values())))
mw.record("phase_steps", steps_table["phase change"].astype(int).tolist())
mw.record("phase_step_min", int(steps_table["phase change"].min()))
mw.record("phase_step_max", int(steps_table["phase change"].max()))
mw.record("phase_spread_max", int(steps_table["spread of the three"].max()))
kcomp_gap = (steps_table["K-composition"] - steps_table["phase change"]).abs()
mw.record("kcomp_at_phase_runs", int((kcomp_gap <= 2 * RECIPE.every).sum()))
mw.record("kcomp_fastest_steps", steps_table["K-composition"].astype(int).tolist())
mw.record("change_r_min", float(together["r (same steps)"].min()))
mw.record("change_r_mean", float(together["r (same steps)"].mean()))
mw.record("change_r_lagged_mean", float(together[f"r ({LAG} steps apart)"].mean()))
mw.record("change_r_lagged_max", float(together[f"r ({LAG} steps apart)"].max()))
mw.record("together_beats_apart", int(together["together beats apart"].sum()))
mw.record("together_pairs", len(together))


def around(f: pd.DataFrame, name: str, step: int) -> float:
    """The curve's value at the checkpoint nearest ``step``."""
    return float(f.loc[(f.step - step).abs().idxmin(), name])


icl_before = [around(f, "ICL score", steps_table.loc[s, "phase change"] - WINDOW) for s, f in frames.items()]
icl_after = [around(f, "ICL score", steps_table.loc[s, "phase change"] + WINDOW) for s, f in frames.items()]
mw.record("icl_before_median", float(np.median(icl_before)))
mw.record("icl_after_median", float(np.median(icl_after)))
mw.record("icl_drop_min", float(min(b - a for b, a in zip(icl_before, icl_after))))
# The share of the whole run's ICL gain (first checkpoint to last) made across the change window, per run.
icl_share = [(b - a) / (f["ICL score"].iloc[0] - f["ICL score"].iloc[-1])
             for b, a, f in zip(icl_before, icl_after, frames.values())]
mw.record("icl_share_at_phase_min", float(min(icl_share)))
mw.record("icl_share_at_phase_max", float(max(icl_share)))
mw.record("loss_bump_min", float(min(bumps.values())))
mw.record("loss_bump_max", float(max(bumps.values())))
mw.record("induction_heads", circuits["induction head"].tolist())
mw.record("senders", circuits["sender"].tolist())
mw.record("sender_previous_token_min", float(circuits["sender's previous-token score"].min()))
mw.record("reference_trained", is_trained(reference_loss, reference.cfg.d_vocab))
mw.record("reference_prefix_matching", float(ref_report.scores.max()))
mw.record("reference_second_copy_loss", ref_report.loss_second)

# %% [markdown]
# ## What we found

# %% tags=["hide-input"]
r = mw.records()
n = r["seeds"]
found = [f"Trained {n} time{'s' * (n > 1)} for {r['steps']} steps, the story loss falls from {r['story_loss_start']:.2f} "
         f"to at most {r['story_loss_end_max']:.2f} nats; {r['formed_runs']} of {n} runs form an induction head "
         f"(best prefix-matching score at least {FORMED}; the lowest ends at {r['prefix_matching_end_min']:.2f}), and "
         f"the second-copy loss falls from {r['second_copy_loss_start']:.2f} to at most "
         f"{r['second_copy_loss_end_max']:.2f} nats."]
if r["formed_runs"] == n:
    found += [
        f"The phase change comes at steps {', '.join(map(str, r['phase_steps']))} (one per seed). Within each run the "
        f"ICL score, the second-copy loss and the prefix-matching score move fastest within {r['phase_spread_max']} "
        f"steps of each other; the circuit's K-composition does too in {r['kcomp_at_phase_runs']} of {n} runs (its "
        f"fastest rises: steps {', '.join(map(str, r['kcomp_fastest_steps']))})."
        f" Around the change, the step-to-step changes of each curve correlate with those of prefix matching at "
        f"r = {r['change_r_mean']:.2f} on average (at least {r['change_r_min']:.2f}), against "
        f"{r['change_r_lagged_mean']:.2f} when prefix matching is taken {LAG} steps later; in "
        f"{r['together_beats_apart']} of {r['together_pairs']} (run, curve) pairs the same steps beat the shifted ones: "
        + ("the four change together, as Olsson et al. found." if r["together_beats_apart"] == r["together_pairs"]
           else "most, not all, change together."),
        f"The ICL score goes from {r['icl_before_median']:.2f} to {r['icl_after_median']:.2f} nats across the change "
        f"(median over seeds; every run gains at least {r['icl_drop_min']:.2f}), {r['icl_share_at_phase_min']:.0%} to "
        f"{r['icl_share_at_phase_max']:.0%} of its gain over the whole run, within {2 * WINDOW} of its {r['steps']} "
        "steps. The story loss "
        + (f"shows a bump in every run ({r['loss_bump_min']:.2f} to {r['loss_bump_max']:.2f} nats above its low "
           "just before)." if r["loss_bump_min"] > 0 else
           f"shows a bump in some runs only (from {r['loss_bump_min']:.2f} to {r['loss_bump_max']:.2f} nats)."),
        f"The induction heads are {', '.join(r['induction_heads'])} and the layer-0 heads that K-compose with them "
        f"most are {', '.join(r['senders'])} (previous-token scores at least {r['sender_previous_token_min']:.2f}): "
        "a previous-token head feeding an induction head's keys, the circuit of the suite's model"
        + ("; the seed decides which heads take the roles." if len(set(r["senders"])) > 1
           or len(set(r["induction_heads"])) > 1 else ", in the same heads in every run."),
    ]
else:
    found.append(f"Not every run reached the phase change in {r['steps']} steps (smoke mode stops before it), so "
                 "this run states no finding about when it happens.")
if r["reference_trained"]:
    found.append(f"{MODEL}, trained the long way, reaches a prefix-matching score of {r['reference_prefix_matching']:.2f} "
                 f"and a second-copy loss of {r['reference_second_copy_loss']:.2f} nats on the same test.")
else:
    found.append(mw.untrained_finding(MODEL, reference_loss, reference.cfg.d_vocab, "its induction heads"))
mw.findings(*found)

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to write one of this chapter's tools. The check under it runs your function on made-up
# weights, curves and losses and says PASSED, FAILED with what is wrong, or "not attempted" while your stub is
# untouched. In the learner notebook the solutions are stubs that return None.
#
# ```{exercise} Checkpoints that are copies
# :label: ex-dynamics-keep
#
# **Difficulty** 1/5 · **Importance** 4/5 · **Time** 5 min
#
# `weights` is a tensor that training changes in place: apply each of `updates` in turn (`weights += update`, as an
# optimizer step does), and keep a checkpoint of `weights` at the start and after every `every` steps. Return the
# checkpoints stacked into one tensor [n_checkpoints, *weights.shape].
# ```
#
# <details><summary>Hint</summary>
#
# A tensor in a list is a reference, not a copy: when the optimizer changes it, every reference sees the change.
# `train_with_checkpoints` has the same problem with `model.state_dict()`, whose tensors are the live weights.
#
# </details>

# %%
def keep_checkpoints(weights, updates, every):
    """The weights at the start and after every ``every`` in-place updates, stacked."""
    # BEGIN SOLUTION (stub: return None)
    kept = [weights.clone()]
    for step, update in enumerate(updates, start=1):
        weights += update
        if step % every == 0:
            kept.append(weights.clone())
    return torch.stack(kept)
    # END SOLUTION


# %%
exercises.check_keep_checkpoints(keep_checkpoints, strict=STRICT)

# %% [markdown]
# ```{exercise} The in-context-learning score
# :label: ex-dynamics-icl
#
# **Difficulty** 1/5 · **Importance** 4/5 · **Time** 10 min
#
# `losses` is a [batch, pos - 1] tensor of next-token losses: `losses[:, p - 1]` is the loss of predicting token
# `p` from the tokens before it. Return the mean loss on token `late` minus the mean loss on token `early`, as a
# float (Olsson et al.'s score, with `early = 50` and `late = 500` in the paper).
# ```
#
# <details><summary>Hint</summary>
#
# Position 0 (BOS) is never predicted, so the loss of token `p` sits at index `p - 1`.
#
# </details>

# %%
def icl_score(losses, early, late):
    """Mean loss on token ``late`` minus mean loss on token ``early``."""
    # BEGIN SOLUTION (stub: return None)
    return float(losses[:, late - 1].mean() - losses[:, early - 1].mean())
    # END SOLUTION


# %%
exercises.check_icl_score(icl_score, strict=STRICT)

# %% [markdown]
# ```{exercise} The step of fastest change
# :label: ex-dynamics-fastest
#
# **Difficulty** 2/5 · **Importance** 3/5 · **Time** 10 min
#
# `steps` and `values` are a curve measured at checkpoints; `direction` is +1 (we care about rises) or -1 (falls).
# Over every window of two consecutive intervals (checkpoints `i` to `i + 2`), find the one in which the curve
# moves most in `direction`, and return the step of its middle checkpoint.
# ```
#
# <details><summary>Hint</summary>
#
# `values[2:] - values[:-2]` is each window's change; multiply by `direction` before `np.argmax`.
#
# </details>

# %%
def fastest_step(steps, values, direction):
    """The middle step of the two-interval window over which the curve moves most in ``direction``."""
    # BEGIN SOLUTION (stub: return None)
    values = np.asarray(values)
    moves = direction * (values[2:] - values[:-2])
    return int(np.asarray(steps)[int(np.argmax(moves)) + 1])
    # END SOLUTION


# %%
exercises.check_fastest_change_step(fastest_step, strict=STRICT)

# %% [markdown]
# ```{exercise} Do two curves change together?
# :label: ex-dynamics-together
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 10 min
#
# `a` and `b` are two curves measured at the same checkpoints. Return the Pearson correlation of their changes
# between consecutive checkpoints, as a float.
# ```
#
# <details><summary>Hint</summary>
#
# `np.diff` gives the changes, `np.corrcoef(x, y)[0, 1]` their correlation. Why not correlate the values
# themselves? Try it on two curves that rise 100 steps apart.
#
# </details>

# %%
def correlation_of_changes(a, b):
    """Pearson correlation of the step-to-step changes of two curves."""
    # BEGIN SOLUTION (stub: return None)
    return float(np.corrcoef(np.diff(a), np.diff(b))[0, 1])
    # END SOLUTION


# %%
exercises.check_correlation_of_changes(correlation_of_changes, strict=STRICT)

# %% [markdown]
# ## Going further
#
# * **Which comes first?** Checkpoint every 5 steps around the phase change and order the curves: does the
#   previous-token head (layer 0) form before the induction head's keys read it? Hoogland et al. (2024) split the
#   induction bump into two stages that way, with the local learning coefficient.
# * **Without the repeats.** Train on stories alone (`repeat_rows=0`) for longer: does the phase change still come,
#   and how many more tokens does it take? The suite's training notes (`TrainConfig`) say it did not within 1,200
#   steps at this width.
# * **One layer.** A one-layer model cannot form induction heads: train `small_attn_only` with `n_layers=1` (a small
#   change to the function) and check that its ICL score never makes the jump.
# * **Per-token loss changes** (seed 003, 5.24): which story tokens get easier at the phase change? Compare the
#   per-token losses of the checkpoints before and after, grouped by the planted capability labels.
#
# ## References
#
# * Olsson, Elhage, Nanda et al. (2022). In-context Learning and Induction Heads. transformer-circuits.pub.
# * Elhage, Nanda, Olsson et al. (2021). A Mathematical Framework for Transformer Circuits. transformer-circuits.pub.
# * Hoogland, Wang, Farrugia-Roberts et al. (2024). The Developmental Landscape of In-Context Learning. arXiv.
# * Nanda (2022). 200 Concrete Open Problems in Mechanistic Interpretability (seed 003), section 5.
