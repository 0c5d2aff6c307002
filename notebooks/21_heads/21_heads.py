# %% [markdown]
# # Attention heads across the suite: a head wiki, composition, and what deeper models add
#
# > **You will learn to** score every head with attention-pattern detectors and its OV circuit's eigenvalues,
# > compute Q-, K- and V-composition against a random baseline, find an induction circuit and test it causally,
# > and read what each head does from mean ablation on labelled text.
# >
# > **You need:** [Start here](../00_start/00_start.ipynb) (attention patterns, induction heads);
# > [The model organisms](../01_models/01_models.ipynb) (the suite and its planted capabilities).
# >
# > **Time:** about 90 min to study and do the exercises; the full run takes about 1.5 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** Seed 003 asks for "a wiki for a range of models, a row per head and a column per metric"
# (6.18-6.27), and asks how larger models differ from smaller ones (1.9-1.22). Our suite has four models, one to
# four layers, with and without MLPs, all trained on the same stories with labelled capabilities. So we can make
# that wiki for every head we ship, say what each head matters for, find the induction circuit of the two-layer
# attention-only model from its weights alone (Elhage et al. 2021) and check it by ablation, and count the tokens
# each extra layer gets right.
#
# The plan:
#
# 1. **the head wiki**: detector scores on story text (previous token, duplicate token, induction, attention to
#    BOS, local), the OV circuit's copying score, the induction score on repeated random tokens, and the planted
#    capability each head matters for most, from [mean ablation](../glossary.md#g-faithfulness);
# 2. **composition**: Q-, K- and V-composition between the heads of adjacent layers against random heads of the
#    same shapes; the induction circuit as the strongest K-composition into the best induction head, checked by
#    ablating the pair;
# 3. **head ablation on story text**: which heads matter, per capability, that are not induction heads;
# 4. **what a deeper model fixes**: the labelled tokens each step up the suite gets right that the smaller model
#    got wrong;
# 5. **bugs of the small models**: the one-layer model's skip-trigram bugs and three induction bugs of the
#    two-layer models, each measured in every model that could fix it.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-attn-2l"  # the model whose induction circuit section 2 traces (any model, bundled or not)
SUITE = ["stories-attn-1l", "stories-attn-2l", "stories-gelu-2l", "stories-gelu-4l"]  # the wiki's models, small first
DEVICE = "cpu"  # "cuda" on a GPU machine

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.analysis.head_wiki import ablation_effects, head_wiki, labelled_batch
from mi_widgets.analysis.induction_bugs import (ambiguous_prompts, answer_probability, continuation_rates,
                                                logit_difference, one_token_id, split_token_prompts, stop_prompts)
from mi_widgets.analysis.skip_trigram_bugs import bug_effect, skip_trigram_sites
from mi_widgets.attribution import direct_logit_attribution
from mi_widgets.book.build import BUILD
from mi_widgets.heads import composition_baseline, detector_scores, induction_report, repeated_random_tokens
from mi_widgets.logprobs import is_trained, next_token_losses
from mi_widgets.organisms.cards import read_facts
from mi_widgets.organisms.corpus import row_length, story_rows
from mi_widgets.organisms.lexicon import COMMON_NAMES
from mi_widgets.organisms.stories import generate_stories
from mi_widgets.patching import ablate_heads, head_means
from mi_widgets.widgets import sortable_table

torch.manual_seed(SEED)
torch.set_grad_enabled(False)
N_STORIES = 12 if SMOKE else 64  # labelled validation stories for the ablations
STORY_TOKENS = 128 if SMOKE else 192  # each cut to this many tokens (stories shorter than that are left out)
DETECT_ROWS = 4 if SMOKE else 16  # rows of story text for the pattern detectors
INDUCTION_HEAD = 0.4  # a head is an induction head if its score on repeated random tokens is at least this
BASELINE_PAIRS = 100 if SMOKE else 1000  # random head pairs for the composition baseline
RANDOM_PAIRS = 4 if SMOKE else 24  # random head pairs ablated against the induction circuit's pair
SEQ_LEN = 50  # repeated random tokens: BOS, then 50 tokens, twice
BIG = 8192  # in smoke mode, a model with a larger vocabulary or more than 16 heads is ablated on less text

models = {name: mw.load_model(name, device=DEVICE) for name in SUITE}
model = models[MODEL] if MODEL in models else mw.load_model(MODEL, device=DEVICE)
val = story_rows(model.tokenizer, 8, row_length(model), seed=SEED + 40, split="val")
model_loss = float(model(val.to(DEVICE), return_type="loss"))
mw.record("trained", is_trained(model_loss, model.cfg.d_vocab))
mw.record("suite_trained", all(is_trained(float(m(story_rows(m.tokenizer, 4, row_length(m), seed=SEED + 40,
                                                                split="val").to(DEVICE), return_type="loss")),
                                          m.cfg.d_vocab) for m in models.values()))
stories = list(itertools.islice(generate_stories(seed=SEED, split="val"), N_STORIES))


def head_name(layer: int, head: int) -> str:
    return f"L{layer}H{head}"


# %% [markdown]
# ## 1. The head wiki
#
# Each detector is the mean attention a head gives, over the queries it applies to, to the keys it looks for:
# the token before (**previous token**), an earlier copy of the current token (**duplicate token**), the token
# after an earlier copy (**induction**, the prefix-matching pattern), position 0 (**BOS**, where heads rest), and
# the four tokens before (**local**). They are measured on story text; the induction score on repeated random
# tokens, the one the model cards use, is its own column. **Copying** reads the weights instead: the OV circuit
# `W_E W_V W_O W_U` copies when its eigenvalues are positive (1: all of them). Last, each head is mean-ablated (its
# output replaced by its mean at each position over the stories), and the capability whose labelled tokens lose
# the most says what the head matters for.

# %%
rows = {name: story_rows(m.tokenizer, DETECT_ROWS, row_length(m), seed=SEED, split="val") for name, m in models.items()}


def quick(m) -> bool:
    """A quick look at a big model: every head's ablation is a pass with d_vocab logits per token."""
    return SMOKE and (m.cfg.d_vocab > BIG or m.cfg.n_layers * m.cfg.n_heads > 16)


batches = {name: labelled_batch(m.tokenizer, stories[: 4 if quick(m) else None],
                                min(64 if quick(m) else STORY_TOKENS, row_length(m))) for name, m in models.items()}
effects = {name: ablation_effects(m, *batches[name]) for name, m in models.items()}
wiki = head_wiki(models, rows, batches, effects=effects)
csv_path = BUILD / "21_heads" / "head_wiki.csv"
csv_path.parent.mkdir(parents=True, exist_ok=True)
wiki.to_csv(csv_path, index=False)
print(f"{len(wiki)} heads of {len(models)} models; the wiki is saved as {csv_path.name} in the build folder")
view = sortable_table(wiki, sort_by="induction (random tokens)", filter_column="model")
view

# %% [markdown]
# In JupyterLab, `view.widget()` sorts the wiki by any column and filters it to one model.

# %%
agree, checked = [], 0
for name, m in models.items():
    if getattr(m, "bundled_name", None) != name:
        continue  # only bundled models have cards
    card = [f"L{h.replace('.', 'H')}" for h, _ in read_facts(name)["evaluation"]["induction"]["top_heads"]]
    ours = wiki[wiki.model == name].nlargest(len(card), "induction (random tokens)")["head"].tolist()
    agree.append(set(card) == set(ours))
    checked += 1
mw.record("cards_checked", checked)
mw.record("cards_agree", all(agree))
induction_heads = wiki[wiki["induction (random tokens)"] >= INDUCTION_HEAD]
mw.record("induction_heads", {name: part["head"].tolist() for name, part in induction_heads.groupby("model")})
mw.record("induction_heads_copying_min", float(induction_heads.copying.min()) if len(induction_heads) else 0.0)
others = wiki[wiki["induction (random tokens)"] < INDUCTION_HEAD]
mw.record("other_heads_copying_median", float(others.copying.median()))
mw.record("induction_heads_in_layer_0", int((induction_heads["head"].str[1] == "0").sum()))
strongest_prev = wiki.loc[wiki["previous token"].idxmax()]
mw.record("previous_token_best", float(strongest_prev["previous token"]))
mw.record("previous_token_best_head", f"{strongest_prev['model']} {strongest_prev['head']}")

# %% [markdown]
# ## 2. Composition and the induction circuit
#
# A head in a later layer can read what an earlier head wrote through its queries (**Q-composition**), its keys
# (**K-composition**) or its values (**V-composition**). Elhage et al. (2021) score a pair by how much of the
# receiver's matrix the sender's OV circuit feeds: `||W_OV^sender W^receiver|| / (||W_OV^sender|| ||W^receiver||)`
# (Frobenius norms; `W_QK` transposed for keys, `W_OV` for values). Random matrices of the same shapes already
# score above zero, so the baseline is the same score for random Gaussian heads. An induction head needs a
# previous-token head in an earlier layer to tell it what came before each key: the pair should K-compose.

# %%
n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
report = induction_report(model, seq_len=SEQ_LEN, seed=SEED)
best_layer, best_head = divmod(int(report.scores.argmax()), n_heads)
summary, kcomp = [], None
for mode in ("Q", "K", "V"):
    scores = model.all_composition_scores(mode).detach().cpu()
    random = composition_baseline(model, mode, n=BASELINE_PAIRS, seed=SEED)
    adjacent = torch.stack([scores[l, :, l + 1, :] for l in range(n_layers - 1)]) if n_layers > 1 else torch.zeros(0)
    summary.append({"composition": mode, "random mean": float(random.mean()), "random 99th pct": float(random.quantile(0.99)),
                    "adjacent pairs": adjacent.numel(),
                    "above the 99th pct": int((adjacent > random.quantile(0.99)).sum()) if adjacent.numel() else 0,
                    "largest": float(adjacent.max()) if adjacent.numel() else float("nan")})
    if mode == "K":
        kcomp, k_random = scores, random
pd.DataFrame(summary).set_index("composition").style.format(precision=3)

# %%
if best_layer > 0:
    into = kcomp[:best_layer, :, best_layer, best_head]  # every earlier head into the best induction head
    sender_layer, sender_head = divmod(int(into.argmax()), n_heads)
    pair = [(sender_layer, sender_head), (best_layer, best_head)]
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    grid = kcomp[best_layer - 1, :, best_layer, :].numpy()
    image = ax.imshow(grid, cmap="viridis")
    ax.set_xticks(range(n_heads), [head_name(best_layer, h) for h in range(n_heads)], fontsize=8)
    ax.set_yticks(range(n_heads), [head_name(best_layer - 1, h) for h in range(n_heads)], fontsize=8)
    ax.set_xlabel("receiver (keys)")
    ax.set_ylabel("sender (OV)")
    ax.set_title(f"{MODEL}: K-composition\n(random heads: {float(k_random.mean()):.3f} ± {float(k_random.std()):.3f})",
                 fontsize=9)
    plt.colorbar(image, ax=ax)
    plt.tight_layout()
    plt.show()
else:
    pair = None
    print(f"{MODEL}'s best induction head is in layer 0: no earlier head can compose with it")

# %% [markdown]
# The causal check: mean-ablate the pair on repeated random tokens (the means over those sequences, at each
# position) and measure the loss on the second copy, which only copying can predict. A pair of heads chosen at
# random (never the circuit's two) is the control.

# %%
tokens = repeated_random_tokens(model, seq_len=SEQ_LEN, n_seqs=20, seed=SEED)
means = head_means(model, tokens)


def second_copy_loss(heads) -> float:
    """Mean next-token loss on the second copy with ``heads`` mean-ablated."""
    logits = ablate_heads(model, tokens, heads, means) if heads else model(tokens)
    return float(next_token_losses(logits, tokens)[:, SEQ_LEN + 1:].mean())


clean_loss = second_copy_loss([])
all_heads = [(l, h) for l in range(n_layers) for h in range(n_heads)]
rng = np.random.default_rng(SEED)
controls = []
while len(controls) < RANDOM_PAIRS and len(all_heads) > 2:
    a, b = (all_heads[i] for i in rng.choice(len(all_heads), 2, replace=False))
    if pair is None or not {a, b} & set(pair):
        controls.append(second_copy_loss([a, b]))
pair_loss = second_copy_loss(pair) if pair else clean_loss
mw.record("second_copy_loss_clean", clean_loss)
mw.record("second_copy_loss_pair", pair_loss)
mw.record("second_copy_loss_random_median", float(np.median(controls)) if controls else clean_loss)
mw.record("second_copy_loss_random_max", float(np.max(controls)) if controls else clean_loss)
mw.record("pair_beats_every_random_pair", bool(controls) and pair_loss > max(controls))
mw.record("pair_fold", pair_loss / clean_loss)
mw.record("random_pair_median_fold", float(np.median(controls)) / clean_loss if controls else 1.0)
# A stricter control: pairs of "quiet" heads, neither induction heads nor previous-token heads (a random pair
# often holds one of those, and every one of them serves copying).
previous = detector_scores(model, val.to(DEVICE))["previous token"]
quiet = [(l, h) for l, h in all_heads if report.scores[l, h] < INDUCTION_HEAD and previous[l, h] < 0.5]
quiet_losses = [second_copy_loss(list(p)) for p in itertools.islice(itertools.combinations(quiet, 2), RANDOM_PAIRS)]
mw.record("quiet_pairs", len(quiet_losses))
mw.record("quiet_pair_median_fold", float(np.median(quiet_losses)) / clean_loss if quiet_losses else 1.0)
mw.record("pair_over_quiet", mw.records()["pair_fold"] / mw.records()["quiet_pair_median_fold"])
if pair:
    mw.record("circuit_pair", [head_name(*pair[0]), head_name(*pair[1])])
    mw.record("pair_k_composition", float(kcomp[pair[0][0], pair[0][1], pair[1][0], pair[1][1]]))
    mw.record("pair_sender_previous_token", float(
        wiki[(wiki.model == MODEL) & (wiki["head"] == head_name(*pair[0]))]["previous token"].iloc[0])
        if MODEL in models else 0.0)
else:
    mw.record("circuit_pair", [])
    mw.record("pair_k_composition", 0.0)
    mw.record("pair_sender_previous_token", 0.0)
mw.record("k_random_p99", float(k_random.quantile(0.99)))
mw.record("pair_k_over_random_p99", mw.records()["pair_k_composition"] / float(k_random.quantile(0.99)))
senders = ([head_name(best_layer - 1, h) for h in range(n_heads)
            if kcomp[best_layer - 1, h, best_layer, :].max() > k_random.quantile(0.99)] if best_layer > 0 else [])
mw.record("k_senders_above_p99", senders)
pd.DataFrame({"ablated": ["nothing", f"the pair {pair and [head_name(*p) for p in pair]}",
                          f"{len(controls)} random pairs (median)", "random pairs (worst)",
                          f"{len(quiet_losses)} pairs of quiet heads (median)"],
              "second-copy loss": [clean_loss, pair_loss, mw.records()["second_copy_loss_random_median"],
                                   mw.records()["second_copy_loss_random_max"],
                                   float(np.median(quiet_losses)) if quiet_losses else float("nan")]}
             ).style.format(precision=3)

# %% [markdown]
# ## 3. Head ablation on story text
#
# The loss change of mean-ablating each head of the deepest model, on all tokens and per planted capability
# (nats; positive: the head helps). Heads that are not induction heads can matter as much.

# %%
deep = SUITE[-1]
table = effects[deep]
fig, ax = plt.subplots(figsize=(9, 0.3 * len(table) + 1.5))
image = ax.imshow(table.to_numpy(), cmap="RdBu_r", vmin=-table.abs().max().max(), vmax=table.abs().max().max(),
                  aspect="auto")
ax.set_yticks(range(len(table)), table.index, fontsize=8)
ax.set_xticks(range(len(table.columns)), table.columns, rotation=40, ha="right", fontsize=8)
ax.set_title(f"{deep}: loss change when one head is mean-ablated (nats)", fontsize=10)
plt.colorbar(image, ax=ax)
plt.tight_layout()
plt.show()

# %%
deep_wiki = wiki[wiki.model == deep].set_index("head")
not_induction = deep_wiki[deep_wiki["induction (random tokens)"] < INDUCTION_HEAD]
detectors = ["previous token", "duplicate token", "induction", "BOS"]  # "local" contains "previous token"
top = not_induction.sort_values("its loss change", ascending=False).head(3)
roles = pd.DataFrame({"matters most for": top["matters most for"], "loss change there": top["its loss change"],
                      "its strongest pattern": top[detectors].idxmax(axis=1),
                      "score": top[detectors].max(axis=1), "copying": top.copying})
mw.record("top_other_head", f"{top.index[0]}" if len(top) else "none")
mw.record("top_other_head_loss_change", float(top["its loss change"].iloc[0]) if len(top) else 0.0)
mw.record("top_other_head_capability", top["matters most for"].iloc[0] if len(top) else "none")
mw.record("top_other_head_pattern", roles["its strongest pattern"].iloc[0] if len(top) else "none")
induction_here = deep_wiki[deep_wiki["induction (random tokens)"] >= INDUCTION_HEAD]
mw.record("induction_heads_matter_most_for", induction_here["matters most for"].value_counts().to_dict())
roles.style.format(precision=2)

# %% [markdown]
# ## 4. What a deeper model fixes
#
# For each step up the suite, the labelled tokens that the smaller model gets wrong (its top prediction is not
# the token) and the larger one gets right, as a share of each capability's labelled tokens, and the reverse.

# %%
def top1_right(m, batch) -> dict[str, np.ndarray]:
    """For each capability, whether the model's top prediction is each labelled token."""
    tokens, marks = batch
    predicted = m(tokens.to(DEVICE)).argmax(-1).cpu()
    out = {}
    for b, labels in enumerate(marks):
        for capability, p in labels:
            out.setdefault(capability, []).append(bool(predicted[b, p - 1] == tokens[b, p]))
    return {c: np.array(v) for c, v in out.items()}


right = {name: top1_right(m, batches[name]) for name, m in models.items()}
steps = []
for small, large in zip(SUITE[:-1], SUITE[1:]):
    if models[small].tokenizer.get_vocab() != models[large].tokenizer.get_vocab():
        continue  # different tokens: the labelled positions do not line up
    for capability in right[small]:
        a, b = right[small][capability], right[large].get(capability)
        if b is None or len(a) != len(b):
            continue
        steps.append({"step": f"{small} → {large}", "capability": capability, "tokens": len(a),
                      "fixed": float((~a & b).mean()), "broken": float((a & ~b).mean()),
                      "fixed tokens": int((~a & b).sum()), "broken tokens": int((a & ~b).sum())})
steps = pd.DataFrame(steps)
fixed = steps.pivot(index="capability", columns="step", values="fixed") if len(steps) else pd.DataFrame()
fixed.style.format("{:.0%}").set_caption("share of labelled tokens fixed by each step") if len(steps) else "no step"

# %%
if len(steps):
    by_step = steps.groupby("step", sort=False)
    mw.record("fixed_most", {step: part.loc[part.fixed.idxmax(), "capability"] for step, part in by_step})
    mw.record("fixed_share_max", float(steps.fixed.max()))
    mw.record("broken_share_max", float(steps.broken.max()))
    net = {step: round(float((part.fixed - part.broken).mean()), 3) for step, part in by_step}
    mw.record("net_fixed_by_step", net)
    mw.record("net_fixed_first_step", next(iter(net.values())))
    mw.record("fixed_tokens_by_step", {step: dict(zip(part.capability, part["fixed tokens"])) for step, part in by_step})
else:
    mw.record("fixed_most", {})
    mw.record("fixed_share_max", 0.0)
    mw.record("broken_share_max", 0.0)
    mw.record("net_fixed_by_step", {})
    mw.record("net_fixed_first_step", 0.0)
    mw.record("fixed_tokens_by_step", {})

# %% [markdown]
# One token traced: the first labelled token of the capability that the first step up the suite fixes most, which
# the smaller model gets wrong and the larger one right. We split the larger model's logit difference (the right
# token minus the smaller model's guess) into what each component writes directly (`direct_logit_attribution`), and
# look at where its strongest head attends from there.

# %%
first_step = f"{SUITE[0]} → {SUITE[1]}"
traced = None
if first_step in mw.records()["fixed_most"]:
    capability = mw.records()["fixed_most"][first_step]
    small, large = models[SUITE[0]], models[SUITE[1]]
    tokens, marks = batches[SUITE[1]]
    guess_small, guess_large = (m(tokens.to(DEVICE)).argmax(-1).cpu() for m in (small, large))
    traced = next(((b, p) for b, labels in enumerate(marks) for c, p in labels if c == capability
                   and guess_small[b, p - 1] != tokens[b, p] and guess_large[b, p - 1] == tokens[b, p]), None)
if traced:
    b, p = traced
    prompt = tokens[b: b + 1, :p].to(DEVICE)  # everything before the token
    answer, guess = int(tokens[b, p]), int(guess_small[b, p - 1])
    attribution = direct_logit_attribution(large, prompt, answer, guess)
    heads = [(name, value) for name, value in attribution.top(len(attribution.names)) if name[0] == "L" and "H" in name]
    top_head, top_value = heads[0]
    layer, head = (int(x) for x in top_head[1:].split("H"))
    _, cache = large.run_with_cache(prompt, names_filter=f"blocks.{layer}.attn.hook_pattern")
    source = int(cache[f"blocks.{layer}.attn.hook_pattern"][0, head, -1].argmax())
    row = prompt[0].tolist()
    # What the head reads: the token after an earlier copy of the current one (induction), or the answer itself.
    role = ("induction" if source >= 1 and row[source - 1] == row[-1] else
            "copies the answer" if row[source] == answer else "other")
    described = {"induction": "which follows an earlier copy of the current token: induction",
                 "copies the answer": "an earlier copy of the answer itself: the head copies it",
                 "other": "neither the answer nor the token after an earlier copy of the current token"}
    print(f"{capability}: ...{large.tokenizer.decode(row[-16:])!r} -> {large.tokenizer.decode([answer])!r} "
          f"({SUITE[1]}); {SUITE[0]} guessed {large.tokenizer.decode([guess])!r}")
    weight = float(cache[f"blocks.{layer}.attn.hook_pattern"][0, head, -1, source])
    print(f"{top_head} writes {top_value:+.2f} of the {attribution.logit:+.2f} logit difference directly, attending "
          f"{weight:.2f} to position {source} ({large.tokenizer.decode([row[source]])!r}), {described[role]}.")
    mw.record("traced_capability", capability)
    mw.record("traced_top_head", top_head)
    mw.record("traced_top_head_logit", top_value)
    mw.record("traced_logit_difference", attribution.logit)
    mw.record("traced_role", role)
    display(pd.DataFrame(attribution.top(6), columns=["component", "direct logit difference"]).style.format(precision=2))
else:
    for key, value in (("traced_capability", "none"), ("traced_top_head", "none"), ("traced_top_head_logit", 0.0),
                       ("traced_logit_difference", 0.0), ("traced_role", "none")):
        mw.record(key, value)

# %% [markdown]
# ## 5. Bugs of the small models, and which models fix them
#
# **Skip-trigram bugs** (seed 003, 1.18). A one-layer attention model predicts with skip-trigrams `a ... b -> c`:
# a head attends from `b` to an earlier `a` and its OV circuit writes what `a` pushes, whatever `b` is. So it
# pushes `c` after every `b` that attends to `a`, including tokens `c` never follows. We find such sites in
# held-out stories with the one-layer model's token-only circuits (the same ones the [model as
# code](../44_whole_model/44_whole_model.ipynb) uses): positions where the token they push most (centred logit at
# least 2) never follows the current token in 256,000 tokens of training stories. Each model's log-probability of
# that token there, minus its log-probability of the same token after the same current token where the circuits
# do not push it, is the bug's size in that model. The sites are chosen with the one-layer model, so its own number
# is inflated by the choice; the other models' are not.

# %%
bug_source = models[SUITE[0]]  # the smallest model of the suite: the one-layer model for the bundled suite
skip_rows = story_rows(bug_source.tokenizer, 16 if SMOKE else 64, row_length(bug_source), seed=SEED, split="val")
skip_train = story_rows(bug_source.tokenizer, 1000, row_length(bug_source), seed=SEED, split="train")
sites = skip_trigram_sites(bug_source, skip_rows, skip_train)
same_tokens = [n for n, m in models.items() if m.tokenizer.get_vocab() == bug_source.tokenizer.get_vocab()]
skip_bugs = pd.DataFrame({n: bug_effect(models[n], skip_rows, sites) for n in same_tokens}).T
skip_bugs = skip_bugs[skip_bugs.pairs > 0]  # a model with no (current, pushed) pair at both kinds of site has no number
source_effect = float(skip_bugs.loc[SUITE[0], "effect"]) if SUITE[0] in skip_bugs.index else 0.0
skip_bugs["share of the one-layer model's"] = skip_bugs["effect"] / source_effect if source_effect > 0 else 0.0
print(f"{len(sites.bug)} bug sites ({len(sites.bug) / skip_rows[:, 1:-1].numel():.1%} of positions) and "
      f"{len(sites.control)} controls in {len(skip_rows)} held-out rows")
skip_bugs.style.format(precision=2)

# %%
deeper = [n for n in skip_bugs.index if n != SUITE[0]]
shares = skip_bugs.loc[deeper, "share of the one-layer model's"]
mw.record("skip_bug_sites", len(sites.bug))
mw.record("skip_bug_site_share", len(sites.bug) / skip_rows[:, 1:-1].numel())
mw.record("skip_bug_effect", skip_bugs["effect"].round(3).to_dict())
mw.record("skip_bug_effect_source", source_effect)
mw.record("skip_bug_share_min", float(shares.min()) if len(shares) else 0.0)
mw.record("skip_bug_share_max", float(shares.max()) if len(shares) else 0.0)

# %% [markdown]
# **Induction bugs.** Seed 003 (1.19-1.22) lists three ways a two-layer model's induction goes wrong. We build
# prompts for each from random filler tokens, so that only copying can predict the answer, and score every model
# of the suite that has more than one layer (`mi_widgets.analysis.induction_bugs`):
#
# * **split-token induction**: a name seen earlier without a space before it, as two tokens (`"L" "ily"`), and
#   now as one (`" Lily"`). The control is the same prompt with the one-token name earlier, and a floor with a
#   random token in its place. Score: the probability of the token that followed the name.
# * **an ambiguous token**: `A` was followed once by `X` (after `P`) and once by `Y` (after `Q`); the prompt ends
#   `P A`. Score: the logit difference `X - Y`, in both orders of the two occurrences. Their mean is what the model
#   gains from the second token of context (0 for a head that matches one token); half their difference is how
#   much it prefers the earlier occurrence.
# * **stopping at punctuation**: a span of random tokens seen before and ending in `.`, `!` or `"` against one
#   ending in a word. Score: the probability that the model copies the token after the span. Whether stopping is
#   right depends on the text, so we measure it in held-out stories: how often a repeat that has matched three
#   tokens goes on, after a punctuation mark and after a word.

# %%
BUG_PROMPTS = 40 if SMOKE else 300  # prompts per condition
STOPS = [".", "!", '"']
COPIES = 0.1  # a model "copies" on these prompts if the whole-name condition gives the answer at least this
names = [n for group in COMMON_NAMES.values() for n in group]
bugs = []
for name, m in models.items():
    if m.cfg.n_layers < 2:
        continue  # a one-layer model cannot do induction: nothing to go wrong
    split = {k: float(answer_probability(m, v).mean()) for k, v in
             split_token_prompts(m, names, BUG_PROMPTS, seed=SEED).items()}
    ambiguous = {k: float(logit_difference(m, v).mean()) for k, v in
                 ambiguous_prompts(m, BUG_PROMPTS, seed=SEED).items()}
    stop = {k: float(answer_probability(m, v).mean()) for k, v in
            stop_prompts(m, STOPS, BUG_PROMPTS, seed=SEED).items()}
    bugs.append({"model": name, "copy, whole name": split["whole"], "copy, split name": split["split"],
                 "copy, floor": split["none"],
                 "second token's gain (logit)": (ambiguous["match first"] + ambiguous["match last"]) / 2,
                 "earlier occurrence's pull (logit)": (ambiguous["match first"] - ambiguous["match last"]) / 2,
                 "copy after a word": stop["word"], "copy after punctuation": stop["punctuation"]})
bugs = pd.DataFrame(bugs, columns=["model", "copy, whole name", "copy, split name", "copy, floor",
                                   "second token's gain (logit)", "earlier occurrence's pull (logit)",
                                   "copy after a word", "copy after punctuation"]).set_index("model")
stop_ids = [one_token_id(model.tokenizer, e) for e in STOPS]
text_rates = continuation_rates(story_rows(model.tokenizer, 16 if SMOKE else 128, row_length(model), seed=SEED,
                                           split="val"), stop_ids)
bugs.style.format(precision=3)

# %%
print(f"In held-out stories, a repeat that has matched three tokens goes on {text_rates['word']:.0%} of the time "
      f"after a word ({text_rates['n word']} cases) and {text_rates['punctuation']:.0%} after a punctuation mark "
      f"({text_rates['n punctuation']} cases).")
stop_ratio = bugs["copy after punctuation"] / bugs["copy after a word"]
two = [n for n in bugs.index if models[n].cfg.n_layers == 2]  # the two-layer models, where the bugs were named
mw.record("bug_models", bugs.index.tolist())
mw.record("split_copy_whole", bugs["copy, whole name"].round(4).to_dict())
mw.record("split_copy_split", bugs["copy, split name"].round(4).to_dict())
mw.record("split_copy_floor", bugs["copy, floor"].round(4).to_dict())
mw.record("ambiguous_second_token_gain", bugs["second token's gain (logit)"].round(3).to_dict())
mw.record("ambiguous_earlier_pull", bugs["earlier occurrence's pull (logit)"].round(3).to_dict())
mw.record("stop_ratio", stop_ratio.round(3).to_dict())
mw.record("split_whole_min_2l", float(bugs.loc[two, "copy, whole name"].min()) if two else 0.0)
mw.record("split_split_max_2l", float(bugs.loc[two, "copy, split name"].max()) if two else 0.0)
mw.record("ambiguous_gain_min_2l", float(bugs.loc[two, "second token's gain (logit)"].min()) if two else 0.0)
mw.record("ambiguous_gain_max", float(bugs["second token's gain (logit)"].max()) if len(bugs) else 0.0)
mw.record("stop_ratio_min", float(stop_ratio.min()) if len(bugs) else 0.0)
mw.record("text_continue_after_word", text_rates["word"])
mw.record("text_continue_after_punctuation", text_rates["punctuation"])
mw.record("text_ratio", text_rates["punctuation"] / text_rates["word"])

# %% [markdown]
# ## What we found

# %% tags=["hide-input"]
r = mw.records()
if not r["trained"] or not r["suite_trained"]:
    found = [mw.untrained_finding(MODEL, model_loss, model.cfg.d_vocab, "its heads")]
else:
    heads_text = "; ".join(f"{name}: {', '.join(h)}" for name, h in r["induction_heads"].items()) or "none"
    found = [
        f"The wiki has {len(wiki)} heads. Induction heads (random-token score at least {INDUCTION_HEAD}): {heads_text}; "
        f"{r['induction_heads_in_layer_0']} of them in layer 0, where a head cannot know what came before a key. "
        + (f"For the {r['cards_checked']} models with cards, the wiki's top induction heads "
           + ("are the cards'." if r["cards_agree"] else "differ from the cards'.") if r["cards_checked"] else ""),
        f"Their OV circuits copy (copying score at least {r['induction_heads_copying_min']:.2f}); the other heads' "
        f"median is {r['other_heads_copying_median']:.2f}. The strongest previous-token head is "
        f"{r['previous_token_best_head']} ({r['previous_token_best']:.2f} of its attention on the token before).",
    ]
    if r["circuit_pair"]:
        found.append(
            f"The induction circuit of {MODEL}: {r['circuit_pair'][0]} K-composes with the best induction head "
            f"{r['circuit_pair'][1]} at {r['pair_k_composition']:.3f}, against {r['k_random_p99']:.3f} for the 99th "
            f"percentile of random heads; the sender puts {r['pair_sender_previous_token']:.2f} of its attention on the "
            f"previous token. Mean-ablating the pair raises the second-copy loss from {r['second_copy_loss_clean']:.2f} "
            f"to {r['second_copy_loss_pair']:.2f} nats; random pairs raise it to {r['second_copy_loss_random_median']:.2f} "
            f"(median) and at most {r['second_copy_loss_random_max']:.2f}"
            + (", so the pair matters more than any random pair." if r["pair_beats_every_random_pair"] else
               ": some random pair hurts as much, so the pair is not the whole story.")
            + f" As ratios to the clean loss: the pair {r['pair_fold']:.0f}-fold, a random pair "
            f"{r['random_pair_median_fold']:.1f}-fold (median: a random pair usually holds one of the other copying "
            f"heads), a pair of heads that neither copy nor read the previous token "
            f"{r['quiet_pair_median_fold']:.1f}-fold ({r['quiet_pairs']} pairs). The heads whose K-composition into "
            f"the induction layer beats the 99th percentile are {', '.join(r['k_senders_above_p99']) or 'none'}: "
            "the circuit is wider than one pair.")
    found.append(
        f"On story text in {deep}, the head outside the induction heads that matters most is {r['top_other_head']} "
        f"(its strongest pattern: {r['top_other_head_pattern']}): ablating it costs {r['top_other_head_loss_change']:.2f} "
        f"nats on {r['top_other_head_capability']} tokens. The induction heads matter most for "
        + ", ".join(f"{c} ({n})" for c, n in r["induction_heads_matter_most_for"].items()) + ".")
    if r["fixed_most"]:
        found.append("Each step up the suite fixes most on: " + "; ".join(f"{s}: {c}" for s, c in r["fixed_most"].items())
                     + f" (up to {r['fixed_share_max']:.0%} of a capability's tokens fixed, and up to "
                     f"{r['broken_share_max']:.0%} broken).")
    if r["traced_capability"] != "none":
        roles = {"induction": "attends to the token after an earlier copy of the current token: an induction head",
                 "copies the answer": "attends to an earlier copy of the answer and copies it",
                 "other": "attends to neither the answer nor the token after an earlier copy of the current token"}
        found.append(
            f"One token of {r['traced_capability']}, fixed by the step {SUITE[0]} → {SUITE[1]}, traced: "
            f"{r['traced_top_head']} writes {r['traced_top_head_logit']:+.2f} logits directly toward the right token "
            f"over {SUITE[0]}'s guess (the whole difference is {r['traced_logit_difference']:+.2f}: other components "
            f"push back), and it {roles[r['traced_role']]}.")
    if r["skip_bug_effect_source"] > 0 and len(r["skip_bug_effect"]) > 1:
        effect = r["skip_bug_effect"]
        found.append(
            f"Skip-trigram bugs: at {r['skip_bug_site_share']:.1%} of held-out positions the one-layer model's circuits "
            "push a token that never follows the current token in the training text. There, the log-probability of "
            "that token is raised (against the same token after the same current token, unpushed) by "
            + ", ".join(f"{effect[n]:.1f} nats ({n})" for n in effect) + f". The deeper models keep "
            f"{r['skip_bug_share_min']:.0%} to {r['skip_bug_share_max']:.0%} of the one-layer model's bug: "
            + ("they fix it." if r["skip_bug_share_max"] < 0.1 else "they do not fix it." if r["skip_bug_share_min"] > 0.9
               else "they fix part of it, not all."))
    if r["bug_models"]:
        whole, split, floor = r["split_copy_whole"], r["split_copy_split"], r["split_copy_floor"]
        copies = [n for n in r["bug_models"] if whole[n] >= COPIES]
        fixed = [n for n in copies if split[n] >= whole[n] / 2]
        found.append(
            "Split-token induction: the token after a name is copied with probability "
            + ", ".join(f"{whole[n]:.2f} ({n})" for n in r["bug_models"]) + " when the name was one token earlier, "
            + ", ".join(f"{split[n]:.3f}" for n in r["bug_models"]) + " when it was two (floor, no name earlier: "
            + ", ".join(f"{floor[n]:.3f}" for n in r["bug_models"]) + "). "
            + (f"{', '.join(fixed)} recover{'s' * (len(fixed) == 1)} at least half of it." if fixed else
               "No model recovers half of it: the bug stands in every model that copies here.")
            + (f" {', '.join(n for n in r['bug_models'] if n not in copies)} hardly cop"
               f"{'ies' if len(r['bug_models']) - len(copies) == 1 else 'y'} after a name on these prompts at all "
               f"(below {COPIES}), so the test says nothing about {'it' if len(r['bug_models']) - len(copies) == 1 else 'them'}."
               if len(copies) < len(r["bug_models"]) else ""))
        gain, pull = r["ambiguous_second_token_gain"], r["ambiguous_earlier_pull"]
        found.append(
            "An ambiguous token (followed once by X after P, once by Y after Q; the prompt ends P A): the second token "
            "of context is worth " + ", ".join(f"{gain[n]:+.2f}" for n in r["bug_models"]) + " logits toward X "
            "(same order of models; 0: it matches one token only), and the earlier occurrence pulls by "
            + ", ".join(f"{pull[n]:+.2f}" for n in r["bug_models"]) + " whichever it is.")
        ratio = r["stop_ratio"]
        found.append(
            f"Stopping at punctuation: in held-out stories a repeat goes on {r['text_continue_after_punctuation']:.0%} "
            f"of the time after a punctuation mark and {r['text_continue_after_word']:.0%} after a word (ratio "
            f"{r['text_ratio']:.2f}). The models copy past a punctuation mark "
            + ", ".join(f"{ratio[n]:.2f}" for n in r["bug_models"]) + " times as often as past a word: "
            + ("they stop less than the text does, and no deeper model closes the gap." if
               r["stop_ratio_min"] > 1.5 * r["text_ratio"] else "about as much as the text does."))
mw.findings(*found)

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to write one of this chapter's scores. The check under it runs your function on inputs
# from the bundled 2-layer attention-only model and says PASSED, FAILED with what is wrong, or "not attempted"
# while your stub is untouched. In the learner notebook the solutions are stubs that return None.
#
# ```{exercise} The induction (prefix-matching) score
# :label: ex-heads-induction
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 10 min
#
# `pattern` is one layer's attention [batch, head, pos, pos] on BOS followed by `seq_len` random tokens shown
# twice. Return each head's mean attention, over the second copy's positions, to the token right after the
# current token's earlier occurrence: a tensor [head].
# ```
#
# <details><summary>Hint</summary>
#
# The second copy is at positions `seq_len + 1 .. 2 * seq_len`; the earlier occurrence of position `q` is at
# `q - seq_len`, and the token after it at `q - seq_len + 1`.
#
# </details>

# %%
def prefix_matching_score(pattern, seq_len):
    """Mean attention from the second copy to the token after the earlier copy: [head]."""
    # BEGIN SOLUTION (stub: return None)
    dest = torch.arange(seq_len + 1, 2 * seq_len + 1)
    return pattern[:, :, dest, dest - seq_len + 1].mean(dim=(0, 2))
    # END SOLUTION


# %%
exercises.check_prefix_matching_score(prefix_matching_score, strict=STRICT)

# %% [markdown]
# ```{exercise} A duplicate-token score
# :label: ex-heads-duplicate
#
# **Difficulty** 2/5 · **Importance** 3/5 · **Time** 15 min
#
# From `pattern` [batch, head, pos, pos] and `tokens` [batch, pos], return each head's mean attention mass on
# earlier copies of the current token, averaged over the queries that have at least one earlier copy: [head].
# ```
#
# <details><summary>Hint</summary>
#
# `tokens[:, :, None] == tokens[:, None, :]` compares every query with every key; keep only keys before the query.
#
# </details>

# %%
def duplicate_token_score(pattern, tokens):
    """Mean attention on earlier copies, over the queries that have one: [head]."""
    # BEGIN SOLUTION (stub: return None)
    n = tokens.shape[1]
    earlier = torch.arange(n)[None, :] < torch.arange(n)[:, None]
    mask = (tokens[:, :, None] == tokens[:, None, :]) & earlier
    applies = mask.any(-1)
    mass = (pattern * mask[:, None]).sum(-1)
    return (mass * applies[:, None]).sum((0, 2)) / applies.sum()
    # END SOLUTION


# %%
exercises.check_duplicate_token_score(duplicate_token_score, strict=STRICT)

# %% [markdown]
# ```{exercise} A K-composition score
# :label: ex-heads-kcomp
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 10 min
#
# Given a sender's `W_V` [d_model, d_head] and `W_O` [d_head, d_model] and a receiver's `W_Q` and `W_K`
# [d_model, d_head], return the K-composition score `||W_OV W_QK^T|| / (||W_OV|| ||W_QK^T||)` with Frobenius
# norms, `W_OV = W_V W_O` and `W_QK = W_Q W_K^T` (a 0-dimensional tensor).
# ```
#
# <details><summary>Hint</summary>
#
# `torch.linalg.norm` of a matrix (or `.norm()`) is the Frobenius norm.
#
# </details>

# %%
def k_composition(w_v, w_o, w_q, w_k):
    """K-composition of a sender (OV) into a receiver's keys (0-dim tensor)."""
    # BEGIN SOLUTION (stub: return None)
    ov, qk_t = w_v @ w_o, (w_q @ w_k.T).T
    return (ov @ qk_t).norm() / (ov.norm() * qk_t.norm())
    # END SOLUTION


# %%
exercises.check_k_composition(k_composition, strict=STRICT)

# %% [markdown]
# ```{exercise} Mean-ablate one head
# :label: ex-heads-ablate
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 15 min
#
# Return the logits of `tokens` with head `head` of layer `layer` mean-ablated: its output (`hook_z`) replaced by
# its mean over the batch, at each position, every other head untouched.
# ```
#
# <details><summary>Hint</summary>
#
# Cache `blocks.{layer}.attn.hook_z` first; its mean over dimension 0 is [pos, head, d_head].
#
# </details>

# %%
def mean_ablate_head(model, tokens, layer, head):
    """Logits [batch, pos, d_vocab] with one head mean-ablated."""
    # BEGIN SOLUTION (stub: return None)
    name = f"blocks.{layer}.attn.hook_z"
    _, cache = model.run_with_cache(tokens, names_filter=name)
    mean = cache[name].mean(0)

    def hook(z, hook):
        z[:, :, head] = mean[:, head]
        return z

    return model.run_with_hooks(tokens, fwd_hooks=[(name, hook)])
    # END SOLUTION


# %%
exercises.check_mean_ablate_head(mean_ablate_head, strict=STRICT)

# %% [markdown]
# ## Going further
#
# * **Who carries a bug in a deeper model?** The deeper models keep part of the one-layer model's skip-trigram
#   bugs. Ablate their heads one at a time at the bug sites of section 5: is it a layer-0 head doing what the
#   one-layer model's heads do, and which later component cancels the rest?
# * **Copying after a name.** The 4-layer model hardly copies the token after a name in random filler, where the
#   two-layer models do. Is that a prior (a name is followed by a verb) that wins over copying, or does its
#   induction need more matching context? Lengthen the match before the name and see.
# * **Split tokens in the data.** How often does a name occur split (after a quote) and then whole in our stories?
#   If rarely, the split-token bug costs little loss, which is why no model fixed it.
# * **Composition into later layers.** Section 2 looks at adjacent layers only; in the 4-layer model, which
#   layer-2 and layer-3 heads compose with the induction heads, and through which matrix?
# * **The wiki on a hub model.** Run with `SUITE = ["tiny-stories-1M"]` when online and compare its heads'
#   detector profile with ours.
#
# ## References
#
# * Elhage, Nanda, Olsson et al. (2021). A Mathematical Framework for Transformer Circuits. transformer-circuits.pub.
# * Olsson, Elhage, Nanda et al. (2022). In-context Learning and Induction Heads. transformer-circuits.pub.
# * Nanda (2022). 200 Concrete Open Problems in Mechanistic Interpretability (seed 003), sections 1 and 6.
