# %% [markdown]
# # The model whole: the first positions, and the model as code
#
# > **You will learn to** split a prediction exactly into every head, MLP and transcoder feature; read a bigram
# > table out of a model's first position; and write a model's heuristics as code, scored against the model.
# >
# > **You need:** [Start here](../00_start/00_start.ipynb) (direct logit attribution, induction heads);
# > [The model organisms](../01_models/01_models.ipynb) (the planted capabilities);
# > [Patching](../41_patching/41_patching.ipynb) for the indirect-object circuit.
# >
# > **Time:** about 90 min to study and do the exercises; the full run takes about 1.7 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** Seed 001 asks two questions that planted stories make unusually answerable. Lee: can we
# understand the *first* position of a small transformer, where it has seen one token? Lucius: can we understand
# a toy language model *completely*, writing every n-gram, induction head and other heuristic found in it as
# plain code, and see how close that code comes to the model? (Stefan's "understand a small model from start to
# end" is the same aim.) Our stories were generated from templates with labelled capabilities, so for every token
# we know which capability it exercises, and can say how much of the model's skill each written-down rule accounts
# for, and where the code still falls short.
#
# The plan:
#
# 1. **the first position**: after `[BOS, t]` a model sees one token, since BOS is the same in every row: what
#    it predicts there is a bigram table written by its weights. We split that prediction exactly into the
#    embeddings, each head (what it reads from BOS, a fixed bias, and from `t`), each MLP, and each MLP's
#    [transcoder](../glossary.md#g-dictionary) features, and count the pieces that carry 90% of it;
# 2. **the first two positions**, the same for `[BOS, a, b]`;
# 3. **the model as code** (`mi_widgets.analysis.model_as_code`): a predictor made of rules, each citing its
#    evidence, scored on held-out stories beside the model after each rule is added;
# 4. where the code and the model disagree most.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-4l"  # any model (bundled or a TransformerLens name); the 4-layer one ships transcoders
DEVICE = "cpu"  # "cuda" on a GPU machine

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.analysis.first_position import decompose_prediction
from mi_widgets.analysis.model_as_code import (CodePredictor, NgramTables, SkipTrigrams, default_rules,
                                               embedding_bigram)
from mi_widgets.dictionaries.shipped import bundled_dictionaries
from mi_widgets.heads import attention_to, induction_report
from mi_widgets.logprobs import is_trained, text_scores
from mi_widgets.organisms.corpus import capability_tokens, row_length, story_rows, story_tokens
from mi_widgets.organisms.stories import CAPABILITIES, generate_stories

torch.manual_seed(SEED)
torch.set_grad_enabled(False)  # nothing here trains a network; the rules' weights turn gradients on for themselves
SHARE = 0.9  # a prediction is "carried" by the fewest components that reach this share of it
N_FIRST = 4 if SMOKE else 20  # most common tokens explained at position 1 (and pairs at position 2)
TRAIN_TOKENS = 40_000 if SMOKE else 400_000  # training-story tokens for unigram counts and frequent pairs
TRIGRAM_PAIRS = 300 if SMOKE else 2000  # pairs whose two-token prediction the code keeps (others back off)
FIT_STORIES = 4 if SMOKE else 32  # training stories the rules' weights are fitted on
TEST_STORIES = 8 if SMOKE else 200  # held-out (test split) stories everything is scored on
FIT_TOKENS = 128 if SMOKE else 256  # each fitting story is cut to this many tokens (test stories: the context)
FIT_STEPS = 50  # L-BFGS iterations for the rules' weights
BIG_VOCAB = 8192  # in smoke mode, a model with a larger vocabulary fits on less (every rule is [pos, d_vocab])
READS = 0.15  # a head "reads" a source position if its mean attention there is at least this
ONE_LAYER = "stories-attn-1l"  # whose heads give the skip-trigrams (another tokenizer: MODEL's own first layer)

model = mw.load_model(MODEL, device=DEVICE)
tokenizer, bos, d_vocab = model.tokenizer, model.tokenizer.bos_token_id, model.cfg.d_vocab
if SMOKE and d_vocab > BIG_VOCAB:  # a quick look at a hub model: the fits cost d_vocab per position
    FIT_STORIES, FIT_TOKENS, FIT_STEPS = 2, 64, 15
n_ctx = row_length(model)
rows = story_rows(tokenizer, 8, n_ctx, seed=SEED + 40, split="val")
model_loss = float(model(rows.to(DEVICE), return_type="loss"))
mw.record("trained", is_trained(model_loss, d_vocab))
train_tokens = story_tokens(tokenizer, TRAIN_TOKENS, seed=SEED, split="train")
shipped = set(bundled_dictionaries(model.bundled_name)) if getattr(model, "bundled_name", None) else set()
# The shipped transcoders where there are some; else the same recipe trained on MODEL (all layers, or the first
# two in smoke mode, to stay quick on a deep model).
tc_layers = [] if model.cfg.attn_only else [
    layer for layer in range(model.cfg.n_layers) if f"mlp{layer}-tc" in shipped or not SMOKE or layer < 2]
transcoders = {layer: mw.dictionary_for(model, f"mlp{layer}-tc", smoke=SMOKE) for layer in tc_layers}
print(f"{MODEL}: held-out loss {model_loss:.3f} nats; transcoders on the MLPs of layers {tc_layers}")


def text(ids) -> str:
    return repr(tokenizer.decode([int(i) for i in np.atleast_1d(ids)]))


# %% [markdown]
# ## 1. The first position
#
# Training rows start with BOS and then cut into the token stream anywhere, so position 1 is trained on every
# token, and the prediction there can use nothing but that token: it is the model's **bigram table**. We explain
# it for the most common tokens (those the model sees at position 1 most often). For each we take the model's
# top prediction and split its [centred logit](../glossary.md#g-centred-logit) (the logit minus the mean logit
# over the vocabulary; a raw logit has an arbitrary offset) into every component's share, reading each one
# through the final LayerNorm with its scale frozen, as [direct logit attribution](../glossary.md#g-dla) does.
# A head's output at position 1 is its attention to BOS times BOS's value, plus its attention to the token times
# the token's value: the first part is a bias, the same for every token up to that weight. So each head is split
# by source (`from BOS`, `from pos 1`). With the transcoders, each MLP is split further into its active features,
# its skip path, its bias and its error term.

# %%
counts = np.bincount(train_tokens, minlength=d_vocab)
counts[bos] = 0
first_tokens = [int(t) for t in np.argsort(-counts, kind="stable")[:N_FIRST]]
coarse = [decompose_prediction(model, [bos, t]) for t in first_tokens]
fine = [decompose_prediction(model, [bos, t], transcoders) for t in first_tokens]


def source_share(d, source: str) -> float:
    """Share of the centred logit that heads write from one source position."""
    return float(sum(v for n, v in zip(d.names, d.values) if n.endswith(f"from {source}")) / d.logit)


def explained(decompositions) -> pd.DataFrame:
    """One row per prompt: its prediction, how many pieces carry it, and who writes how much (shares of the logit)."""
    rows_ = []
    for prompt, d, f in decompositions:
        groups = d.grouped()
        rows_.append({"context": text(prompt[1:]), "prediction": text(d.token), "centred logit": d.logit,
                      "components": len(d.names), f"for {SHARE:.0%}": d.needed(SHARE),
                      "with features": len(f.names), f"features for {SHARE:.0%}": f.needed(SHARE),
                      **{k: v / d.logit for k, v in groups.items()},
                      "heads from BOS": source_share(d, "BOS")})
    return pd.DataFrame(rows_)


first = explained(zip([[bos, t] for t in first_tokens], coarse, fine))
mlp_groups = [c for c in first.columns if c.endswith(" MLP")]
share_columns = ["embeddings", "attention", *mlp_groups, "heads from BOS"]
counts_columns = ["context", "prediction", "centred logit", f"for {SHARE:.0%}", f"features for {SHARE:.0%}"]
display(first[counts_columns].style.format(precision=2).hide(axis="index").set_caption(
    f"pieces that carry {SHARE:.0%} of the prediction, of {len(coarse[0].names)} components "
    f"(with the MLPs split into transcoder features: about {int(first['with features'].median())})"))
first[share_columns].median().to_frame("median share of the centred logit").style.format("{:.0%}")

# %%
fig, ax = plt.subplots(figsize=(9, 0.28 * len(first) + 1.2))
groups = ["embeddings", "attention", *mlp_groups]
left_pos, left_neg = np.zeros(len(first)), np.zeros(len(first))
for group, colour in zip(groups, plt.cm.tab10.colors):
    values = first[group].to_numpy() * first["centred logit"].to_numpy()
    start = np.where(values >= 0, left_pos, left_neg)
    ax.barh(range(len(first)), values, left=start, color=colour, label=group, height=0.7)
    left_pos += np.clip(values, 0, None)
    left_neg += np.clip(values, None, 0)
ax.set_yticks(range(len(first)), [f"{c} → {p}" for c, p in zip(first.context, first.prediction)], fontsize=8)
ax.invert_yaxis()
ax.axvline(0, color="k", lw=0.5)
ax.set_xlabel("contribution to the centred logit of the top prediction (logits)")
ax.set_title(f"{MODEL} at position 1: who writes the bigram")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
plt.tight_layout()
plt.show()

# %%
mw.record("first_check_sum_max", max(max(d.check_sum for d in coarse), max(f.check_sum for f in fine)))
mw.record("first_components", len(coarse[0].names))
mw.record("first_components_90_median", float(first[f"for {SHARE:.0%}"].median()))
mw.record("first_features_90_median", float(first[f"features for {SHARE:.0%}"].median()))
mw.record("first_units_with_features", float(first["with features"].median()))
biggest = first[mlp_groups + ["embeddings", "attention"]].median().idxmax() if len(first) else "none"
mw.record("first_largest_group", biggest)
mw.record("first_mlp0_largest", biggest == "L0 MLP")
mw.record("first_largest_group_share_median", float(first[biggest].median()))
mw.record("first_embeddings_share_median", float(first["embeddings"].median()))
mw.record("first_bos_share_median", float(first["heads from BOS"].median()))
top_name = pd.Series([d.top(1)[0][0] for d in coarse]).value_counts()
print("the largest single component:", ", ".join(f"{name} for {n} of {len(coarse)} tokens" for name, n in top_name.items()))

# %% [markdown]
# How to read it: the embeddings' direct path (`embed`, `pos_embed` read straight through the unembedding) is the
# simplest bigram a model could hold, so compare its share with the MLPs'. The BOS rows are the heads' fixed
# biases. Splitting the MLPs into transcoder features usually makes the count larger, not smaller: an MLP that is
# one component here is a sum of a dozen or more active features. The findings at the end say what the numbers
# show.

# %% [markdown]
# ## 2. The first two positions
#
# At position 2 the model has seen two tokens, and a head can move the first one forward. We take the most
# common pairs of the training stories and split the prediction after `[BOS, a, b]` the same way. The heads'
# rows `from pos 1` are what the model takes from the *first* token `a`: how much does the earlier token matter?

# %%
pairs = pd.Series(list(zip(train_tokens[:-1].tolist(), train_tokens[1:].tolist())))
pairs = [p for p in pairs.value_counts().index if bos not in p][:N_FIRST]
second_prompts = [[bos, a, b] for a, b in pairs]
coarse2 = [decompose_prediction(model, p) for p in second_prompts]
fine2 = [decompose_prediction(model, p, transcoders) for p in second_prompts]
second = explained(zip(second_prompts, coarse2, fine2))
second["heads from pos 1"] = [source_share(d, "pos 1") for d in coarse2]
bigram_agrees = [int(decompose_prediction(model, [bos, b]).token == d.token) for (a, b), d in zip(pairs, coarse2)]
second["same as after b alone"] = bigram_agrees
second[counts_columns + ["heads from pos 1", "same as after b alone"]].style.format(precision=2).hide(axis="index")

# %%
mw.record("second_check_sum_max", max(max(d.check_sum for d in coarse2), max(f.check_sum for f in fine2)))
mw.record("second_components_90_median", float(second[f"for {SHARE:.0%}"].median()))
mw.record("second_features_90_median", float(second[f"features for {SHARE:.0%}"].median()))
mw.record("second_first_token_share_median", float(second["heads from pos 1"].median()))
mw.record("second_same_as_bigram", float(np.mean(bigram_agrees)))

# %% [markdown]
# ## 3. The model as code
#
# Now the whole model, one rule at a time. The predictor lives in `mi_widgets.analysis.model_as_code`, one short
# module to read. Its base is an n-gram table read from the model itself, the predictions of sections 1 and 2
# (`bigram[t]` is the model after `[BOS, t]`; `trigram[a, b]` after `[BOS, a, b]`, for the most frequent pairs).
# Unigram counts from training stories are the baseline. Rules are added on top as features with one fitted
# weight each (a [product of experts](../glossary.md#g-product-of-experts)), except induction, which copies (with a fitted probability per case, as a
# pointer network does): a copy can name a token the tables think impossible, such as the rest of a name never
# seen in training. The weights are fitted on training stories; everything is scored on held-out test stories,
# whose names and some of whose indirect-object templates the model never saw.

# %%
def labelled(split: str, n: int, seed: int, keep: int = n_ctx) -> list[tuple[torch.Tensor, list[tuple[str, int]]]]:
    """Stories as token rows (BOS first, cut to ``keep`` tokens) with their (capability, position) labels."""
    out, keep = [], min(keep, n_ctx)
    for story in itertools.islice(generate_stories(seed=seed, split=split), n):
        ids, marks = capability_tokens(tokenizer, story)
        out.append((torch.tensor(ids[:keep]), [(c, p) for c, p in marks if p < keep]))
    return out


fit_rows = [r for r, _ in labelled("train", FIT_STORIES, SEED + 1, keep=FIT_TOKENS)]
test = labelled("test", TEST_STORIES, SEED)
test_rows = [r for r, _ in test]
one_layer = mw.load_model(ONE_LAYER, device=DEVICE)
if one_layer.tokenizer.get_vocab() != tokenizer.get_vocab():  # its tables speak other tokens: read MODEL's first layer
    one_layer = model
tables = NgramTables(model, train_tokens, n_pairs=TRIGRAM_PAIRS)
rules = default_rules(model, one_layer)
model_lp = [s.logprobs for s in text_scores(model, [r.tolist() for r in test_rows])]


def losses(logprobs: list[torch.Tensor]) -> dict[str, float]:
    """Mean loss over all test tokens and over each capability's labelled tokens."""
    out = {"all tokens": float(-torch.cat(logprobs).mean())}
    for capability in CAPABILITIES:
        picked = [-lp[p - 1] for (_, marks), lp in zip(test, logprobs) for c, p in marks if c == capability]
        if picked:
            out[capability] = float(torch.stack(picked).mean())
    return out


stages = [("unigram", 1, 0), ("bigram", 2, 0), ("trigram", 3, 0)] + [(r.name, 3, k + 1) for k, r in enumerate(rules)]
scores, predictors, row_of = {}, {}, {}
for name, order, k in stages:
    code = CodePredictor(tables, order, rules[:k]).fit(fit_rows, steps=FIT_STEPS)
    predictors[name], row_of[name] = code, ("+ " if k else "") + name  # a rule's row keeps the rules above it
    scores[row_of[name]] = losses([code.next_token_logprobs(r) for r in test_rows])
scores["model"] = losses(model_lp)
direct = [embedding_bigram(model, r[:-1].tolist()).gather(1, r[1:, None])[:, 0] for r in test_rows]
scores["(direct-path bigram)"] = losses(direct)
board = pd.DataFrame(scores).T  # rows: stages and the model; columns: all tokens and each capability

fig, ax = plt.subplots(figsize=(8, 3.2))
steps = [row_of[name] for name, _, _ in stages]
ax.plot(range(len(steps)), board.loc[steps, "all tokens"], "o-", label="the code, after each rule")
ax.axhline(board.loc["model", "all tokens"], color="k", ls="--", label=f"{MODEL}")
ax.set_xticks(range(len(steps)), steps, rotation=30, ha="right", fontsize=8)
ax.set_ylabel("loss on held-out stories (nats)")
ax.set_title("the model as code, one rule at a time")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Each step keeps the rules before it, and the weights are refitted each time. Per planted capability (the loss
# on its labelled tokens), with the share of the model's advantage over unigrams that the code recovers; the
# last column is the bigram of the embeddings' direct path alone (section 1's `embed` rows):

# %%
final_row = row_of[rules[-1].name]
by_cap = pd.DataFrame({"unigram": board.loc["unigram"], "trigram": board.loc["trigram"], "code": board.loc[final_row],
                       "model": board.loc["model"],
                       "recovered": (board.loc["unigram"] - board.loc[final_row]) / (board.loc["unigram"] - board.loc["model"]),
                       "direct-path bigram": board.loc["(direct-path bigram)"]})
by_cap.style.format(precision=2).format("{:.0%}", subset=["recovered"])

# %%
final = predictors[rules[-1].name]
weights = pd.DataFrame(final.weight_table(), columns=["feature", "kind", "value"]).set_index("feature")
evidence = []
for rule in rules:
    row = {"rule": rule.name, "evidence": rule.evidence}
    if hasattr(rule, "sources"):
        picks = [(i, d, s) for i, r in enumerate(test_rows) for d, s in rule.sources(r)]
        if picks:
            attention = attention_to(model, test_rows, picks)
            layer, head = divmod(int(attention.argmax()), model.cfg.n_heads)
            row.update({"fires": len(picks), "head": f"L{layer}H{head}", "its attention": float(attention.max()),
                        "mean head": float(attention.mean()),
                        "uniform": float(np.mean([1 / (d + 1) for _, d, _ in picks]))})
    evidence.append(row)
evidence = pd.DataFrame(evidence).set_index("rule")
display(weights.style.format(precision=2))
evidence.style.format(precision=2, na_rep="").format("{:.0f}", subset=["fires"], na_rep="")

# %% [markdown]
# For each rule with a source position (the earlier copy it reads, or the opening quote), the head that attends
# from where the rule fires to that source most strongly, against the mean head and a uniform pattern. For the
# skip-trigrams the evidence is the one-layer model's circuits themselves; the strongest triples in the test
# stories:

# %%
skip = next(r for r in rules if isinstance(r, SkipTrigrams))
triples = pd.DataFrame([(text(a), text(b), text(c), v) for a, b, c, v in skip.top_triples(test_rows[:4], n=8)],
                       columns=["a (attended to)", "b (current)", "c (pushed up)", "logit"]).style.format(precision=2)
report = induction_report(model)
print("best induction heads (layer.head, score):", report.top_heads(3))
triples

# %%
loss_of = board["all tokens"]
rule_names = [r.name for r in rules]
mw.record("code_loss", {name: round(float(v), 4) for name, v in loss_of.items()})
mw.record("unigram_loss", float(loss_of["unigram"]))
mw.record("trigram_loss", float(loss_of["trigram"]))
mw.record("code_loss_final", float(loss_of[row_of[rule_names[-1]]]))
mw.record("code_gap", float(loss_of[row_of[rule_names[-1]]] - loss_of["model"]))
mw.record("model_test_loss", float(loss_of["model"]))
mw.record("direct_bigram_loss", float(loss_of["(direct-path bigram)"]))
mw.record("ngram_losses_fall", bool(loss_of["unigram"] > loss_of["bigram"] > loss_of["trigram"]))
gains = {name: float(loss_of[row_of[prev]] - loss_of[row_of[name]]) for prev, name in zip(["trigram", *rule_names], rule_names)}
mw.record("rule_gains", {k: round(v, 4) for k, v in gains.items()})
mw.record("rules_helping", int(sum(g > 0 for g in gains.values())))
mw.record("rules_gain", float(loss_of["trigram"] - loss_of[row_of[rule_names[-1]]]))


def recovered(column: str, start: str = "unigram") -> float:
    """Share of the model's advantage over ``start`` that the code recovers, on one column."""
    top, code = board.loc[start, column], board.loc[row_of[rule_names[-1]], column]
    return float((top - code) / (top - board.loc["model", column]))


mw.record("advantage_recovered", recovered("all tokens"))
mw.record("beyond_trigram_recovered", recovered("all tokens", "trigram"))
by_capability = {c: round(recovered(c), 3) for c in board.columns if c != "all tokens"}
mw.record("advantage_recovered_by_capability", by_capability)
mw.record("ioi_recovered", by_capability.get("ioi", float("nan")))
code_beats = [c for c in board.columns if c != "all tokens" and board.loc[row_of[rule_names[-1]], c] < board.loc["model", c]]
mw.record("capabilities_code_beats_model", code_beats)
mw.record("rule_weights", {label: round(float(v), 3) for label, v in weights["value"].items()})
mw.record("pronoun_weight", float(weights.loc["pronoun agreement", "value"]))
mw.record("same_word_copy_probability", float(weights.loc["copy after a 1-token match, same word", "value"]))
induction_heads = [name for name, _ in report.top_heads(3)]
if "head" in evidence.columns and pd.notna(evidence.loc["induction", "head"]):
    mw.record("copy_head_is_induction_head",
              evidence.loc["induction", "head"].replace("L", "").replace("H", ".") in induction_heads)
for rule in ("repeated names", "quote closing", "indirect object"):
    key = rule.replace(" ", "_")
    fired = "head" in evidence.columns and pd.notna(evidence.loc[rule, "head"])  # the rule fired in the test stories
    mw.record(f"evidence_{key}_head", evidence.loc[rule, "head"] if fired else "none")
    mw.record(f"evidence_{key}_attention", float(evidence.loc[rule, "its attention"]) if fired else 0.0)
    mw.record(f"evidence_{key}_over_uniform",
              float(evidence.loc[rule, "its attention"] / evidence.loc[rule, "uniform"]) if fired else 0.0)

# %% [markdown]
# ## 4. Where the code and the model disagree
#
# The held-out tokens where the model gives the right token the most log-probability over the code: what the
# code still lacks.

# %%
final_lp = [final.next_token_logprobs(r) for r in test_rows]
gaps = []
for i, (row, m_lp, c_lp) in enumerate(zip(test_rows, model_lp, final_lp)):
    labels = {p: c for c, p in test[i][1]}
    for p in range(len(c_lp)):
        gaps.append({"gap (nats)": float(m_lp[p] - c_lp[p]), "context": tokenizer.decode(row[max(0, p - 7): p + 1]),
                     "next": text(row[p + 1]), "capability": labels.get(p + 1, ""),
                     "model": float(-m_lp[p]), "code": float(-c_lp[p])})
gaps = pd.DataFrame(gaps).sort_values("gap (nats)", ascending=False)
share_top = float(gaps["gap (nats)"].clip(lower=0).head(len(gaps) // 20).sum() / gaps["gap (nats)"].clip(lower=0).sum())
mw.record("gap_top5pct_share", share_top)
mw.record("gap_labelled_share", float((gaps.head(50).capability != "").mean()))
gaps.head(12).style.format(precision=2).hide(axis="index")

# %% [markdown]
# ## What we found

# %%
r = mw.records()
if not r["trained"]:
    found = [mw.untrained_finding(MODEL, model_loss, d_vocab, "its first positions or its rules")]
else:
    caps = r["advantage_recovered_by_capability"]
    best_caps = sorted(caps, key=caps.get, reverse=True)
    found = [
        f"Position 1 (the bigram table): for the {N_FIRST} most common tokens, the split adds up to the model's centred "
        f"logit within {r['first_check_sum_max']:.0e}. A median of {r['first_components_90_median']:.0f} of its "
        f"{r['first_components']} components carry {SHARE:.0%} of the top prediction's logit; the largest part is "
        f"{r['first_largest_group']} (median share {r['first_largest_group_share_median']:.0%}), the embeddings' direct "
        f"path carries {r['first_embeddings_share_median']:.0%} and the heads' reading of BOS "
        f"{r['first_bos_share_median']:.0%}. With the MLPs split into transcoder features it takes "
        f"{r['first_features_90_median']:.0f} pieces.",
        f"Position 2: {r['second_components_90_median']:.0f} components carry {SHARE:.0%} (features: "
        f"{r['second_features_90_median']:.0f}). Straight to the unembedding, heads write a median "
        f"{r['second_first_token_share_median']:.0%} of the logit from the first token, yet the top prediction differs "
        f"from the one after the second token alone for {1 - r['second_same_as_bigram']:.0%} of the pairs: the first "
        "token acts through the later MLPs, not directly.",
        f"The model as code, on held-out stories: unigram {r['unigram_loss']:.2f} nats, the model's own bigram and "
        f"trigram tables {r['code_loss']['bigram']:.2f} and {r['trigram_loss']:.2f}, all rules "
        f"{r['code_loss_final']:.2f}, the model {r['model_test_loss']:.2f}. The code recovers "
        f"{r['advantage_recovered']:.0%} of the model's advantage over unigrams, but only "
        f"{r['beyond_trigram_recovered']:.0%} of what the model gains beyond its own trigram table. "
        f"{r['rules_helping']} of {len(rule_names)} rules lower the loss; the rules' gains: "
        + ", ".join(f"{k} {v:+.3f}" for k, v in r["rule_gains"].items()) + ".",
        "Per capability, the share of the advantage recovered: " + ", ".join(f"{c} {caps[c]:.0%}" for c in best_caps)
        + ". " + ((f"The code beats the model on {', '.join(beats)}"
                   + (": the IOI rule applies to the templates held out of training too, which the model gets wrong in "
                      "at least one role order (41_patching, section 1)." if "ioi" in beats else "."))
                  if (beats := r["capabilities_code_beats_model"]) else "The model beats the code on every capability."),
        f"The embeddings' direct path alone, as a bigram, scores {r['direct_bigram_loss']:.2f} nats against the model's "
        f"first-position table's {r['code_loss']['bigram']:.2f}: the model's bigram is not in its embeddings.",
        "Evidence: the head that attends most to what the copy rule copies is "
        + ("one of the three best induction heads. " if r.get("copy_head_is_induction_head") else "not an induction head. ")
        + f"Before a repeated name {r['evidence_repeated_names_head']} attends to its earlier copy with weight "
        f"{r['evidence_repeated_names_attention']:.2f} ({r['evidence_repeated_names_over_uniform']:.0f} times a uniform "
        f"pattern); inside a quote {r['evidence_quote_closing_head']} attends to the opening mark with "
        f"{r['evidence_quote_closing_attention']:.2f} ({r['evidence_quote_closing_over_uniform']:.0f} times uniform). "
        + (f"Before the indirect object no head reads its earlier mention (at most "
           f"{r['evidence_indirect_object_attention']:.2f}, {r['evidence_indirect_object_over_uniform']:.1f} times "
           "uniform), as 41_patching found: the model's IOI heads read the word before the answer, not the name, so "
           "the code's rule is not the model's mechanism. "
           if r["evidence_indirect_object_attention"] < READS else
           f"Before the indirect object {r['evidence_indirect_object_head']} attends to its earlier mention with "
           f"{r['evidence_indirect_object_attention']:.2f}. ")
        + f"The pronoun rule (agree with the last pronoun) gets weight {r['pronoun_weight']:+.2f}"
        + (": the data contradicts it, so it is not one of the model's rules." if r["pronoun_weight"] <= 0 else "."),
        f"How far from complete: the 5% of tokens with the largest gaps hold {r['gap_top5pct_share']:.0%} of the code's "
        f"shortfall, and {r['gap_labelled_share']:.0%} of the worst 50 carry a planted label. The code has no rule for "
        "what comes next in a template beyond three tokens, nor for which character a pronoun refers to, so it is "
        "still a long way from the model, let alone from 'completely'.",
    ]
mw.findings(*found)

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to write a piece of this chapter's method. The check under it runs your function on a
# few inputs (from the bundled 2-layer model) and says PASSED, FAILED with what is wrong, or "not attempted"
# while your stub is untouched. In the learner notebook the solutions are stubs that return None.
#
# ```{exercise} The direct path at position 1
# :label: ex-whole-direct-path
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 15 min
#
# Return what the embeddings alone add to every centred logit after `[BOS, token]`: the token embedding plus
# the position-1 embedding, read through the final LayerNorm with its scale frozen at the model's own value at
# position 1 (`ln_final.hook_scale`), times its weight, through the unembedding with its mean over the vocabulary
# taken out. A tensor [d_vocab].
# ```
#
# <details><summary>Hint</summary>
#
# LayerNorm centres its input, so centre the embedding sum (subtract its mean over `d_model`) before dividing by
# the cached scale; the scale of position 1 is `cache["ln_final.hook_scale"][0, 1]`.
#
# </details>

# %%
def direct_path(model, token):
    """The embeddings' direct contribution to every centred logit at position 1: [d_vocab]."""
    # BEGIN SOLUTION (stub: return None)
    _, cache = model.run_with_cache(torch.tensor([[model.tokenizer.bos_token_id, token]]))
    x = model.W_E[token] + model.W_pos[1]
    x = (x - x.mean()) / cache["ln_final.hook_scale"][0, 1] * model.ln_final.w
    return x @ (model.W_U - model.W_U.mean(1, keepdim=True))
    # END SOLUTION


# %%
exercises.check_direct_path(direct_path, strict=STRICT)

# %% [markdown]
# ```{exercise} A bigram rule from the embedding and unembedding
# :label: ex-whole-bigram
#
# **Difficulty** 1/5 · **Importance** 4/5 · **Time** 10 min
#
# Return the bigram table of the direct path as a stand-alone predictor: for every token `t`, the
# log-probabilities of the next token from `W_E[t] + W_pos[1]` through the final LayerNorm (this time computed, not
# frozen), the unembedding and its bias. A tensor [d_vocab, d_vocab], row `t` the prediction after `t`.
# ```
#
# <details><summary>Hint</summary>
#
# `model.ln_final` and `model.unembed` are modules you can call on a `[1, d_vocab, d_model]` tensor; finish with
# `log_softmax(-1)`.
#
# </details>

# %%
def bigram_table(model):
    """log p(next | t) from the embeddings' direct path: [d_vocab, d_vocab]."""
    # BEGIN SOLUTION (stub: return None)
    return model.unembed(model.ln_final((model.W_E + model.W_pos[1])[None]))[0].log_softmax(-1)
    # END SOLUTION


# %%
exercises.check_bigram_table(bigram_table, strict=STRICT)

# %% [markdown]
# ```{exercise} An induction rule
# :label: ex-whole-induction
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 15 min
#
# For a row of tokens [pos], return a tensor [pos, d_vocab] with a 1 at `[p, row[s + 1]]` for every earlier
# position `s < p` with `row[s] == row[p]` (the token that followed an earlier copy of the current token), and 0
# elsewhere.
# ```
#
# <details><summary>Hint</summary>
#
# `(row[:, None] == row[None, :]).tril(-1)` marks the earlier copies; `torch.nonzero(..., as_tuple=True)` gives
# their `(p, s)`. Why must `s == p` be left out?
#
# </details>

# %%
def induction_rule(row, d_vocab):
    """1 where a token followed an earlier copy of the current token: [pos, d_vocab]."""
    # BEGIN SOLUTION (stub: return None)
    p, s = torch.nonzero((row[:, None] == row[None, :]).tril(-1), as_tuple=True)
    out = torch.zeros(len(row), d_vocab)
    out[p, row[s + 1]] = 1.0
    return out
    # END SOLUTION


# %%
exercises.check_induction_rule(induction_rule, strict=STRICT)

# %% [markdown]
# ```{exercise} Score a rule on one capability
# :label: ex-whole-capability
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 10 min
#
# `logprobs[p]` is a predictor's log-probability of `row[p + 1]` after `row[: p + 1]` (one entry fewer than the
# row), and `marks` lists `(capability, position)` labels, where the position is that of the labelled *token*.
# Return the mean loss (nats) on the tokens labelled `capability` (a float), or NaN if there are none.
# ```
#
# <details><summary>Hint</summary>
#
# The token at position `q` is predicted at position `q - 1`.
#
# </details>

# %%
def capability_loss(logprobs, marks, capability):
    """Mean -log p of the tokens labelled ``capability`` (float)."""
    # BEGIN SOLUTION (stub: return None)
    picked = [-float(logprobs[q - 1]) for c, q in marks if c == capability]
    return sum(picked) / len(picked) if picked else float("nan")
    # END SOLUTION


# %%
exercises.check_capability_loss(capability_loss, strict=STRICT)

# %% [markdown]
# ## Going further
#
# * **Pronouns.** The agreement rule above is a guess, and its fitted weight says whether the stories follow it.
#   Write a rule that tracks which character a pronoun refers to (the gender of the last-named character, learnt
#   from the pronoun that followed that name earlier), and find the head that reads it.
# * **Templates beyond three tokens.** Look at the largest gaps of section 4: how many continue a template
#   sentence? Read a four-gram table out of the model at position 3, and see how far the gap closes.
# * **Each rule's own circuit.** Ablate the head the evidence table names for a rule and measure the model's loss
#   on the tokens where that rule fires, against the tokens where it does not.
# * **The first position with features.** Which transcoder features of MLP0 write the bigram for the most common
#   tokens? Look up their top contexts with `mi_widgets.dictionaries.feature_index`.
# * **Another model.** Run this notebook with `MODEL = "stories-gelu-2l"`: does a smaller model's code do better
#   or worse against it?
#
# ## References
#
# * Elhage, Nanda, Olsson et al. (2021). A Mathematical Framework for Transformer Circuits. transformer-circuits.pub.
# * Olsson, Elhage, Nanda et al. (2022). In-context Learning and Induction Heads. transformer-circuits.pub.
# * See, Liu, Manning (2017). Get To The Point: Summarization with Pointer-Generator Networks. ACL.
# * Wang, Variengien, Conmy, Shlegeris, Steinhardt (2022). Interpretability in the Wild. arXiv:2211.00593.
# * Dunefsky, Chlenski, Nanda (2024). Transcoders Find Interpretable LLM Feature Circuits. arXiv:2406.11944.
