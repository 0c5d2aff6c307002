# %% [markdown]
# # What can each model do? Finding, defining and measuring capabilities
#
# > **You will learn to** run a capability-discovery loop, turn a capability into a task scored by
# > probability, rank and logit difference, and red-team it item by item.
# >
# > **You need:** [The model organisms](../01_models/01_models.ipynb).
# >
# > **Time:** about 75 min to study and do the exercises; the full run takes about 1.4 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** A project proposal for the TinyStories models (AI Safety Camp 2024) suggests to map every capability of the TinyStories models before anyone
# reverse-engineers circuits: collect the tokens a model predicts confidently and correctly, name the
# simplest common pattern among them, set those aside, look again; then ask what each larger model adds.
# Each capability found becomes a task (prompt, right answer, an obvious wrong answer) that every model
# is scored on, red-teamed by changing names, distances and wording.
#
# Our [model organisms](../glossary.md#g-model-organism) make this loop checkable: their training stories were written by a generator that
# *planted* eleven capabilities and labelled every token each one makes predictable
# ([the model organisms](../01_models/01_models.ipynb)). So we can ask two questions at once: what can
# each model do, and does the discovery loop find the capabilities that were put there?
#
# This notebook runs the loop on the bundled suite (`mi_widgets.analysis.discovery`), scores the eleven task files
# in `data/tasks` (`mi_widgets.organisms.task_format`, written by `python -m mi_widgets.organisms.make_tasks` from held-out stories),
# and answers the seed's summary questions from the numbers. Set `MODEL` to a TransformerLens TinyStories
# name (`tiny-stories-1M`, online) and `DATA` to a file of real TinyStories validation stories to run the
# same loop on the real models; the checks against planted labels are then skipped, because real text has none.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-4l"  # red-team and uniformity look at this model; or a TransformerLens name (online)
DEVICE = "cpu"  # "cuda" on a GPU machine
SUITE = None  # models to compare; None: the bundled suite if MODEL is bundled, else [MODEL]
DATA = None  # None: held-out generated stories (labelled); or a text file of stories split by <|endoftext|>
HAS = 0.5  # a model "has" a capability when it writes the whole answer of at least this share of items
THRESHOLD = 0.5  # "confident": the right token has at least this probability (and rank 1)

# %%
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, display

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.analysis.discovery import (PATTERNS, Reference, assign, confident_correct, context,
                                           loop_table, new_capabilities, precision_recall, text_features,
                                           token_frame)
from mi_widgets.analysis import stats
from mi_widgets.analysis.task_metrics import rival_probs, score_task, summarize, uneven
from mi_widgets.organisms.cards import read_train_log
from mi_widgets.organisms.make_tasks import VARIANTS
from mi_widgets.organisms.stories import CAPABILITIES, generate_stories
from mi_widgets.organisms.task_format import load_tasks
from mi_widgets.widgets import eval_browser, token_view
from mi_widgets.widgets.tokens import token_spans

N_STORIES = 8 if SMOKE else 150  # texts the loop reads
N_REFERENCE = 100 if SMOKE else 1000  # reference texts for phrase and co-occurrence statistics
N_ORIGINAL = 8 if SMOKE else None  # held-out task items per capability (None: all of them)
N_VARIANT = 3 if SMOKE else None  # red-team items per capability and variant
PERMUTATIONS = 999 if SMOKE else 9999  # shufflings for the null of the uneven-performance search
PRONOUNS = (" he", " she", " it")  # what else fits after "Every day," (a rival to a repeated name; " they" is two tokens here)

bundled = mw.bundled_models()
names = list(SUITE) if SUITE else (bundled if MODEL in bundled else [MODEL])
models = {name: mw.load_model(name, device=DEVICE) for name in names}
if MODEL not in models:
    raise ValueError(f"MODEL {MODEL!r} must be one of SUITE {names}")
size = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
suite = sorted(names, key=size.get)  # smallest first, as the seed's loop goes
short = {name: re.sub(r"\W", "_", name.removeprefix("stories-")) for name in suite}
tok = models[MODEL].tokenizer
print("\n".join(f"{name:20s} {size[name]:>12,} parameters" for name in suite))

# %% [markdown]
# ## The text, and the tokens each model gets confidently right
#
# By default the loop reads held-out stories from the generator's `test` split (names and indirect-object
# templates that never occur in training) and compares them with reference statistics from other stories:
# which token follows each 3-token context, and which words share a story. `text_features` computes, for
# every token, what the patterns below read (is the word a name seen before, is a quotation open, how
# long a run of earlier tokens does it repeat, ...); `token_frame` adds each model's probability and rank
# of the token. A token is *confident and correct* when the model ranks it first with probability above
# `THRESHOLD`.

# %%
if DATA is None:
    stories = list(generate_stories(N_STORIES, seed=SEED + 100, split="test"))
    texts = [s.text for s in stories]
    reference = [s.text for s in generate_stories(N_REFERENCE, seed=SEED + 200, split="train")]
else:
    raw = [t.strip() for t in Path(DATA).read_text(encoding="utf-8").split("<|endoftext|>") if t.strip()]
    if len(raw) <= N_STORIES:
        raise ValueError(f"{DATA} holds {len(raw)} stories; need more than N_STORIES = {N_STORIES}")
    stories, texts = None, raw[:N_STORIES]
    reference = raw[N_STORIES: N_STORIES + N_REFERENCE]
labelled = stories is not None
ref = Reference.build(tok, reference)
features = text_features(tok, texts, ref, stories)
frames = {name: token_frame(models[name], features) for name in suite}
sure = {name: confident_correct(frames[name], THRESHOLD) for name in suite}
overview = pd.DataFrame({"tokens": [len(frames[n]) for n in suite],
                         "confident_correct": [len(sure[n]) for n in suite],
                         "mean_loss": [frames[n].loss.mean() for n in suite]}, index=suite)
overview["share"] = overview.confident_correct / overview.tokens
for name in suite:
    mw.record(f"confident_share_{short[name]}", round(float(overview.share[name]), 4))
overview.round(3)

# %% [markdown]
# The start of the first story, each token coloured by the smallest model's probability of it (hover
# for the value): the dark tokens are the ones the loop starts from.

# %%
first_doc = frames[suite[0]][frames[suite[0]].doc == 0].head(90)
token_view(first_doc.token.tolist(), first_doc.prob.tolist(), label=f"P(token) under {suite[0]}", scale=1.0)

# %% [markdown]
# ## The loop on the smallest model
#
# The seed's steps 2 to 5: look at the confident tokens, name the simplest common pattern, set its tokens
# aside, look again. `mi_widgets.analysis.discovery.PATTERNS` holds the patterns we named, each a test on the text
# alone; none reads the planted labels. We wrote them knowing the seed's list of TinyStories capabilities
# (which the generator also planted), so this is a test of whether such simple text rules pick out the same
# tokens, not a blind discovery. Specific patterns come first (a name given to someone is also a repeated
# name). The table is the loop run to its end: what each pattern explains of what the earlier ones left,
# and its most common tokens; the last row is what no pattern explains, the place to look for the next one.

# %%
steps = loop_table(sure[suite[0]])
mw.record(f"loop_unexplained_share_{short[suite[0]]}", round(float(steps.share.iloc[-1]), 4))
steps.round(3)

# %% [markdown]
# One example per pattern (the first confident token it explains), with the tokens before it coloured by
# the smallest model's probability; the underlined token is the one the pattern explains.

# %%
groups_small = assign(sure[suite[0]])
for pattern in PATTERNS:
    hits = groups_small.index[groups_small == pattern.name]
    if len(hits):
        tokens, probs, at = context(frames[suite[0]], hits[0])
        spans = token_spans(tokens, probs, scale=1.0, diverging=False, highlight=at, label="P")
        display(HTML(f'<div style="font-size:13px"><b>{pattern.name}</b> ({pattern.description}): '
                     f'<span style="font-family:monospace">{spans}</span></div>'))

# %% [markdown]
# ## What each larger model adds
#
# The seed's second pass: for each model, the tokens it predicts confidently and correctly where the next
# smaller model does not. Which patterns (and, on labelled text, which [planted capabilities](../glossary.md#g-capability)) do those new
# tokens belong to?

# %%
added = []
for small, large in zip(suite, suite[1:]):
    new = new_capabilities(frames[small], frames[large], THRESHOLD)
    share = assign(new).value_counts(normalize=True)
    named = share.drop("unexplained", errors="ignore")
    row = dict(small=small, large=large, new_tokens=len(new), unexplained=share.get("unexplained", 0.0),
               top_pattern=named.index[0] if len(named) else "", top_pattern_share=named.iloc[0] if len(named) else 0.0)
    if labelled:
        planted = new.capability.replace("", "(unlabelled)").value_counts(normalize=True)
        row.update(top_label=planted.index[0] if len(planted) else "", top_label_share=planted.iloc[0] if len(planted) else 0.0)
    added.append(row)
    mw.record(f"new_tokens_{short[small]}_to_{short[large]}", len(new))
    mw.record(f"new_name_share_{short[small]}_to_{short[large]}", round(float(share.get("induction_name", 0.0)), 4))
added = pd.DataFrame(added)
added.round(3) if len(added) else print("one model only: nothing to compare")

# %% [markdown]
# ## Validation against the planted capabilities
#
# On generated text every token carries its planted label, so we can score the loop's groups: for each
# pattern named after a capability, **precision** is the share of its tokens that carry that label,
# **labelled precision** the same among tokens that carry any label (the generator labels only planted
# spans, and much unlabelled template text is just as predictable), and **recall** the share of the
# capability's confident tokens that the pattern's group holds. Labelled precision alone hides the
# pattern's hits on unlabelled text, so the table also gives that **unlabelled share**. A capability
# counts as recovered when both recall and labelled precision are at least 0.8, and *strictly* recovered
# when precision over all its tokens is too.

# %%
if labelled:
    # A capability no group matched scores 0 throughout (an untrained model matches none).
    validation = precision_recall(sure[MODEL], assign(sure[MODEL])).set_index("capability").reindex(CAPABILITIES, fill_value=0)
    for cap, row in validation.iterrows():
        mw.record(f"discovery_recall_{cap}", round(float(row.recall), 4))
        mw.record(f"discovery_labelled_precision_{cap}", round(float(row.labelled_precision), 4))
        mw.record(f"discovery_precision_{cap}", round(float(row.precision), 4))
        mw.record(f"discovery_unlabelled_share_{cap}", round(float(row.unlabelled_share), 4))
    recovered = validation[(validation.recall >= 0.8) & (validation.labelled_precision >= 0.8)].index.tolist()
    strict = validation[(validation.recall >= 0.8) & (validation.precision >= 0.8)].index.tolist()
    mw.record("discovery_recovered", len(recovered))
    mw.record("discovery_recovered_strict", len(strict))
    ax = validation[["precision", "labelled_precision", "unlabelled_share", "recall"]].plot.barh(figsize=(8, 5), xlim=(0, 1))
    ax.set(title=f"Discovery groups against planted labels ({MODEL})", xlabel="", ylabel="")
    ax.invert_yaxis()
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    plt.tight_layout()
    plt.show()
    display(validation.round(3))
else:
    print("skipped: the text has no planted labels (DATA is real text), so there is no ground truth to score against")

# %% [markdown]
# ## Loss on each capability, model by model
#
# Mean loss of each model on the tokens of each planted capability (and on unlabelled tokens), from the
# same token frames. Models are in order of size.

# %%
if labelled:
    loss = pd.DataFrame({n: frames[n].groupby("capability").loss.mean() for n in suite})
    loss = loss.rename(index={"": "(unlabelled)"})
    falls = loss[suite[-1]] < loss[suite[0]]
    monotone = (loss.diff(axis=1).iloc[:, 1:] < 0).all(axis=1)
    mw.record("loss_falls_smallest_to_largest", int(falls.drop("(unlabelled)").sum()))
    mw.record("loss_falls_at_every_step", int(monotone.drop("(unlabelled)").sum()))
    if len(suite) > 1:
        ratio = loss.loc["induction_name", suite[1]] / loss.loc["induction_name", suite[0]]
        mw.record("loss_induction_name_ratio_first_two", round(float(ratio), 4))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for cap, colour in zip(loss.index, plt.cm.tab20(np.linspace(0, 1, len(loss)))):
        ax.plot([size[n] / 1e6 for n in suite], loss.loc[cap], "o-", label=cap, color=colour,
                lw=2.5 if cap == "(unlabelled)" else 1)
    ax.set(xlabel="parameters (millions)", ylabel="mean loss (nats)", yscale="log", title="Loss per capability")
    ax.legend(fontsize=7, ncol=2)
    plt.tight_layout()
    plt.show()
    display(loss.round(3))
else:
    print("skipped: the text has no planted labels; the overview above gives each model's mean loss")

# %% [markdown]
# ## The capabilities as tasks
#
# Each planted capability has a task file, `data/tasks/<capability>.jsonl`: at least 100 items cut from
# held-out stories (`variant = "original"`) plus red-team variants. The prompt is the story up to the
# capability's span, the answer is the span (names and phrases can be several tokens: their
# log-probabilities are summed), and where there is an obvious wrong answer (the other gender's pronoun,
# the subject instead of the indirect object, the plural instead of the singular, a punctuation mark
# without the closing quote, another name, another noun of the same kind) the item names it. Metrics
# per item (`score_task`): probability of the answer, its rank (the worst over its tokens, so rank 1
# means greedy decoding writes the whole answer), the share of its tokens at rank 1, and the logit
# difference to the wrong answer. All models score the held-out items; the red-team variants are scored
# on `MODEL`.

# %%
tasks = load_tasks(CAPABILITIES)
mw.record("task_originals_min", int(tasks[tasks.variant == "original"].groupby("task").size().min()))
originals = tasks[tasks.variant == "original"]
variants = tasks[tasks.variant != "original"]
if SMOKE:
    originals = originals.groupby("task").head(N_ORIGINAL)
    variants = variants.groupby(["task", "variant"]).head(N_VARIANT)
scores = pd.concat([score_task(models[n], originals, n) for n in suite]
                   + [score_task(models[MODEL], variants, MODEL)], ignore_index=True)
held = summarize(scores[scores.variant == "original"])
pivot = lambda col: held.pivot(index="task", columns="model", values=col).reindex(CAPABILITIES)[suite]  # noqa: E731
accuracy, token_accuracy = pivot("accuracy"), pivot("token_accuracy")
print(f"{len(originals)} held-out items x {len(suite)} models, {len(variants)} red-team items on {MODEL}")
accuracy.round(2)

# %% tags=["hide-input"]
panels = [("accuracy", "accuracy (whole answer at rank 1)", dict(vmin=0, vmax=1, cmap="viridis")),
          ("prob", "mean probability of the answer", dict(vmin=0, vmax=1, cmap="viridis")),
          ("median_rank", "median rank of the answer", dict(cmap="magma_r", norm="log")),
          ("logit_diff", "mean logit difference to the wrong answer", dict(cmap="RdBu", vmin=-15, vmax=15))]
fig, axes = plt.subplots(1, 4, figsize=(17, 5), sharey=True)
for ax, (col, title, style) in zip(axes, panels):
    values = pivot(col)
    im = ax.imshow(values.values.astype(float), aspect="auto", **style)
    ax.set_xticks(range(len(suite)), [short[n] for n in suite], rotation=45)
    ax.set_yticks(range(len(values)), values.index)
    ax.set_title(title, fontsize=10)
    for (i, j), v in np.ndenumerate(values.values.astype(float)):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.2f}" if col != "median_rank" else f"{v:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if col in ("accuracy", "prob") and v < 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.05)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Which model has which capability
#
# A model *has* a capability here when it writes the whole answer of at least `HAS` of the held-out items.
# For each capability, the smallest model of the suite that has it (`-1`: none does):

# %%
has = accuracy >= HAS
appears = {cap: next((i for i, n in enumerate(suite) if has.loc[cap, n]), -1) for cap in CAPABILITIES}
for cap, index in appears.items():
    mw.record(f"appears_at_{cap}", index)
small_has = [c for c in CAPABILITIES if appears[c] == 0]
later = {c: suite[i] for c, i in appears.items() if i > 0}
never = [c for c in CAPABILITIES if appears[c] == -1]
mw.record("capabilities_in_smallest", len(small_has))
mw.record("repeat_span_token_accuracy_smallest", round(float(token_accuracy.loc["repeat_span", suite[0]]), 4))
mw.record("repeat_span_token_accuracy_largest", round(float(token_accuracy.loc["repeat_span", suite[-1]]), 4))
ioi = held[held.task == "ioi"].set_index("model")
mw.record("ioi_max_accuracy", round(float(ioi.accuracy.max()), 4))
mw.record(f"ioi_logit_diff_{short[MODEL]}", round(float(ioi.logit_diff[MODEL]), 4))
mw.record("induction_name_accuracy_smallest", round(float(accuracy.loc["induction_name", suite[0]]), 4))
mw.record(f"induction_name_accuracy_{short[MODEL]}", round(float(accuracy.loc["induction_name", MODEL]), 4))
pd.DataFrame({"first model that has it": {c: suite[i] if i >= 0 else "none" for c, i in appears.items()},
              **{f"token accuracy {short[n]}": token_accuracy[n] for n in suite}}).round(2)

# %% [markdown]
# ## Browse the items
#
# Every scored item, filtered by capability, model and outcome: the end of the prompt coloured by the
# model's loss on each token (the answer underlined; open a row for the whole prompt), the answer, the
# wrong answer, probability, rank and [logit difference](../glossary.md#g-logit-difference). The page shows a few items per capability, model
# and outcome; in JupyterLab, `eval_browser(scores).widget()` gives dropdowns over all of them.

# %%
eval_browser(scores, per_group=2, element_id="evals20")

# %% [markdown]
# ## Red-teaming the capabilities
#
# The proposal asks what in the text makes each behaviour appear, whether it survives changes, and whether
# it works on synthetic examples. Each task holds the same held-out items renamed (`names`), with three
# unrelated sentences inserted before the answer's sentence (`distance`), with common words swapped for
# synonyms (`wording`), with everything before the answer's own sentence replaced by text of about the
# same length from another story (`local`, a control: the prompt still reads like a story, but an item
# whose answer depends on something earlier should fail), and short prompts in new wording
# (`synthetic`).
#
# Each variant item names the original it came from, so every comparison below is item by item: the
# change in correctness of the same item, averaged, with a bootstrap interval. For the `local` control
# the items are grouped by what each one needs (`needs_earlier`, from the generator's labels): whether the
# cue, antecedent, referent or name its answer depends on lies before the answer's own sentence. That is
# a property of the item, not of the capability: a pronoun's referent is often in the same sentence, a
# repeated name sometimes is. Story starts have nothing before them to replace and are left out.
# A synthetic prompt can also fail for a reason that is not a failure to copy: "..., Every day," is
# just as well continued by a pronoun. `rival_probs` compares, at the answer's position, P(the name's
# first token) with P(he, she or it).
# Accuracy of `MODEL` on each variant:

# %%
mine = scores[scores.model == MODEL]
red = summarize(mine, by=("task", "variant")).pivot(index="task", columns="variant", values="accuracy")
red = red.reindex(index=list(CAPABILITIES), columns=list(VARIANTS))
red_diff = summarize(mine, by=("task", "variant")).pivot(index="task", columns="variant", values="logit_diff")
# Item by item: each variant against the original it was made from.
original = mine[mine.variant == "original"].set_index("id")
paired = mine[mine.variant.isin(["names", "distance", "wording", "local"]) & mine.source.isin(original.index)].copy()
paired["change"] = paired.correct.to_numpy(float) - original.loc[paired.source, "correct"].to_numpy(float)
paired["needs_earlier"] = original.loc[paired.source, "needs_earlier"].to_numpy()
local = paired[paired.variant == "local"]
for key, group in [("needs_earlier", local.needs_earlier.eq(True)), ("in_sentence", local.needs_earlier.eq(False))]:
    drop, low, high = stats.bootstrap_interval(-local[group].change.to_numpy(), seed=SEED)
    mw.record(f"redteam_local_drop_{key}", round(drop, 4))
    mw.record(f"redteam_local_drop_{key}_ci", [round(low, 4), round(high, 4)])
    mw.record(f"redteam_local_items_{key}", int(group.sum()))
ci_needs, ci_in = mw.records()["redteam_local_drop_needs_earlier_ci"], mw.records()["redteam_local_drop_in_sentence_ci"]
mw.record("redteam_local_groups_apart", bool(ci_needs[0] > ci_in[1]))  # the two bootstrap intervals do not overlap
in_sentence = local[local.needs_earlier.eq(False)].groupby("task").change.agg(["size", "mean"])
in_sentence = in_sentence[in_sentence["size"] >= (3 if SMOKE else 10)]
mw.record("redteam_local_in_sentence_worst_task", in_sentence["mean"].idxmin())
mw.record("redteam_local_in_sentence_worst_drop", round(float(-in_sentence["mean"].min()), 4))
by_task = paired.groupby(["variant", "task"]).change.mean()
names_change = by_task["names"]
mw.record("redteam_names_max_change", round(float(names_change.abs().max()), 4))
mw.record("redteam_names_max_change_task", names_change.abs().idxmax())
worst_names = paired[(paired.variant == "names") & (paired.task == names_change.abs().idxmax())]
_, low, high = stats.bootstrap_interval(worst_names.change.to_numpy(), seed=SEED)
mw.record("redteam_names_max_change_ci", [round(low, 4), round(high, 4)])
mw.record("redteam_distance_max_drop", round(float(-by_task["distance"].min()), 4))
mw.record("synthetic_induction_accuracy", round(float(red.loc["induction_name", "synthetic"]), 4))
mw.record("synthetic_induction_logit_diff", round(float(red_diff.loc["induction_name", "synthetic"]), 4))
# A synthetic prompt such as "... Every day," also fits a pronoun: is the top token the name's rival?
names_items = mine[mine.task == "induction_name"]
rivals = {variant: rival_probs(models[MODEL], names_items[names_items.variant == variant], PRONOUNS)
          for variant in ("original", "synthetic")}
for variant, frame in rivals.items():
    mw.record(f"{variant}_induction_p_answer", round(float(frame.p_answer.mean()), 6))
    mw.record(f"{variant}_induction_p_pronoun", round(float(frame.p_rivals.mean()), 4))
    mw.record(f"{variant}_induction_pronoun_wins", round(float(frame.rival_wins.mean()), 4))
mw.record("synthetic_induction_top_rival", rivals["synthetic"].top_rival.mode()[0])
tops = rivals["synthetic"].top.value_counts()
mw.record("synthetic_induction_top_tokens", ", ".join(f"'{t.strip()}' ({n})" for t, n in tops.head(3).items()))
mw.record("synthetic_induction_p_top", round(float(rivals["synthetic"].p_top.mean()), 4))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 5))
im = ax.imshow(red.values.astype(float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
ax.set_xticks(range(len(VARIANTS)), VARIANTS, rotation=30)
ax.set_yticks(range(len(red)), red.index)
for (i, j), v in np.ndenumerate(red.values.astype(float)):
    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")
fig.colorbar(im, label="accuracy")
ax.set_title(f"Red-team variants ({MODEL})")
plt.tight_layout()
plt.show()

# %%
local.groupby(["task", "needs_earlier"]).change.agg(["size", "mean"]).rename(columns={"mean": "paired change"}).round(2)

# %% [markdown]
# ## Is performance uniform?
#
# For each capability, the item metadata field whose values split `MODEL`'s accuracy most (values with
# at least 10 items; 3 in [smoke mode](../glossary.md#g-smoke)): the distance to the antecedent, the pronoun's form, the role order
# of an indirect object, the paragraph, the number of answer tokens, the fixed phrase, ...
#
# The largest spread over several fields is large by chance alone, so each capability also gets `p`:
# the share of shufflings of its items' correctness, with every field searched again, whose largest
# spread is at least as large. A capability counts as uneven when `p` is below 0.05 divided by the
# number of capabilities searched.
#

# %%
fields = ["distance", "form", "order", "gap", "paragraph", "answer_tokens", "phrase", "cue"]
spread = uneven(scores[(scores.variant == "original") & (scores.model == MODEL)], fields, 3 if SMOKE else 10,
                permutations=PERMUTATIONS, seed=SEED)
pronouns = scores[(scores.task == "pronoun") & (scores.variant == "original") & (scores.model == MODEL)]
they = pronouns.form.isin(["they"])
mw.record("pronoun_accuracy_they", round(float(pronouns[they].correct.mean()), 4))
mw.record("pronoun_accuracy_singular", round(float(pronouns[~they].correct.mean()), 4))
mw.record("uneven_capabilities", int((spread.spread >= 0.3).sum()))
# Bonferroni over the capabilities searched; the null already re-runs the search over every field.
significant = spread[spread.p < 0.05 / max(len(spread), 1)]
mw.record("uneven_capabilities_significant", len(significant))
mw.record("uneven_min_p", float(spread.p.min()) if len(spread) else 1.0)
mw.record("uneven_significant_tasks", ", ".join(f"{t} ({f})" for t, f in zip(significant.task, significant.field)))
spread.round(2)

# %% [markdown]
# ## The capabilities, summarised
#
# The seed's summary questions, answered from the tables above for each capability: what it is (the
# pattern that finds it), which models have it, how `MODEL` does, where its performance is not uniform,
# which red-team change hurts most (besides the `local` control), and how much of it discovery recovers.

# %%
what = {p.name: p.description for p in PATTERNS}
worst = (red.drop(columns=["original", "local"]).sub(red["original"], axis=0)).idxmin(axis=1)
summary = pd.DataFrame({
    "what it is (pattern)": pd.Series(what),
    "models that have it": pd.Series({c: ", ".join(short[n] for n in suite if has.loc[c, n]) or "none"
                                      for c in CAPABILITIES}),
    f"accuracy {short[MODEL]}": accuracy[MODEL],
    "least uniform": pd.Series({r.task: f"{r.field}: {r.best} {r.best_accuracy:.2f} vs {r.worst} {r.worst_accuracy:.2f}"
                                for r in spread.itertuples()}, dtype=object),
    "worst change": pd.Series({c: f"{worst[c]} ({red.loc[c, worst[c]] - red.loc[c, 'original']:+.2f})"
                               for c in CAPABILITIES}),
    "discovery recall": validation.recall if labelled else np.nan,
}).reindex(CAPABILITIES)
summary.style.format(precision=2)

# %% [markdown]
# ## What we found

# %% tags=["hide-input"]
r = mw.records()
# Bundled models whose training added indirect-object drill rows (their training log says so).
drilled = [n for n in suite if n in bundled and read_train_log(n)["config"].get("ioi_rows")]
s0, sm = short[suite[0]], short[MODEL]
found = [
    f"{suite[0]} predicts {r[f'confident_share_{s0}']:.0%} of the held-out tokens confidently and correctly, "
    f"{MODEL} {r[f'confident_share_{sm}']:.0%}. On the smallest model the eleven patterns leave "
    f"{r[f'loop_unexplained_share_{s0}']:.0%} of the confident tokens unexplained; the most common of those are "
    f"{steps.common.iloc[-1]}.",
]
if len(suite) > 1:
    pair = f"{short[suite[0]]}_to_{short[suite[1]]}"
    found.append(f"What {suite[1]} adds to {suite[0]}: {r[f'new_tokens_{pair}']:,} newly confident tokens, "
                 f"{r[f'new_name_share_{pair}']:.0%} of them repeated names.")
if labelled:
    missed = [c for c in CAPABILITIES if c not in recovered]
    found.append(f"Discovery recovers {r['discovery_recovered']} of {len(CAPABILITIES)} planted capabilities on {MODEL} "
                 f"(recall and labelled precision >= 0.8): {', '.join(recovered)}. Not recovered: "
                 + "; ".join(f"{c} (recall {validation.recall[c]:.2f}, labelled precision "
                             f"{validation.labelled_precision[c]:.2f})" for c in missed)
                 + f". Strictly (precision over all of a group's tokens, unlabelled text included, at least 0.8) "
                 f"{r['discovery_recovered_strict']} are recovered; the widest gaps are "
                 + ", ".join(f"{c} ({validation.unlabelled_share[c]:.0%} of its tokens unlabelled)"
                             for c in validation.unlabelled_share.sort_values(ascending=False).index[:3])
                 + f". The skip_trigram group has precision {r['discovery_precision_skip_trigram']:.2f}: its rule "
                 "(near-certain phrases) also catches the rest of the templated text, which the generator does not label.")
    found.append(f"Loss falls from {suite[0]} to {suite[-1]} on {r['loss_falls_smallest_to_largest']} of "
                 f"{len(CAPABILITIES)} capabilities and at every step of the suite on "
                 f"{r['loss_falls_at_every_step']}"
                 + (": no, the larger models are not uniformly better." if r["loss_falls_at_every_step"] < len(CAPABILITIES)
                    else ".")
                 + (f" Repeated names cost {r['loss_induction_name_ratio_first_two']:.2f}x as much loss under "
                    f"{suite[1]} as under {suite[0]}." if len(suite) > 1 else ""))
found.append(f"{suite[0]} already has {r['capabilities_in_smallest']} of {len(CAPABILITIES)} capabilities "
             f"({', '.join(small_has)}). "
             + (f"Only larger models have {', '.join(f'{c} (from {n})' for c, n in later.items())}. " if later else "")
             + (f"No model has {', '.join(never)}." if never else "Every capability is held by some model."))
found.append(f"Repeated names: {suite[0]} writes {r['induction_name_accuracy_smallest']:.0%} of them, {MODEL} "
             f"{r[f'induction_name_accuracy_{sm}']:.0%}. Repeated spans: "
             f"{r['repeat_span_token_accuracy_largest']:.0%} of their tokens at rank 1 for {suite[-1]}, "
             f"{r['repeat_span_token_accuracy_smallest']:.0%} for {suite[0]}"
             + (", but the whole span seldom (no model has it)." if appears["repeat_span"] == -1 else "."))
found.append("Indirect objects on held-out templates: "
             + ("no, no model has it" if appears["ioi"] == -1 else f"{suite[appears['ioi']]} and larger have it")
             + f" (best accuracy {r['ioi_max_accuracy']:.0%}; mean logit difference of {MODEL} "
             f"{r[f'ioi_logit_diff_{sm}']:+.2f})"
             + (f". {', '.join(drilled)} also trained on indirect-object drills (none in a held-out template's wording), "
                "so on this task it differs from the others in its curriculum as well as its size." if drilled else "."))
ci = lambda key: f"{r[key][0]:.0%} to {r[key][1]:.0%}"  # noqa: E731
found.append(f"Red team ({MODEL}), item by item: replacing the text before the answer's sentence with another "
             f"story's costs the items whose answer depends on that text {r['redteam_local_drop_needs_earlier']:.0%} "
             f"accuracy (95% interval {ci('redteam_local_drop_needs_earlier_ci')}, "
             f"{r['redteam_local_items_needs_earlier']} items) and the items that need only their own sentence "
             f"{r['redteam_local_drop_in_sentence']:.0%} ({ci('redteam_local_drop_in_sentence_ci')}, "
             f"{r['redteam_local_items_in_sentence']} items)"
             + (": what the model uses is where the labels say it is. "
                if r["redteam_local_groups_apart"] else
                ": the two groups are not clearly apart. ")
             + f"Even items that need only their own sentence lose a lot when the story around them changes: "
             f"{r['redteam_local_in_sentence_worst_task']} items {r['redteam_local_in_sentence_worst_drop']:.0%}, "
             "so they depend on earlier text in ways the labels do not record (where in a story a phrase "
             "comes, who was introduced as whom). "
             + f"Renaming every character changes one capability's accuracy ({r['redteam_names_max_change_task']}) by "
             f"{r['redteam_names_max_change']:.0%} (interval {ci('redteam_names_max_change_ci')}); three inserted "
             f"sentences cost up to {r['redteam_distance_max_drop']:.0%}. In new wording, {MODEL} writes "
             f"{r['synthetic_induction_accuracy']:.0%} of the repeated names"
             + (" (so no, the capability does not carry over to new wording)" if r["synthetic_induction_accuracy"] < HAS
                else "") + f"; it prefers the name from the prompt to an unseen one by "
             f"{r['synthetic_induction_logit_diff']:.1f} nats on average. But these prompts also fit a pronoun: at "
             f"the answer's position a pronoun ({', '.join(p.strip() for p in PRONOUNS)}) is likelier than the name's "
             f"first token on {r['synthetic_induction_pronoun_wins']:.0%} of the synthetic items (mean P {r['synthetic_induction_p_pronoun']:.3f} "
             f"against {r['synthetic_induction_p_answer']:.1e}; commonest: '{r['synthetic_induction_top_rival'].strip()}'), and on "
             f"{r['original_induction_pronoun_wins']:.0%} of the held-out originals (P of the name {r['original_induction_p_answer']:.2f}). "
             + ("So accuracy 0 here says the model would rather write a pronoun in this wording, not that it cannot copy: "
                "copying shows in the margin over an unseen name."
                if r["synthetic_induction_p_pronoun"] >= 0.5 else
                f"Yet neither is what the model writes: its top tokens are {r['synthetic_induction_top_tokens']} "
                f"(items), at a mean P of {r['synthetic_induction_p_top']:.2f}, the stock continuation of each "
                "prompt's wording. So the failure is the wording's pull, not the pronoun; copying survives only as "
                "the margin over an unseen name."))
found.append(f"Not uniform? Capabilities where one metadata field splits {MODEL}'s accuracy by 0.3 or more: "
             f"{r['uneven_capabilities']}; of those, beyond what searching every field finds in shuffled items "
             f"(p < 0.05 / {len(spread)}, {PERMUTATIONS:,} shufflings): {r['uneven_capabilities_significant']}"
             + (f" ({r['uneven_significant_tasks']})." if r["uneven_capabilities_significant"] else ".") + f" Pronouns: {r['pronoun_accuracy_singular']:.0%} right for he/she/his/her/him, "
             f"{r['pronoun_accuracy_they']:.0%} for 'they'.")
if r[f"confident_share_{sm}"] < 0.01:  # an untrained model (a random-weight stand-in): every number is at its floor
    found = [f"{MODEL} predicts {r[f'confident_share_{sm}']:.1%} of the held-out tokens confidently and correctly: too "
             "few for the loop, the tasks or the red team to find anything, so this run states no finding."]
mw.findings(*found)

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
# ```{exercise} An answer's log-probability
# :label: ex-cap-logprob
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 10 min
#
# A task item's answer may be several tokens; its log-probability is the sum over them, each given
# the ones before it. From a row's log-probabilities `[pos, d_vocab]` and the position `start` where
# the answer's tokens begin, return log P(answer), as `score_task` does.
# ```
#
# <details><summary>Hint</summary>
#
# Position `p` predicts token `p + 1`, so answer token `i` is read at `start - 1 + i`.
#
# </details>

# %%
def answer_logprob(logprobs, answer_ids: list[int], start: int):
    """Sum of log P(answer token i) read at position start - 1 + i."""
    # BEGIN SOLUTION (stub: return None)
    return float(sum(logprobs[start - 1 + i, t] for i, t in enumerate(answer_ids)))
    # END SOLUTION


# %%
exercises.check_answer_logprob(answer_logprob, strict=STRICT)

# %% [markdown]
# ```{exercise} An answer's rank
# :label: ex-cap-rank
#
# **Difficulty** 1/5 · **Importance** 4/5 · **Time** 5 min
#
# "Correct" in this chapter means rank 1: greedy decoding writes the token. Return the rank of
# `token` among the logits of one position: 1 plus the number of tokens the model prefers.
# ```
#
# <details><summary>Hint</summary>
#
# Count strictly larger logits; ties do not push a token down.
#
# </details>

# %%
def answer_rank(logits, token: int):
    """1 + the number of tokens with a strictly higher logit."""
    # BEGIN SOLUTION (stub: return None)
    return int((logits > logits[token]).sum()) + 1
    # END SOLUTION


# %%
exercises.check_answer_rank(answer_rank, strict=STRICT)

# %% [markdown]
# ```{exercise} A permutation p-value
# :label: ex-cap-pvalue
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 10 min
#
# The uneven-performance search above is judged against shuffled items. Given the observed statistic
# and the statistics of the shufflings, return the one-sided p-value, counting the observation as one
# of the orderings (so that p is never 0 with a finite null).
# ```
#
# <details><summary>Hint</summary>
#
# (1 + number of null values at least as large) / (number of null values + 1).
#
# </details>

# %%
def permutation_p(observed: float, null):
    """One-sided p of `observed` against the permutation statistics `null`."""
    # BEGIN SOLUTION (stub: return None)
    null = np.asarray(null)
    return float((1 + (null >= observed).sum()) / (len(null) + 1))
    # END SOLUTION


# %%
exercises.check_permutation_p(permutation_p, strict=STRICT)

# %% [markdown]
# ```{exercise} How uneven is a capability?
# :label: ex-cap-spread
#
# **Difficulty** 2/5 · **Importance** 3/5 · **Time** 15 min
#
# For one metadata field, return the spread of accuracy over its values: the best value's accuracy
# minus the worst's, among values with at least `min_items` items (0 when fewer than two values are
# left). This is the statistic `uneven` maximises over fields (`task_metrics.accuracy_spread`).
# ```
#
# <details><summary>Hint</summary>
#
# `pd.Series(correct).groupby(labels).agg(['mean', 'size'])`, then keep the rows with enough items.
#
# </details>

# %%
def accuracy_spread(correct, labels, min_items: int):
    """Best minus worst accuracy over the values of `labels` with at least `min_items` items."""
    # BEGIN SOLUTION (stub: return None)
    table = pd.Series(np.asarray(correct, dtype=float)).groupby(np.asarray(labels)).agg(["mean", "size"])
    table = table[table["size"] >= min_items]
    return float(table["mean"].max() - table["mean"].min()) if len(table) >= 2 else 0.0
    # END SOLUTION


# %%
exercises.check_accuracy_spread(accuracy_spread, strict=STRICT)

# %% [markdown]
# ## Going further
#
# Open questions, no checks: change the setup and look.
#
# 1. Add a pattern to `PATTERNS` for the largest group left in the `unexplained` row (for example "a
#    verb that a name just before makes near-certain") and rerun the loop. Does it explain template text
#    or a capability the generator did not plant?
# 2. Put the `induction_name` pattern before `ioi` in the pattern list. What happens to the recall of
#    `ioi`, and why does the order of the loop matter?
# 3. Lower `THRESHOLD` to 0.2. Which capabilities gain confident tokens, and does precision suffer?
# 4. Write a task file of your own with `mi_widgets.organisms.task_format.write_task`: for example, a synthetic
#    induction task in the wording of the training stories ("... named {N}. One day, {N}"). Does the
#    synthetic failure above come from the wording or from the names?
# 5. Online: run this notebook with `MODEL = "tiny-stories-1M"`, `SUITE = ["tiny-stories-1M",
#    "tiny-stories-8M", "tiny-stories-33M"]` and `DATA` pointing at TinyStories validation text. Which of
#    the patterns find tokens in real stories, and what is in the `unexplained` row?

# %% [markdown]
# ## References
# - The TinyStories capability-mapping proposal (AI Safety Camp 2024): find confident correct
#   predictions, name the pattern, filter it out, repeat; then define each capability as a task and red-team it.
# - Eldan and Li (2023), *TinyStories: How Small Can Language Models Be and Still Speak Coherent English?*
# - Olsson et al. (2022), *In-context Learning and [Induction Heads](../glossary.md#g-induction-head)*.
# - Wang et al. (2022), *Interpretability in the Wild: a Circuit for Indirect Object Identification in GPT-2 small*.
