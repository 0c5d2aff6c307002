# %% [markdown]
# # The model organisms: generated stories with planted capabilities
#
# > **You will learn to** say what each model organism was trained on and which planted capability each
# > one has, read a model card, and score heads and losses yourself.
# >
# > **You need:** [Start here](../00_start/00_start.ipynb).
# >
# > **Time:** about 60 min to study and do the exercises; the full run takes about 0.8 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** The TinyStories models are a favourite subject of MI work because they are small and
# their data is simple. We cannot download them here, and even if we could, nobody knows for certain
# which capabilities their data asks for. So the workbook makes its own: a generator of TinyStories-style
# stories in which every capability from the TinyStories capability list (fixed phrases, repeated nouns,
# repeated made-up names, common phrases, plural then singular, a story starting after a context, closing
# quotes, pronouns, related concepts, indirect objects) is planted on purpose, with a label on every token
# that it makes predictable. Four small transformers are trained on that text. This notebook shows the
# data, the training runs, and what each model learned, measured against the planted labels.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-4l"  # the model the capability and indirect-object sections look at closely: one of SUITE,
# or a TransformerLens name (the other sections are about the bundled suite itself)
DEVICE = "cpu"  # "cuda" on a GPU machine
SUITE = ["stories-attn-1l", "stories-attn-2l", "stories-gelu-2l", "stories-gelu-4l"]

# %%
import re
import textwrap
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.heads import induction_report
from mi_widgets.logprobs import is_trained, token_losses
from mi_widgets.organisms.capability_scores import capability_table, ioi_table
from mi_widgets.organisms.cards import read_train_log, suite_table
from mi_widgets.organisms.model_training import tokens_after
from mi_widgets.organisms.stories import (CAPABILITIES, HELD_OUT_IOI, generate_stories, ioi_scenes,
                                          label_counts)
from mi_widgets.organisms.templates import TEMPLATES
from mi_widgets.widgets import story_view

N_STORIES = 24 if SMOKE else 300  # held-out stories for every measurement below
models = {name: mw.load_model(name, device=DEVICE) for name in SUITE}
if MODEL not in models:  # a model from outside the suite joins the sections about MODEL only
    print(f"{MODEL} is not in the bundled suite: the data, training, samples and loss sections describe the suite; "
          f"the capability and indirect-object sections add {MODEL}.")
model = models[MODEL] if MODEL in models else mw.load_model(MODEL, device=DEVICE)
short = {name: re.sub(r"\W", "_", name.removeprefix("stories-")) for name in [*SUITE, MODEL]}

# %% [markdown]
# ## The data
#
# `mi_widgets.organisms.stories.generate_stories` writes an endless, seeded stream of stories. Each story carries
# labels: character spans whose text a capability makes predictable. Hover over a highlight to see its
# capability.

# %%
story = next(generate_stories(1, seed=SEED, split="val"))
story_view(story)

# %% [markdown]
# How often each capability occurs, per 1,000 stories, and how names split into tokens. Most characters
# have names built from syllables ("Grukulie", "Drimarko"), drawn from tens of thousands of possibilities,
# so a model cannot memorise them: to repeat a name it has to copy it from earlier in the story.

# %%
sample = list(generate_stories(200 if SMOKE else 1000, seed=SEED, split="train"))
counts = label_counts(sample)
print(pd.Series({c: counts[c] for c in CAPABILITIES}, name="labels").to_string())
tok = models[SUITE[0]].tokenizer
ioi_labels = [l for s in sample for l in s.labels if l.capability == "ioi"]
name_tokens = Counter(len(tok(" " + l.meta["answer"])["input_ids"]) - 1 for l in ioi_labels)
print("tokens per indirect-object name:", dict(sorted(name_tokens.items())))
print("indirect-object role orders:", dict(Counter(l.meta["order"] for l in ioi_labels)))

# %% [markdown]
# The indirect-object sentences come in every role order equally often ("When A and B went..., B gave
# it to A" and all its variants), so no shortcut such as "the answer is the first name" pays. Three of
# the twelve templates appear only in the `test` split, with names from a held-out pool: they measure
# whether a model learned the task or the templates.
#
# ## Training
#
# The tokenizer is byte-level BPE with 2,048 tokens, trained on 20,000 stories. Every model has d_model
# 128 and 4 heads of size 32 and a 256-token context, and was trained on one CPU thread with a constant
# learning rate after warm-up (`python -m mi_widgets.organisms.suite` retrains them). Induction does not form by itself in a run this short, so training starts with
# an induction warm-up: rows of random tokens repeated to fill the row (32 rows of 128 tokens per step; many
# short sequences per step is what made it form here), with the MLPs switched off, until the loss on a
# second copy falls below 30% of the loss on the first (checked every 100 steps, at most 600 steps; the
# 4-layer model trains only its first two blocks then, at most 1,500 steps, because with all four it had
# not formed after 1,100). Every later step adds 4 such rows to its 16 story rows, so copying keeps
# paying. The three smaller models see 5.5M story tokens at a constant learning rate.
#
# The 4-layer model's recipe differs, and the comparisons below should be read with that in mind. Trained
# like the others, it ended with a validation loss no better than the 2-layer GELU model's (and still
# falling), and named the second person of "X and Y" as the indirect object in either role order. So after
# the induction warm-up it trains for 1,100 steps on indirect-object drills (`mi_widgets.organisms.stories.ioi_drills`:
# short scenes with two fresh names each, in every role order), then sees 4.2M story tokens with 2 rows of
# drills added to every step, its learning rate decaying to a tenth over the last 20% of the story steps.
# The drills are a curriculum. The first 800 steps pair the intros and actions of the nine training
# templates only; drilled on those alone, the model got them right in every order but stayed at chance on
# the held-out templates. The last 300 steps, and the story steps' drill rows, draw from a larger pool: 33
# intros by 29 actions, with the answer after "to", "for" or "at" and zero to two adverbs after the
# subject. Drilled on that pool from the start, it learned the task only weakly. No drill shows a held-out
# template's intro or action (a test checks), so the held-out templates still test whether it learned the
# task, though they share single words ("Once", "for", "at") with the drills.
#

# %%
suite_table(SUITE)

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for name in SUITE:
    log = read_train_log(name)
    steps = np.array([tokens_after(s, log["config"], models[name].cfg.n_ctx, log.get("warmup_steps") or None) for s in log["eval_steps"]]) / 1e6
    axes[0].plot(steps, log["val_loss"], label=name)
    axes[1].plot(steps, log["induction_loss_ratio"], label=name)
axes[0].set(xlabel="tokens seen (millions)", ylabel="validation loss", ylim=(None, 4))
axes[1].set(xlabel="tokens seen (millions)", ylabel="loss on copy 2 / copy 1",
            title="induction")
axes[0].legend()
plt.tight_layout()

# %% [markdown]
# The right panel tracks copying. A model that forms [induction heads](../glossary.md#g-induction-head) shows a sudden drop: the loss on
# the second showing of a random token sequence falls far below the loss on the first (a ratio near 0).
# The one-layer model cannot do it at all: copying needs a head that knows the *previous* token of each
# position, which takes a second layer. How far each model got is stated in the findings below.
#
# ## Samples

# %%
for name, m in models.items():
    torch.manual_seed(SEED)
    text = m.generate("Once upon a time", max_new_tokens=25 if SMOKE else 70,
                          temperature=0.7, verbose=False)
    print(f"--- {name}")
    print("\n".join(textwrap.fill(p, 90) for p in text.split("\n")), "\n")

# %% [markdown]
# ## Held-out loss and induction
#
# Loss per token on held-out stories (long stories are scored in overlapping windows, so every token has
# at least half a context before it), and the repeated-random-tokens test twice: with tokens drawn from
# the whole vocabulary (the usual test; many of its 2,048 tokens are rare merges the stories hardly use)
# and with tokens drawn from the 500 most frequent tokens of the stories.

# %%
val_stories = list(generate_stories(N_STORIES, seed=SEED + 1, split="val"))
story_ids = tok([s.text for s in val_stories], add_special_tokens=False)["input_ids"]
frequent = [t for t, _ in Counter(t for ids in story_ids for t in ids).most_common(500)]
n_seqs = 8 if SMOKE else 32
rows = []
for name, m in models.items():
    loss = torch.cat(token_losses(m, [s.text for s in val_stories])).mean().item()
    report = induction_report(m, seq_len=50, n_seqs=n_seqs, seed=SEED)
    common = induction_report(m, seq_len=50, n_seqs=n_seqs, seed=SEED, pool=frequent)
    head, score = report.top_heads(1)[0]
    rows.append(dict(model=name, val_loss=loss, induction_ratio=report.loss_ratio,
                     best_induction_head=head, induction_score=score,
                     induction_ratio_frequent=common.loss_ratio))
    mw.record(f"val_loss_{short[name]}", loss)
    mw.record(f"induction_ratio_{short[name]}", report.loss_ratio)
    mw.record(f"induction_ratio_frequent_{short[name]}", common.loss_ratio)
    mw.record(f"induction_score_{short[name]}", score)
health = pd.DataFrame(rows).set_index("model")
mw.record("val_loss_strictly_improves", bool((health.val_loss.diff().dropna() < 0).all()))
deep = health.drop(index="stories-attn-1l")
mw.record("max_induction_ratio_2l_plus", deep.induction_ratio.max())
mw.record("min_induction_score_2l_plus", deep.induction_score.min())
health.round(3)

# %% [markdown]
# ## Planted capabilities, model by model
#
# For every labelled token of the held-out stories: is the model's top prediction the right token? The
# table is the top-1 accuracy per capability (rows) and model (columns).

# %%
tables = {name: capability_table(m, val_stories).set_index("capability")
          for name, m in {**models, MODEL: model}.items()}
accuracy = pd.DataFrame({name: t.accuracy for name, t in tables.items()})
accuracy = accuracy.reindex(list(CAPABILITIES))
for capability, value in accuracy[MODEL].items():
    mw.record(f"accuracy_{short[MODEL]}_{capability}", value)
mostly_right = int((accuracy[MODEL] >= 0.5).sum())
mw.record(f"capabilities_mostly_right_{short[MODEL]}", mostly_right)
# A model no better than chance (random weights, say) gets no finding stated about it below.
model_loss = torch.cat(token_losses(model, [s.text for s in val_stories])).mean().item()
mw.record(f"trained_{short[MODEL]}", is_trained(model_loss, model.cfg.d_vocab))
gain = accuracy[SUITE[-1]] - accuracy[SUITE[0]]
mw.record("capabilities_improving_with_size", int((gain > 0.05).sum()))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 4.5))
im = ax.imshow(accuracy.values, vmin=0, vmax=1, cmap="viridis")
ax.set_xticks(range(len(accuracy.columns)), [short[n] for n in accuracy.columns])
ax.set_yticks(range(len(accuracy)), accuracy.index)
for (i, j), v in np.ndenumerate(accuracy.values):
    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
            color="white" if v < 0.6 else "black")
fig.colorbar(im, label="top-1 accuracy")
plt.tight_layout()

# %% [markdown]
# ## Indirect objects: the real task, or a shortcut?
#
# For each indirect-object sentence, the log-probability of the right name minus that of the other
# name (summed over the name's tokens), split by role order and by whether the template was seen in
# training; then the held-out templates one by one, since an average over three can hide one that fails.
#

# %%
test_stories = list(generate_stories(N_STORIES, seed=SEED + 1, split="test"))
ioi = pd.concat([ioi_table(model, val_stories).assign(split="seen templates"),
                 ioi_table(model, test_stories).assign(split="held-out templates")])
by_order = ioi.groupby(["split", "order"]).agg(
    items=("correct", "size"), accuracy=("correct", "mean"), mean_diff=("logprob_diff", "mean"))
seen_min = by_order.loc["seen templates"].mean_diff.min()
held_min = by_order.loc["held-out templates"].mean_diff.min()
held_acc = ioi[ioi.split == "held-out templates"].correct.mean()
mw.record(f"ioi_min_order_diff_{short[MODEL]}", seen_min)
mw.record(f"ioi_heldout_min_order_diff_{short[MODEL]}", held_min)
mw.record(f"ioi_heldout_accuracy_{short[MODEL]}", held_acc)
by_template = ioi[ioi.split == "held-out templates"].pivot_table(
    index="template", columns="order", values="logprob_diff", aggfunc="mean")
by_template.insert(0, "wording", [" ".join(TEMPLATES["ioi"][t]) for t in by_template.index])
worst = by_template[["ABAB", "ABBA"]].min(axis=1)
mw.record(f"ioi_heldout_templates_right_{short[MODEL]}", int((worst > 0).sum()))
mw.record("ioi_heldout_templates", len(by_template))
# Which template carries the held-out mean: the one with the largest mean over both orders, and the worst one.
order_mean = by_template[["ABAB", "ABBA"]].mean(axis=1)
mw.record("ioi_heldout_best_template", int(order_mean.idxmax()))
mw.record("ioi_heldout_best_template_mean", round(float(order_mean.max()), 4))
mw.record("ioi_heldout_worst_template", int(worst.idxmin()))
mw.record("ioi_heldout_worst_template_min", round(float(worst.min()), 4))
display(by_order.round(3), by_template.round(2))

# %% [markdown]
# ### Which half of a new template matters?
#
# A held-out template differs from the training ones in its intro ("X and Y went to the shop."), in its
# action ("S bought a cake for ..."), or both. `ioi_scenes` builds bare scenes (no story around them) that
# cross the halves: a held-out action after the training intros, a held-out intro before the training
# actions, and the held-out template whole. The training templates' actions all put the answer after
# "to"; two held-out ones put it after "for" and "at". A bare scene also starts the text: an intro that
# opens with "Once" then reads much like the start of "Once upon a time".
#

# %%
slot = lambda t: TEMPLATES["ioi"][t][1].split("{IO")[0].split()[-1]  # the word before the answer
seen = [t for t in range(len(TEMPLATES["ioi"])) if t not in HELD_OUT_IOI and " it " not in TEMPLATES["ioi"][t][1]]
seen_slots = {slot(t) for t in seen}
crossed = {}
for t in sorted(HELD_OUT_IOI):
    for half, intros, actions in (("new action", seen, [t]), ("new intro", [t], seen), ("both new", [t], [t])):
        scenes = ioi_scenes(N_STORIES, intros=intros, actions=actions, seed=SEED)
        crossed[(t, slot(t), half)] = ioi_table(model, scenes).groupby("order").logprob_diff.mean()
crossed = pd.DataFrame(crossed).T.rename_axis(["template", "word before answer", "what is new"])
known_slot = crossed.index.get_level_values(1).isin(seen_slots)
is_new_action = crossed.index.get_level_values(2) == "new action"
mw.record("ioi_new_action_known_slot_min", float(crossed[known_slot & is_new_action].min(axis=1).min()))
right_both = crossed.min(axis=1) > 0
for half in ("new action", "new intro", "both new"):
    mw.record(f"ioi_crossed_right_{half.replace(' ', '_')}", int(right_both.xs(half, level=2).sum()))
crossed.round(2)

# %% [markdown]
# ## What we found

# %% tags=["hide-input"]
r = mw.records()
losses = " > ".join(f"{n} ({health.val_loss[n]:.3f})" for n in SUITE)
ranked = accuracy[MODEL].sort_values()
shortcut = held_min <= 0
suite_findings = [
    "Held-out loss " + ("falls strictly" if r["val_loss_strictly_improves"] else "does NOT fall strictly")
    + f" with size: {losses}.",
    f"Induction: every model with two or more layers has a second-copy loss at most "
    f"{r['max_induction_ratio_2l_plus']:.0%} of its first-copy loss and a head with induction score "
    f"at least {r['min_induction_score_2l_plus']:.2f}; the one-layer model's ratio is "
    f"{r['induction_ratio_attn_1l']:.2f}. With tokens drawn from the 500 most frequent story tokens "
    f"the ratios are {', '.join(f'{health.induction_ratio_frequent[n]:.2f}' for n in SUITE)}.",
    f"{r['capabilities_improving_with_size']} of {len(CAPABILITIES)} capabilities gain more than "
    "5 points of accuracy from the smallest model to the largest.",
]
model_findings = [
    f"{MODEL} gets the labelled token right at least half the time for {mostly_right} of "
    f"{len(CAPABILITIES)} capabilities: best {', '.join(ranked.index[-3:][::-1])}, worst "
    f"{', '.join(ranked.index[:3])} (top-1 accuracy {ranked.iloc[-1]:.2f} down to {ranked.iloc[0]:.2f}).",
    f"Indirect objects ({MODEL}): the smallest mean log-probability difference over the role orders "
    f"is {seen_min:.2f} on seen templates and {held_min:.2f} on held-out templates "
    f"({held_acc:.0%} of held-out items right): "
    + ("in every order it prefers the wrong name somewhere, a sign of a shortcut." if seen_min <= 0 else
       "in every order it picks the right name on the templates it was trained on, but not on average on new ones: "
       "what it learned is tied to the training templates." if shortcut else
       "it picks the right name in every order on every held-out template too." if
       r[f"ioi_heldout_templates_right_{short[MODEL]}"] == r["ioi_heldout_templates"] else
       "it picks the right name on average on held-out templates too, but not template by template.")
    + f" Template by template, {r[f'ioi_heldout_templates_right_{short[MODEL]}']} of {r['ioi_heldout_templates']} "
    "held-out templates have a positive mean in both orders; with so few templates the effective sample is "
    f"{r['ioi_heldout_templates']}, not the number of items. Template {r['ioi_heldout_best_template']} carries "
    f"the most (mean {r['ioi_heldout_best_template_mean']:+.2f} over the two orders); template "
    f"{r['ioi_heldout_worst_template']} "
    + ("is wrong in at least one order" if r["ioi_heldout_worst_template_min"] < 0 else "is the weakest")
    + f" ({r['ioi_heldout_worst_template_min']:+.2f} in its worse order)."
    " In bare scenes that cross template halves, a held-out action after the "
    "training intros is right in both orders for "
    f"{r['ioi_crossed_right_new_action']} of {len(HELD_OUT_IOI)} templates (after \"to\", as in training: "
    f"at least {r['ioi_new_action_known_slot_min']:+.2f}), a held-out intro before the training actions for "
    f"{r['ioi_crossed_right_new_intro']}, the whole held-out template for {r['ioi_crossed_right_both_new']}.",
]
if not r[f"trained_{short[MODEL]}"]:
    model_findings = [mw.untrained_finding(MODEL, model_loss, model.cfg.d_vocab, "its capabilities or indirect objects")]
mw.findings(*suite_findings, *model_findings)

# %% [markdown]
# ## Exercises
#
# Each exercise below asks you to write a piece of this chapter's method yourself. The check under it runs
# your function on several inputs, edge cases included, and compares the result with the package's own
# implementation (the one the chapter used above). It prints PASSED, FAILED with what looks wrong, or
# "not attempted yet" while the stub is untouched. In the learner notebook the solutions are stubs that
# return None, so the notebook runs from top to bottom whatever you have done; on the site they sit in
# closed dropdowns.

# %% [markdown]
# ```{exercise} An induction score
# :label: ex-models-induction
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 15 min
#
# The model cards score each head for induction on random tokens shown twice: BOS, then `seq_len`
# random tokens, then the same tokens again. From a layer's attention pattern `[batch, heads, pos, pos]`,
# compute each head's mean attention from every position of the second copy to the token *after* the
# earlier occurrence of the current token. This is `mw.heads.induction_scores`, which
# `induction_report` (above) runs on every layer.
# ```
#
# <details><summary>Hint</summary>
#
# The second copy is at positions `seq_len + 1 ... 2 * seq_len`. Position `p` there holds the token of
# position `p - seq_len`; the token after that is at `p - seq_len + 1`. Average over batch and
# positions, keep the heads.
#
# </details>

# %%
def induction_score(pattern, seq_len: int):
    """Mean attention of each head from the second copy to the token after the first occurrence: [heads]."""
    # BEGIN SOLUTION (stub: return None)
    dest = torch.arange(seq_len + 1, 2 * seq_len + 1)
    return pattern[:, :, dest, dest - seq_len + 1].mean(dim=(0, 2))
    # END SOLUTION


# %%
exercises.check_induction_score(induction_score, strict=STRICT)

# %% [markdown]
# ```{exercise} A previous-token score
# :label: ex-models-prev
#
# **Difficulty** 1/5 · **Importance** 4/5 · **Time** 10 min
#
# An induction head needs to know what came *before* each earlier token; a previous-token head in an
# earlier layer supplies it. Score each head by its mean attention from each position (from 2 on) to
# the position right before it: `mw.heads.previous_token_pattern_scores`.
# ```
#
# <details><summary>Hint</summary>
#
# Index the pattern at `[:, :, dest, dest - 1]` for `dest = torch.arange(2, pos)`.
#
# </details>

# %%
def previous_token_score(pattern):
    """Mean attention of each head to the previous token, from position 2 on: [heads]."""
    # BEGIN SOLUTION (stub: return None)
    dest = torch.arange(2, pattern.shape[-1])
    return pattern[:, :, dest, dest - 1].mean(dim=(0, 2))
    # END SOLUTION


# %%
exercises.check_previous_token_score(previous_token_score, strict=STRICT)

# %% [markdown]
# ```{exercise} Next-token losses
# :label: ex-models-losses
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 10 min
#
# Every loss in this book is the next-token cross-entropy: at position `p` the model predicts token
# `p + 1`, and the loss is minus its log-probability. Return the losses `[batch, pos - 1]` from logits
# `[batch, pos, d_vocab]` and tokens `[batch, pos]` (`mw.logprobs.next_token_losses`).
# ```
#
# <details><summary>Hint</summary>
#
# `logits[:, :-1].log_softmax(-1)` and `.gather(-1, tokens[:, 1:, None])`.
#
# </details>

# %%
def next_token_losses(logits, tokens):
    """-log P(tokens[:, p + 1] | tokens[:, :p + 1]) for every position p but the last: [batch, pos - 1]."""
    # BEGIN SOLUTION (stub: return None)
    logprobs = logits[:, :-1].log_softmax(-1)
    return -logprobs.gather(-1, tokens[:, 1:, None])[..., 0]
    # END SOLUTION


# %%
exercises.check_next_token_losses(next_token_losses, strict=STRICT)

# %% [markdown]
# ```{exercise} The copy ratio
# :label: ex-models-ratio
#
# **Difficulty** 2/5 · **Importance** 3/5 · **Time** 10 min
#
# From the next-token losses of BOS + `seq_len` random tokens shown twice (`[batch, 2 * seq_len]`),
# return the mean loss on the second copy divided by the mean loss on the first (`mw.heads.copy_loss_ratio`):
# near 1 without induction, near 0 with it. Leave out the two losses nothing can predict: the first
# random token (predicted from BOS) and the first token of the second copy (predicted from the end of
# the first).
# ```
#
# <details><summary>Hint</summary>
#
# Loss `p` predicts token `p + 1`. The first copy's predictable losses are `1 .. seq_len - 1`, the second copy's `seq_len + 1 ..`.
#
# </details>

# %%
def copy_loss_ratio(losses, seq_len: int):
    """Mean loss on the second copy over mean loss on the first, predictable positions only."""
    # BEGIN SOLUTION (stub: return None)
    return (losses[:, seq_len + 1:].mean() / losses[:, 1:seq_len].mean()).item()
    # END SOLUTION


# %%
exercises.check_copy_loss_ratio(copy_loss_ratio, strict=STRICT)

# %% [markdown]
# ## Going further
#
# Open questions, no checks: change the setup and look.
#
# 1. Filter the capability table to the *first* token of each multi-token name (`meta["first"]` gives the
#    earlier mention). Is the first token harder than the rest, and why would it be?
# 2. Generate stories with `split="test"` and compare the 4-layer model's loss on names from the held-out
#    pool with names from the training pool. Does it copy names it has never seen as well as familiar ones?
# 3. Retrain the two-layer attention-only model with `induction_warmup_steps=0` in its `TrainConfig`
#    (`python -m mi_widgets.organisms.suite --models stories-attn-2l --scale 0.5`) and watch the induction curve.
# 4. Pick a capability where the 1-layer model already does well. What is the simplest mechanism (a
#    bigram? a skip-trigram?) that would explain it?

# %% [markdown]
# ## References
# - Eldan and Li (2023), *TinyStories: How Small Can Language Models Be and Still Speak Coherent English?*
# - The TinyStories capability proposal in the [seed list](../glossary.md#g-seed-lists) (the TinyStories capability-mapping proposal): find confident correct predictions,
#   name the capability, turn it into tasks.
# - Olsson et al. (2022), *In-context Learning and Induction Heads*.
# - Wang et al. (2022), *Interpretability in the Wild: a Circuit for Indirect Object Identification in GPT-2 small*.
