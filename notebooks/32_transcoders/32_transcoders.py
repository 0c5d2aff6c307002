# %% [markdown]
# # Transcoder circuits: attribution graphs, their errors, and better transcoders
#
# > **You will learn to** build the graph of attributions from a prompt's tokens through transcoder features to a
# > prediction; check every edge by intervention; prune a graph to what carries a share of the prediction; and
# > measure how much of a model the transcoders leave to their error terms.
# >
# > **You need:** [Dictionaries](../10_dictionaries/10_dictionaries.ipynb) (transcoders, FVU, loss recovered);
# > [Start here](../00_start/00_start.ipynb) (direct logit attribution); [Patching](../41_patching/41_patching.ipynb)
# > for the indirect-object task; [Attention heads](../21_heads/21_heads.ipynb) for induction.
# >
# > **Time:** about 120 min to study and do the exercises; the full run takes about 6.5 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** A [transcoder](../glossary.md#g-dictionary) replaces an MLP by a sparse, wide layer that maps the
# MLP's input to its output. With one on every MLP, and the attention patterns and LayerNorm scales frozen at a
# prompt's own values, the model becomes linear in its features, and every feature's activation splits exactly
# into contributions from earlier features, tokens and error terms: an
# [attribution graph](../glossary.md#g-attribution-graph) (Dunefsky, Chlenski
# and Nanda 2024). Seed 001 lists six projects on such graphs, and this chapter does each on our 4-layer model:
#
# 1. **tooling** (Nix): a small API that attributes a prediction to paths, and a view of the graph;
# 2. **random inputs** (Nix): how much of the attribution goes through the error terms, per layer, and how many
#    paths it takes to carry 80% and 90% of a prediction;
# 3. **behaviours explained** (Nix), with faithfulness measured: the indirect-object task and induction;
# 4. **architectures** (Lucius): a transcoder with a linear skip path against one without, at equal L0; and all
#    four trained together with a penalty on the edges between them: a sparser graph, at what cost?
# 5. **cross-layer superposition** (Nix, Lee): features of different layers that write the same direction;
# 6. **end to end** (Stefan): how sparse the connections between adjacent layers are, and one story's prediction
#    traced through features only.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-4l"  # any model with MLPs (bundled or a TransformerLens name); the 4-layer one ships transcoders
DEVICE = "cpu"  # "cuda" on a GPU machine

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.stats import pearsonr, spearmanr

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.analysis.circuits import (LogitTarget, ablation_check, attribution_graph, circuit_faithfulness,
                                          replacement_run)
from mi_widgets.analysis.ioi import POSITIONS, ioi_families
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_transcoder_set
from mi_widgets.dictionaries.feature_index import FeatureIndex, top_contexts
from mi_widgets.dictionaries.metrics import reconstruction_stats, splice_stats_together
from mi_widgets.heads import repeated_random_tokens
from mi_widgets.logprobs import is_trained
from mi_widgets.organisms.corpus import row_length, story_rows
from mi_widgets.patching import logit_diff_metric, patch_scan
from mi_widgets.progress import progress_bar
from mi_widgets.widgets import graph_view

torch.manual_seed(SEED)
torch.set_grad_enabled(False)  # the graphs are one linear sweep each; training turns gradients on for itself
SHARE = 0.8  # a pruned graph keeps the fewest nodes that carry this share of the target
N_CHECK = 2 if SMOKE else 6  # prompts whose strongest features are each ablated, to check the graph
N_ABLATE = 12 if SMOKE else 40  # features ablated per prompt
N_RANDOM = 4 if SMOKE else 100  # held-out story positions for the statistics on random inputs
CONTEXT = 10 if SMOKE else 24  # each random prompt is cut to at most this many tokens before its position
N_PATHS = 1 if SMOKE else 12  # of those, the prompts whose paths are counted one by one (a best-first search)
MAX_PATHS = 5_000 if SMOKE else 200_000  # the search stops here: "more than MAX_PATHS" is reported as such
N_BEHAVIOUR = 2 if SMOKE else 8  # prompts per behaviour
TRAIN_ROWS = 8 if SMOKE else 600  # story rows harvested to train transcoder sets (255 tokens each)
TRAIN_TOKENS = 8192 if SMOKE else 400_000  # tokens each set is trained on (batches of 1024)
WIDTH = 256 if SMOKE else 1024  # features per trained transcoder (the shipped ones have 2048)
SEEDS = [0] if SMOKE else [0, 1]  # each trained variant is trained once per seed
PENALTY = 1.0  # weight of the edge penalty in joint training (section 4)
N_GRAPH_SET = 1 if SMOKE else 10  # prompts on which each trained set's graphs are compared
COSINE = 0.8  # two decoder rows "write the same direction" above this cosine (section 5)
N_NULL = 2 if SMOKE else 5  # random rotations for the cross-layer null

model = mw.load_model(MODEL, device=DEVICE)
tokenizer, bos, n_layers = model.tokenizer, model.tokenizer.bos_token_id, model.cfg.n_layers
if model.cfg.attn_only:
    raise ValueError(f"{MODEL} is attention-only: this chapter needs MLPs to put transcoders on")
n_ctx = row_length(model)
val_rows = story_rows(tokenizer, 4 if SMOKE else 16, n_ctx, seed=SEED + 30, split="val")
model_loss = float(model(val_rows.to(DEVICE), return_type="loss"))
mw.record("trained", is_trained(model_loss, model.cfg.d_vocab))
# The shipped transcoders where there are some, else the same recipe trained on MODEL (a few seconds in smoke mode).
transcoders = {layer: mw.dictionary_for(model, f"mlp{layer}-tc", smoke=SMOKE) for layer in range(n_layers)}
tc_width, tc_k = transcoders[0].cfg.width, transcoders[0].cfg.k
print(f"{MODEL}: held-out loss {model_loss:.3f} nats; transcoders of {tc_width} features, k = {tc_k}, "
      f"skip path: {transcoders[0].W_skip is not None}")


def adjacent_mask(g) -> torch.Tensor:
    """[reader, source]: True where both are features and the reader is in the next layer."""
    layer = torch.tensor([n.layer for n in g.nodes])
    is_feat = torch.zeros(len(g.nodes), dtype=torch.bool)
    is_feat[torch.as_tensor(g.features)] = True
    return is_feat[:, None] & is_feat[None] & (layer[:, None] == layer[None] + 1)


def strongest(graph, n: int) -> list[int]:
    """The ``n`` features of largest total attribution (every path) to the graph's target."""
    feats = graph.features
    total = (graph.values * graph.influence()).numpy()[feats]
    return feats[np.argsort(-np.abs(total), kind="stable")[:n]].tolist()


# %% [markdown]
# ## 1. One graph
#
# We take an indirect-object prompt from [Patching](../41_patching/41_patching.ipynb) and ask for the graph of the
# logit difference between the indirect object and the subject. `attribution_graph` runs the model once, keeps
# every attention pattern and LayerNorm scale, and then sweeps backwards once with every feature as a row of one
# batch: the sweep gives each feature's edges from every earlier node. Its nodes are the input tokens, the active
# features of every transcoder at every position, one error term per layer and position (what the transcoder
# missed there), and the target. The graph adds up: each feature's incoming edges plus its bias (what the
# constants add) equal its activation, and the target's equal the model's own logit difference.

# %%
families = ioi_families(model, range(2 if SMOKE else 12), n=max(N_BEHAVIOUR, 4), seed=SEED)
family = families[0]
prompt = family.clean[0].tolist()
ioi_target = LogitTarget(int(family.answer[0]), int(family.wrong[0]))
start = time.perf_counter()
graph = attribution_graph(model, prompt, transcoders, ioi_target)
mw.record("graph_seconds", time.perf_counter() - start)
kept = graph.prune(SHARE)
shares = graph.shares()
mw.record("graph_nodes", len(graph.nodes))
mw.record("graph_features", len(graph.features))
mw.record("graph_check_sum", graph.check_sum)
mw.record("graph_leaf_sum_gap", abs(float(graph.leaf_attributions().sum() - graph.values[-1])))
mw.record("graph_kept_features", sum(graph.nodes[i].kind == "feature" for i in kept))
print(f"{tokenizer.decode(prompt[1:])!r}\n{graph.nodes[-1].label} = {float(graph.values[-1]):.2f}; "
      f"{len(graph.nodes)} nodes ({len(graph.features)} features), built in {mw.records()['graph_seconds']:.2f} s; "
      f"largest gap in a node's sum: {graph.check_sum:.1e}")
pd.Series(shares).to_frame("share of the path mass").style.format("{:.1%}")

# %% [markdown]
# The table splits the target's **path mass**, the sum over every path from a leaf to the target of the
# absolute value of its attribution, by the kind of leaf the paths start at: the input tokens, the error terms of
# each layer, and the constants (biases). Signed, the paths add up to the target exactly; absolute, they say how
# much traffic each kind of leaf sends, cancellations included.
#
# Below, the pruned graph: the fewest nodes, ranked by the path mass through them, whose paths carry 80% of the
# mass. Hover a node for its value and its share; for features, its top contexts over held-out stories.

# %%
context_rows = story_rows(tokenizer, 8 if SMOKE else 64, min(n_ctx, 128), seed=SEED + 31, split="val")
inputs = mw.harvest_activations(model, [tc.cfg.hook_in for tc in transcoders.values()], context_rows,
                                progress=False)
index = {layer: FeatureIndex(tc, inputs[tc.cfg.hook_in], context_rows) for layer, tc in transcoders.items()}


def contexts_of(layer: int, feature: int, n: int = 3, indexes: dict | None = None) -> str:
    """A feature's top contexts as text, the firing token in [brackets] (``indexes``: another set's indexes)."""
    top = top_contexts(model, context_rows, (indexes or index)[layer].dense(feature), n=n, before=6, after=1)
    lines = (f"{r.before}[{r.token}]{r.after}".replace("\n", "↵") + f"  ({r.activation:.2f})"
             for r in top.itertuples() if r.activation > 0)
    return "\n".join(lines) or "(never active on the indexed stories)"


hover = {i: contexts_of(graph.nodes[i].layer, graph.nodes[i].feature) for i in kept if graph.nodes[i].kind == "feature"}
graph_view(graph, keep=kept, contexts=hover)

# %% [markdown]
# An edge between features of adjacent layers goes straight along the residual stream (at the same position) or
# through one of the later layer's heads, with its pattern frozen; `adjacent_routes` splits it that way, and the
# parts add up to the edge. The strongest such edge of the graph:

# %%
reader, source = (int(i) for i in np.unravel_index(int((graph.edges.abs() * adjacent_mask(graph)).argmax()),
                                                 graph.edges.shape))
routes = graph.adjacent_routes(source, reader)
mw.record("routes_gap", abs(sum(routes.values()) - float(graph.edges[reader, source])))
print(f"{graph.nodes[source].label} -> {graph.nodes[reader].label}: edge {float(graph.edges[reader, source]):+.3f}")
pd.Series(routes).to_frame("part of the edge").style.format("{:+.4f}")

# %% [markdown]
# ## 2. Every edge checked by intervention
#
# An edge is a prediction: switch feature j off, and the target should move by minus j's activation times its
# influence (its derivative of the target along every path). We test that on the strongest features of a few
# prompts, in the **replacement model**: the model with each MLP replaced by its transcoder plus the prompt's
# error term, held fixed, which is the model the graph describes (it reproduces the model exactly when nothing
# is switched off). Everything else is recomputed after the ablation: attention patterns, LayerNorm scales, and
# which features TopK picks. Holding each of those three fixed in turn says which nonlinearity the linear
# prediction misses.

# %%
check_prompts = [f.clean[0].tolist() for f in families[: N_CHECK // 2]] + \
    [row[:CONTEXT].tolist() for row in val_rows[: N_CHECK - N_CHECK // 2]]  # rows start with BOS
modes = {"live": False, "patterns held": ["patterns"], "scales held": ["scales"], "TopK held": ["gates"],
         "patterns and scales held": ["patterns", "scales"], "all held": True}
check = {m: ([], []) for m in modes}
check_layers = []  # the layer of each ablated feature, in the same order
for k, p in enumerate(check_prompts):
    family_target = LogitTarget(int(families[k].answer[0]), int(families[k].wrong[0])) if k < N_CHECK // 2 else None
    if family_target is None:  # a story prompt: the centred logit of the model's top prediction
        family_target = LogitTarget(int(model(torch.tensor([p], device=DEVICE))[0, -1].argmax()))
    g = attribution_graph(model, p, transcoders, family_target)
    feats = strongest(g, N_ABLATE)
    check_layers += [g.nodes[i].layer for i in feats]
    for mode, frozen in modes.items():
        predicted, measured = ablation_check(model, g, family_target, feats, frozen=frozen)
        check[mode][0].extend(predicted)
        check[mode][1].extend(measured)
agreement = pd.DataFrame({mode: {"pearson r": pearsonr(*check[mode])[0], "spearman": spearmanr(*check[mode])[0],
                                 "max |gap|": float(np.max(np.abs(np.subtract(*check[mode]))))} for mode in modes}).T
mw.record("check_n", len(check["live"][0]))
mw.record("check_r_live", float(agreement.loc["live", "pearson r"]))
mw.record("check_spearman_live", float(agreement.loc["live", "spearman"]))
mw.record("check_r_patterns_scales", float(agreement.loc["patterns and scales held", "pearson r"]))
mw.record("check_r_patterns", float(agreement.loc["patterns held", "pearson r"]))
mw.record("check_gap_all_held", float(agreement.loc["all held", "max |gap|"]))
mw.record("check_r_gain", mw.records()["check_r_patterns_scales"] - mw.records()["check_r_live"])
live_predicted, live_measured, check_layers = (np.array(a) for a in (*check["live"], check_layers))
for name, chosen in [("layer0", check_layers == 0), ("later", check_layers > 0)]:
    enough = chosen.sum() >= 3
    mw.record(f"check_n_{name}", int(chosen.sum()))
    mw.record(f"check_r_live_{name}", float(pearsonr(live_predicted[chosen], live_measured[chosen])[0]) if enough else 0.0)
display(agreement.style.format("{:.3f}"))
print(f"live, by the ablated feature's layer: r = {mw.records()['check_r_live_layer0']:.2f} for "
      f"{mw.records()['check_n_layer0']} layer-0 features, {mw.records()['check_r_live_later']:.2f} for "
      f"{mw.records()['check_n_later']} of later layers")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, mode in zip(axes, ["live", "patterns and scales held"]):
    predicted, measured = map(np.array, check[mode])
    for chosen, label in [(check_layers == 0, "layer 0"), (check_layers > 0, "later layers")]:
        ax.scatter(predicted[chosen], measured[chosen], s=10, alpha=0.6, label=label)
    ax.legend(fontsize=8)
    lim = [min(predicted.min(), measured.min()), max(predicted.max(), measured.max())]
    ax.plot(lim, lim, color="grey", lw=0.8)
    ax.set_xlabel("predicted change of the target (graph)")
    ax.set_ylabel("measured change (replacement model)")
    ax.set_title(f"{mode}: r = {pearsonr(predicted, measured)[0]:.2f}")
plt.suptitle(f"zeroing one feature at a time: {len(check['live'][0])} features of {len(check_prompts)} prompts")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Random inputs: the error terms, and how many paths
#
# Nix asks for summary statistics over random inputs rather than chosen prompts. We take held-out story
# positions at random, cut each prompt to the last `CONTEXT` tokens before the position, and build the graph of
# the model's centred logit for its top prediction there. Per graph: the share of the path mass that starts at
# each layer's error terms; the nodes a pruned graph needs for 80% and 90%; and, on some of them, the number of
# paths, largest first, that carry 80% and 90% (a best-first search over paths, stopped at `MAX_PATHS`).

# %%
rng = np.random.default_rng(SEED)
story = story_rows(tokenizer, N_RANDOM, n_ctx, seed=SEED + 32, split="test")
random_graphs = []
for row in progress_bar(story, desc="random graphs", unit="graph"):
    end = int(rng.integers(4, n_ctx - 1))
    p = [bos, *row[max(1, end - CONTEXT + 1): end + 1].tolist()]
    top = int(model(torch.tensor([p], device=DEVICE))[0, -1].argmax())
    random_graphs.append(attribution_graph(model, p, transcoders, LogitTarget(top)))
stats = []
for k, g in enumerate(random_graphs):
    s = g.shares()
    row = {**{f"L{layer} error": s.get(f"L{layer} error", 0.0) for layer in range(n_layers)},
           "tokens": s["tokens"], "bias": s["bias"], "nodes": len(g.nodes),
           "nodes 80%": len(g.prune(0.8)) - 1, "nodes 90%": len(g.prune(0.9)) - 1}
    if k < N_PATHS:
        row["paths 80%"], row["paths 90%"] = (g.paths_needed(q, MAX_PATHS) for q in (0.8, 0.9))
    stats.append(row)
stats = pd.DataFrame(stats)
errors = stats[[f"L{layer} error" for layer in range(n_layers)]]
for layer in range(n_layers):
    mw.record(f"error_share_L{layer}", float(errors[f"L{layer} error"].median()))
mw.record("error_share_total", float(errors.sum(axis=1).median()))
mw.record("error_share_largest_layer", int(errors.median().to_numpy().argmax()))
mw.record("error_share_total_p90", float(errors.sum(axis=1).quantile(0.9)))
mw.record("nodes_80_median", float(stats["nodes 80%"].median()))
mw.record("nodes_90_median", float(stats["nodes 90%"].median()))
mw.record("nodes_median", float(stats["nodes"].median()))
mw.record("nodes_80_share", float((stats["nodes 80%"] / stats["nodes"]).median()))
paths = stats.loc[: N_PATHS - 1, ["paths 80%", "paths 90%"]]
for q in (80, 90):
    found = pd.to_numeric(paths[f"paths {q}%"]).dropna()
    mw.record(f"paths_{q}_found", len(found))
    mw.record(f"paths_{q}_median", float(found.median()) if len(found) else float(MAX_PATHS))
stats.describe().loc[["mean", "50%", "min", "max"]].style.format("{:.2f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].boxplot([errors[c] for c in errors.columns], tick_labels=errors.columns)
axes[0].set_ylabel("share of the path mass")
axes[0].set_title(f"error terms, {len(random_graphs)} random positions")
axes[1].hist(stats["nodes 80%"], bins=20, alpha=0.7, label="80%")
axes[1].hist(stats["nodes 90%"], bins=20, alpha=0.7, label="90%")
axes[1].set_xlabel(f"nodes a pruned graph keeps (of a median {stats['nodes'].median():.0f})")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Behaviours explained
#
# **Indirect objects.** For each prompt, the graph of the logit difference between the indirect object and the
# subject, pruned to 80%. Its **faithfulness** is measured by intervention, in the replacement model: keep only the
# pruned graph's features on (every other feature zeroed, the error terms held), and compare the logit difference
# with all features on and with none: (kept - none) / (all - none). [Patching](../41_patching/41_patching.ipynb)
# found that before layer 0 the difference between a prompt and its three-new-names corruption lies at the name
# positions alone; here the question is whether the graph's token leaves say the same. For every named position we
# compare the graph's token attribution there with patching that position's embedding from the clean prompt into
# the corrupted one.

# %%
def behaviour_rows(prompts, targets) -> pd.DataFrame:
    out = []
    for p, target in zip(prompts, targets):
        g = attribution_graph(model, p, transcoders, target)
        keep = g.prune(SHARE)
        feats = [i for i in keep if g.nodes[i].kind == "feature"]
        out.append({"target": float(g.values[-1]), "features": len(g.features), "kept features": len(feats),
                    "faithfulness": circuit_faithfulness(model, g, target, keep),
                    "errors' share": sum(v for k, v in g.shares().items() if "error" in k),
                    "tokens": g.leaf_attributions()[: len(p)].numpy()})
    return pd.DataFrame(out)


ioi_prompts, ioi_targets, ioi_where = [], [], []
for f in families[:N_BEHAVIOUR]:
    ioi_prompts.append(f.clean[0].tolist())
    ioi_targets.append(LogitTarget(int(f.answer[0]), int(f.wrong[0])))
    ioi_where.append({name: int(f.positions[name][0]) for name in POSITIONS})
ioi = behaviour_rows(ioi_prompts, ioi_targets)
# Patching at the embeddings: each named position of the corrupted prompt given the clean one's embedding.
restored = []
for f in families[:N_BEHAVIOUR]:
    clean_ld, abc_ld = (float(f.logit_diffs(model, tokens)[0]) for tokens in (f.clean, f.abc))
    metric = logit_diff_metric(f.answer[:1], f.wrong[:1], clean_ld, abc_ld)  # this prompt's own 1 and 0
    scan = patch_scan(model, f.clean[:1], f.abc[:1], metric, ["blocks.0.hook_resid_pre"],
                      positions=f.position_matrix()[:1], progress=False)
    restored.append(scan[0].numpy())
graph_share = np.array([[row.tokens[w[name]] / row.target for name in POSITIONS]
                        for row, w in zip(ioi.itertuples(), ioi_where)])
by_position = pd.DataFrame({"graph: token attribution / target": graph_share.mean(0),
                            "patching: restored": np.mean(restored, 0)}, index=POSITIONS)
mw.record("ioi_faithfulness_median", float(ioi["faithfulness"].median()))
mw.record("ioi_faithfulness_min", float(ioi["faithfulness"].min()))
mw.record("ioi_kept_features_median", float(ioi["kept features"].median()))
mw.record("ioi_features_median", float(ioi["features"].median()))
mw.record("ioi_position_spearman", float(spearmanr(by_position.iloc[:, 0], by_position.iloc[:, 1])[0]))
mw.record("ioi_graph_names_share", float(by_position.iloc[:, 0].loc[["IO", "S1", "S2"]].sum()))
names = by_position.loc[["IO", "S1", "S2"]]
mw.record("ioi_names_signs_agree", bool((np.sign(names.iloc[:, 0]) == np.sign(names.iloc[:, 1])).all()))
mw.record("ioi_patch_over_graph_names", float((names.iloc[:, 1].abs() / names.iloc[:, 0].abs()).median()))
display(ioi.drop(columns="tokens").describe().loc[["50%", "min", "max"]].style.format("{:.2f}"))
display(by_position.style.format("{:.2f}"))
# The features on the first prompt's circuit that the most path mass goes through, with their top contexts.
through = graph.mass_through()
on_circuit = sorted((i for i in kept if graph.nodes[i].kind == "feature"), key=lambda i: -float(through[i]))[:6]
pd.DataFrame([{"feature": graph.nodes[i].label, "activation": float(graph.values[i]),
               "share of the path mass": float(through[i]) / graph.total_mass,
               "top contexts": contexts_of(graph.nodes[i].layer, graph.nodes[i].feature, 2).replace("\n", " | ")}
              for i in on_circuit]).style.format(precision=2).hide(axis="index")

# %% [markdown]
# **Induction.** On a random sequence repeated once, the model predicts the token that followed the current
# token's earlier copy. An induction head does it (see [Attention heads](../21_heads/21_heads.ipynb)): its query
# at the current token finds the earlier copy through its key (with the help of a previous-token head, the
# K-composition), and its value copies the token after it. A graph with frozen patterns sees only the second
# half of that: the value path from the answer's earlier copy. So we ask two things. How much of the target do
# the token leaves at the answer's earlier copy carry? And what does corrupting a single token do: the answer's
# earlier copy (the value side) against the current token's earlier copy (the key side), which the graph cannot
# credit?

# %%
half = 8 if SMOKE else 12
repeats = repeated_random_tokens(model, seq_len=half, n_seqs=N_BEHAVIOUR, seed=SEED + 5).cpu()
ind_prompts, ind_targets, ind_where = [], [], []
for k, row in enumerate(repeats):
    j = 2 + k % (half - 3)  # predict the (j + 1)-th token of the second copy
    p = row[: half + 1 + j].tolist()
    ind_prompts.append(p)
    ind_targets.append(LogitTarget(int(row[half + 1 + j])))
    ind_where.append({"answer's copy": j + 1, "current token's copy": j})
induction = behaviour_rows(ind_prompts, ind_targets)


def corrupted_drop(p, target, pos) -> float:
    """How much the centred logit falls when the token at ``pos`` is swapped for another."""
    other = list(p)
    other[pos] = int(repeats[(ind_prompts.index(p) + 1) % len(repeats), pos])
    if other[pos] == p[pos]:
        other[pos] = (p[pos] + 1) % model.cfg.d_vocab
    runs = [model(torch.tensor([q], device=DEVICE))[0, -1].float().cpu() for q in (p, other)]
    return float((runs[0][target.answer] - runs[0].mean()) - (runs[1][target.answer] - runs[1].mean()))


ind_table = pd.DataFrame([{
    "target": row["target"], "kept features": row["kept features"], "faithfulness": row["faithfulness"],
    "graph: answer's copy": row["tokens"][w["answer's copy"]] / row["target"],
    "graph: current token's copy": row["tokens"][w["current token's copy"]] / row["target"],
    "corrupt answer's copy": corrupted_drop(p, t, w["answer's copy"]) / row["target"],
    "corrupt current token's copy": corrupted_drop(p, t, w["current token's copy"]) / row["target"]}
    for row, p, t, w in zip(induction.to_dict("records"), ind_prompts, ind_targets, ind_where)])
for column, key in [("faithfulness", "induction_faithfulness_median"), ("kept features", "induction_kept_median"),
                    ("graph: answer's copy", "induction_graph_value_share"),
                    ("graph: current token's copy", "induction_graph_key_share"),
                    ("corrupt answer's copy", "induction_corrupt_value_drop"),
                    ("corrupt current token's copy", "induction_corrupt_key_drop")]:
    mw.record(key, float(ind_table[column].median()))
ind_table.describe().loc[["50%", "min", "max"]].style.format("{:.2f}")

# %% [markdown]
# ## 5. Architectures: a skip path, and a penalty on the graph
#
# Lucius proposes two changes to how transcoders are built. A **linear skip path** (`W_skip`, a dense map from the
# MLP's input to its output that does not count toward L0) might take over the part of an MLP that is nearly
# linear, leaving the features to the rest. And training all the transcoders **together** with a penalty on the
# edges between their features might give a sparser graph. We train three variants of a set of four transcoders,
# each with the same recipe on the same rows (`train_transcoder_set`), at equal L0 (k = 16): with the skip path,
# without it, and with it and the edge penalty (the residual-stream edges between adjacent layers at the same
# token, summed; routes through heads mix positions and are left out). Each is trained with `len(SEEDS)` seeds.
# Then we compare FVU per layer, loss recovered with all four spliced in at once, the share of each MLP's output
# variance the skip path explains alone, and the graphs the sets give on the same prompts.

# %%
train_rows = story_rows(tokenizer, TRAIN_ROWS, n_ctx, seed=SEED + 33, split="train")
hooks = [h for layer in range(n_layers) for h in (f"blocks.{layer}.ln2.hook_normalized",
                                                   f"blocks.{layer}.hook_mlp_out", f"blocks.{layer}.ln2.hook_scale")]
acts = mw.harvest_activations(model, hooks, train_rows, progress=False)
n_held = min(20_000, len(acts[hooks[0]]) // 5)  # the last rows are held out of training: FVU is read on them
x_in, x_held = zip(*[(a[:-n_held], a[-n_held:]) for a in
                     (acts[f"blocks.{layer}.ln2.hook_normalized"] for layer in range(n_layers))])
y_out, y_held = zip(*[(a[:-n_held], a[-n_held:]) for a in
                      (acts[f"blocks.{layer}.hook_mlp_out"] for layer in range(n_layers))])
ln_scales = torch.cat([acts[f"blocks.{layer}.ln2.hook_scale"][:-n_held] for layer in range(n_layers)], dim=1)
eval_rows = val_rows[:2] if SMOKE else val_rows[:8]
variants = {"skip": (True, 0.0), "no skip": (False, 0.0), "skip + penalty": (True, PENALTY)}


def new_set(skip: bool, seed: int) -> list[Dictionary]:
    return [Dictionary(DictConfig(d_in=model.cfg.d_model, width=WIDTH, k=tc_k, d_out=model.cfg.d_model, skip=skip,
                                  hook_in=f"blocks.{layer}.ln2.hook_normalized",
                                  hook_out=f"blocks.{layer}.hook_mlp_out"), seed=100 * seed + layer)
            for layer in range(n_layers)]


def skip_share(tc, x, y) -> float:
    """Share of the MLP output's variance that the skip path (and the bias) explain alone."""
    alone = ((x * tc.scale_in) @ tc.W_skip + tc.b_dec) / tc.scale_out
    return 1 - float((y - alone).pow(2).sum() / (y - y.mean(0)).pow(2).sum())


sets, arch = {}, []
settings = dict(tokens=TRAIN_TOKENS, batch_size=1024, progress=False)
for name, (skip, penalty) in variants.items():
    for seed in SEEDS:
        tcs = new_set(skip, seed)
        run = train_transcoder_set(tcs, list(x_in), list(y_out), TrainSettings(**settings, seed=seed), ln_scales,
                                   penalty=penalty)
        sets[name, seed] = tcs
        spliced = splice_stats_together(model, tcs, eval_rows)
        row = {"variant": name, "seed": seed, "loss recovered": spliced.loss_recovered,
               "loss recovered (mean abl.)": spliced.loss_recovered_mean, "seconds": run.seconds}
        for layer, tc in enumerate(tcs):
            row[f"FVU L{layer}"] = reconstruction_stats(tc, x_held[layer], y_held[layer]).fvu
            if skip:
                row[f"skip share L{layer}"] = skip_share(tc, x_held[layer], y_held[layer])
        arch.append(row)
arch = pd.DataFrame(arch)
arch.style.format(precision=3).hide(axis="index")

# %%
shipped_set = [transcoders[layer] for layer in range(n_layers)]
compare_prompts = []
for row in story[:N_GRAPH_SET]:
    p = row[: CONTEXT].tolist()
    compare_prompts.append((p, LogitTarget(int(model(torch.tensor([p], device=DEVICE))[0, -1].argmax()))))


def graph_summary(tcs) -> dict:
    """Median nodes for 80%, error share and adjacent-layer edge count for 90% of edge mass, on the same prompts."""
    nodes, errs, edges90, mass = [], [], [], []
    for p, target in compare_prompts:
        g = attribution_graph(model, p, dict(enumerate(tcs)), target)
        nodes.append(len(g.prune(0.8)) - 1)
        errs.append(sum(v for k, v in g.shares().items() if "error" in k))
        edges90.append(adjacent_edges_needed(g, 0.9))
        mass.append(float(g.edges[adjacent_mask(g)].abs().sum()))
    return {"nodes 80%": float(np.median(nodes)), "error share": float(np.median(errs)),
            "adjacent edges for 90%": float(np.median(edges90)), "adjacent edge mass": float(np.median(mass))}


def adjacent_edges_needed(g, share: float) -> float:
    """Share of the possible feature-to-feature edges between adjacent layers that carry ``share`` of their mass."""
    mask = adjacent_mask(g)
    weights = g.edges[mask].abs().sort(descending=True).values
    if len(weights) == 0 or weights.sum() == 0:
        return float("nan")
    needed = int(torch.searchsorted(weights.cumsum(0), share * weights.sum())) + 1
    return needed / int(mask.sum())


summary = {"shipped": graph_summary(shipped_set)}
for name in variants:
    per_seed = [graph_summary(sets[name, seed]) for seed in SEEDS]
    summary[name] = {k: float(np.mean([s[k] for s in per_seed])) for k in per_seed[0]}
summary = pd.DataFrame(summary).T
by_variant = arch.groupby("variant", sort=False).agg(["mean", "min", "max"])
fvu_cols = [f"FVU L{layer}" for layer in range(n_layers)]
mean_fvu = arch.assign(fvu=arch[fvu_cols].mean(axis=1)).groupby("variant")["fvu"]
mw.record("arch_fvu_skip", float(mean_fvu.mean()["skip"]))
mw.record("arch_fvu_no_skip", float(mean_fvu.mean()["no skip"]))
mw.record("arch_fvu_skip_max", float(mean_fvu.max()["skip"]))
mw.record("arch_fvu_no_skip_min", float(mean_fvu.min()["no skip"]))
mw.record("arch_skip_better_every_seed", bool(mean_fvu.max()["skip"] < mean_fvu.min()["no skip"]))
mw.record("arch_loss_recovered_skip", float(by_variant.loc["skip", ("loss recovered", "mean")]))
mw.record("arch_loss_recovered_no_skip", float(by_variant.loc["no skip", ("loss recovered", "mean")]))
mw.record("arch_loss_recovered_penalty", float(by_variant.loc["skip + penalty", ("loss recovered", "mean")]))
skip_cols = [f"skip share L{layer}" for layer in range(n_layers)]
mw.record("arch_skip_share_mean", float(arch.loc[arch.variant == "skip", skip_cols].to_numpy().mean()))
mw.record("arch_skip_share_max_layer", float(arch.loc[arch.variant == "skip", skip_cols].mean().max()))
mw.record("arch_edges90_skip", float(summary.loc["skip", "adjacent edges for 90%"]))
mw.record("arch_edges90_penalty", float(summary.loc["skip + penalty", "adjacent edges for 90%"]))
mw.record("arch_nodes80_skip", float(summary.loc["skip", "nodes 80%"]))
mw.record("arch_nodes80_penalty", float(summary.loc["skip + penalty", "nodes 80%"]))
mw.record("arch_edge_mass_skip", float(summary.loc["skip", "adjacent edge mass"]))
mw.record("arch_edge_mass_penalty", float(summary.loc["skip + penalty", "adjacent edge mass"]))
mw.record("arch_edge_mass_ratio", mw.records()["arch_edge_mass_penalty"] / mw.records()["arch_edge_mass_skip"])
mw.record("arch_nodes80_ratio", mw.records()["arch_nodes80_penalty"] / mw.records()["arch_nodes80_skip"])
mw.record("arch_loss_recovered_cost", mw.records()["arch_loss_recovered_skip"] - mw.records()["arch_loss_recovered_penalty"])
mw.record("width_error_share_shipped", float(summary.loc["shipped", "error share"]))
mw.record("width_error_share_trained", float(summary.loc["skip", "error share"]))
mw.record("width_nodes80_shipped", float(summary.loc["shipped", "nodes 80%"]))
mw.record("width_error_ratio", mw.records()["width_error_share_shipped"] / mw.records()["width_error_share_trained"])
summary.style.format("{:.3f}")

# %% [markdown]
# The last table also compares widths, as far as our dictionaries allow: the shipped transcoders have 2048
# features and were trained on 2M tokens; the trained sets have `WIDTH` and see `TRAIN_TOKENS`. Both the width and
# the training budget differ, so read that row as what a bigger, longer-trained set buys, not as a clean width
# sweep.
#
# ## 6. Cross-layer superposition
#
# If one computation is spread over several MLPs, features of different layers may write the same direction into
# the residual stream. We count, for each pair of layers, the feature pairs whose decoder rows have a cosine above
# `COSINE`. The null keeps each dictionary's own geometry and breaks the alignment between layers: the same count
# after a random rotation of the later layer's decoder (several rotations, their largest count).
#
# One trap first. Every dictionary's decoder starts from random rows drawn from its seed, and a decoder row keeps
# some of its starting direction through training. Dictionaries of different layers that were given the *same*
# seed then share directions row by row, and the count finds that instead of anything the model computes. The
# shipped transcoders were, so we measure the effect on them, and count on the first trained set of section 5,
# whose layers started from different seeds.

# %%
def cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T


shipped_cos = cosines(transcoders[0].W_dec.detach(), transcoders[1].W_dec.detach())
shipped_pairs = torch.nonzero(shipped_cos > COSINE)
mw.record("shipped_aligned_pairs_L0_L1", len(shipped_pairs))
mw.record("shipped_aligned_same_index_share",
          float((shipped_pairs[:, 0] == shipped_pairs[:, 1]).float().mean()) if len(shipped_pairs) else 0.0)
mw.record("shipped_same_index_cosine_mean", float(shipped_cos.diag().mean()))
print(f"shipped L0/L1: {len(shipped_pairs)} pairs above {COSINE}, of which "
      f"{mw.records()['shipped_aligned_same_index_share']:.0%} pair a row with the row of the same index; the mean "
      f"cosine of same-index rows is {mw.records()['shipped_same_index_cosine_mean']:.2f} (independent random rows: "
      f"about ±{1 / model.cfg.d_model ** 0.5:.2f})")

cross_set = sets["skip", SEEDS[0]]  # different starting seeds per layer
cross_index = {layer: FeatureIndex(tc, inputs[tc.cfg.hook_in], context_rows) for layer, tc in enumerate(cross_set)}
gen = torch.Generator().manual_seed(SEED)
cross = []
for early in range(n_layers):
    for late in range(early + 1, n_layers):
        a, b = cross_set[early].W_dec.detach(), cross_set[late].W_dec.detach()
        found = torch.nonzero(cosines(a, b) > COSINE)
        nulls = []
        for _ in range(N_NULL):
            rotation, _ = torch.linalg.qr(torch.randn(b.shape[1], b.shape[1], generator=gen))
            nulls.append(int((cosines(a, b @ rotation) > COSINE).sum()))
        cross.append({"layers": f"L{early}-L{late}", "pairs": len(found), "null max": max(nulls),
                      "null mean": float(np.mean(nulls)), "early": early, "late": late})
cross = pd.DataFrame(cross)
# The largest cosine between layers, against the same statistic under the null; and the power of the count: the
# same count after planting 20 of layer 0's directions (plus noise, cosine about 0.9) among layer 1's rows.
largest = max(float(cosines(cross_set[e].W_dec, cross_set[l_].W_dec).max())
              for e in range(n_layers) for l_ in range(e + 1, n_layers))
null_largest = []
for _ in range(N_NULL):
    rotation, _ = torch.linalg.qr(torch.randn(model.cfg.d_model, model.cfg.d_model, generator=gen))
    null_largest.append(float(cosines(cross_set[0].W_dec, cross_set[1].W_dec @ rotation).max()))
planted = cross_set[1].W_dec.detach().clone()
rows = torch.randperm(len(planted), generator=gen)[:20]
source = torch.nn.functional.normalize(cross_set[0].W_dec.detach()[rows], dim=1)
planted[rows] = source + 0.45 * torch.nn.functional.normalize(torch.randn(20, planted.shape[1], generator=gen), dim=1)
mw.record("cross_max_cosine", largest)
mw.record("cross_null_max_cosine", max(null_largest))
mw.record("cross_planted_found", int((cosines(cross_set[0].W_dec.detach(), planted) > COSINE).sum()))
mw.record("cross_max_over_null", largest - max(null_largest))
mw.record("cross_pairs_total", int(cross["pairs"].sum()))
mw.record("cross_null_max_total", int(cross["null max"].sum()))
mw.record("cross_pairs_adjacent", int(cross.loc[cross.late == cross.early + 1, "pairs"].sum()))
mw.record("cross_pairs_over_null", int(cross["pairs"].sum() - cross["null max"].sum()))
cross[["layers", "pairs", "null max", "null mean"]].style.hide(axis="index")

# %%
# The three most aligned pairs of features of different layers (above COSINE or not), with their top contexts.
best = []
for early in range(n_layers):
    for late in range(early + 1, n_layers):
        cos = cosines(cross_set[early].W_dec.detach(), cross_set[late].W_dec.detach())
        values, flat = cos.flatten().topk(3)
        best += [(float(v), early, late, *divmod(int(f), cos.shape[1])) for v, f in zip(values, flat)]
for cos, early, late, i, j in sorted(best, reverse=True)[:3]:
    print(f"L{early} #{i} / L{late} #{j} (cosine {cos:.2f})\n  earlier:\n    "
          + contexts_of(early, i, 2, cross_index).replace("\n", "\n    ") + "\n  later:\n    "
          + contexts_of(late, j, 2, cross_index).replace("\n", "\n    "))

# %% [markdown]
# ## 7. End to end
#
# Stefan asks for a small model understood from its first layer to its last through sparse connections between
# adjacent layers' features. Two numbers say how far our graphs are from that. How sparse are the connections: of
# all the possible edges between the active features of adjacent layers, what share carries 90% of their mass?
# And for one story's prediction, traced from the tokens to the logit through features only, what share of the
# path mass do the error terms leave unexplained?

# %%
sparsity = pd.Series([adjacent_edges_needed(g, 0.9) for g in random_graphs]).dropna()
mw.record("adjacent_edges_90_median", float(sparsity.median()))
traced = random_graphs[0]
traced_shares = traced.shares()
mw.record("traced_error_share", sum(v for k, v in traced_shares.items() if "error" in k))
mw.record("traced_nodes_80", len(traced.prune(0.8)) - 1)
print(f"traced: {tokenizer.decode(traced.tokens[1:])!r} -> {traced.nodes[-1].label}")
graph_view(traced, share=0.8)

# %% [markdown]
# ## What we found

# %%
r = mw.records()
if not r["trained"]:
    found = [mw.untrained_finding(MODEL, model_loss, model.cfg.d_vocab, "its circuits")]
else:
    found = [
        f"The graph adds up: on the indirect-object prompt every node's incoming edges plus its bias equal its value "
        f"within {r['graph_check_sum']:.0e}, and the leaves' paths add up to the logit difference within "
        f"{r['graph_leaf_sum_gap']:.0e}. It has {r['graph_nodes']} nodes ({r['graph_features']} features) and was "
        f"built in {r['graph_seconds']:.2f} s; {r['graph_kept_features']} features are left after pruning to "
        f"{SHARE:.0%}.",
        f"Interventions: zeroing each of {r['check_n']} strong features, the graph's predicted change and the "
        f"measured one agree to {r['check_gap_all_held']:.0e} when patterns, scales and TopK are held (the model the "
        f"graph describes). In the live replacement model they correlate at r = {r['check_r_live']:.2f} (Spearman "
        f"{r['check_spearman_live']:.2f}); holding the patterns and scales alone brings r to "
        f"{r['check_r_patterns_scales']:.2f}, the patterns alone to {r['check_r_patterns']:.2f}. So TopK's choices "
        "cost little, and what the linear graph misses is attention patterns that move when a feature is switched "
        f"off. Live, the {r['check_n_layer0']} features of layer 0 are predicted at r = "
        f"{r['check_r_live_layer0']:.2f} and the {r['check_n_later']} of later layers at "
        f"{r['check_r_live_later']:.2f}"
        + (": no better for features that fewer heads read after them." if abs(r["check_r_live_layer0"]
                                                                              - r["check_r_live_later"]) < 0.15 else
           (": the early features, which every later head's queries and keys can read, are the worse predicted."
            if r["check_r_live_layer0"] < r["check_r_live_later"] else ": the later features are the worse predicted.")),
        f"Random inputs ({N_RANDOM} held-out positions): the error terms start a median "
        f"{r['error_share_total']:.1%} of the path mass (90th percentile {r['error_share_total_p90']:.1%}), by layer "
        + ", ".join(f"L{layer} {r[f'error_share_L{layer}']:.1%}" for layer in range(n_layers)) +
        f". A pruned graph needs a median {r['nodes_80_median']:.0f} nodes for 80% and {r['nodes_90_median']:.0f} "
        f"for 90% (of {r['nodes_median']:.0f}). Paths are many: {r['paths_80_found']} of {N_PATHS} graphs reach 80% "
        f"within {MAX_PATHS:,} paths (median {r['paths_80_median']:,.0f}), {r['paths_90_found']} reach 90%.",
        f"Indirect objects: the circuits pruned to {SHARE:.0%} keep a median {r['ioi_kept_features_median']:.0f} of "
        f"{r['ioi_features_median']:.0f} features and are {r['ioi_faithfulness_median']:.0%} faithful (lowest "
        f"{r['ioi_faithfulness_min']:.0%}" + ("; above 100%, the features left out push, on net, against the answer"
                                               if r["ioi_faithfulness_median"] > 1.05 else "") + "). The graph's token attribution over the named positions ranks them like "
        f"patching at the embeddings (Spearman {r['ioi_position_spearman']:.2f} over {len(POSITIONS)} positions), "
        f"and the three name positions hold {r['ioi_graph_names_share']:.2f} of the logit difference in the graph. "
        "At the three names the two " + ("agree in sign" if r["ioi_names_signs_agree"] else "disagree in sign") +
        " (the indirect object and the subject's second mention push for the answer, its first mention against), "
        f"and patching's effects are {r['ioi_patch_over_graph_names']:.1f} times the graph's (median): one changed "
        "name also changes where the heads attend, which frozen patterns leave out.",
        f"Induction: the answer's earlier copy carries a median {r['induction_graph_value_share']:.2f} of the "
        f"target in the graph, the current token's earlier copy {r['induction_graph_key_share']:.2f}. Corrupting "
        f"them costs {r['induction_corrupt_value_drop']:.2f} and {r['induction_corrupt_key_drop']:.2f} of it: the "
        "key side matters as much to the model while the graph, with patterns frozen, cannot credit it. Pruned "
        f"circuits are {r['induction_faithfulness_median']:.0%} faithful.",
        f"Skip path at equal L0 (k = {tc_k}, width {WIDTH}, {len(SEEDS)} seeds): mean FVU "
        f"{r['arch_fvu_skip']:.3f} with it against {r['arch_fvu_no_skip']:.3f} without (worst seed with it "
        f"{r['arch_fvu_skip_max']:.3f}, best without {r['arch_fvu_no_skip_min']:.3f}); loss recovered with all four "
        f"spliced {r['arch_loss_recovered_skip']:.3f} against {r['arch_loss_recovered_no_skip']:.3f}. The skip path "
        f"alone explains {r['arch_skip_share_mean']:.0%} of an MLP's output variance on average (up to "
        f"{r['arch_skip_share_max_layer']:.0%} in one layer).",
        f"The edge penalty (weight {PENALTY}) does what it optimises: the summed absolute edges between adjacent "
        f"layers' features fall from {r['arch_edge_mass_skip']:.1f} to {r['arch_edge_mass_penalty']:.1f} per prompt "
        f"(median), and pruned graphs need {r['arch_nodes80_penalty']:.0f} nodes for 80% instead of "
        f"{r['arch_nodes80_skip']:.0f}, at a loss recovered of {r['arch_loss_recovered_penalty']:.3f} (from "
        f"{r['arch_loss_recovered_skip']:.3f}). The share of adjacent edges needed for 90% of their mass goes from "
        f"{r['arch_edges90_skip']:.3f} to {r['arch_edges90_penalty']:.3f}"
        + (": the penalty shrinks the large edges most, so what is left is spread more evenly, not sparser."
           if r["arch_edges90_penalty"] > r["arch_edges90_skip"] else "."),
        f"Width (and training budget): on the same prompts the shipped transcoders ({tc_width} features) leave "
        f"{r['width_error_share_shipped']:.1%} of the path mass to their errors, a trained set of {WIDTH} "
        f"{r['width_error_share_trained']:.1%}; pruned graphs of the shipped set need {r['width_nodes80_shipped']:.0f} "
        f"nodes for 80%, of the trained set {r['arch_nodes80_skip']:.0f}.",
        f"Cross-layer superposition: the shipped transcoders share their decoders' starting seed, and it shows: "
        f"{r['shipped_aligned_pairs_L0_L1']} pairs of layer-0 and layer-1 features have a cosine above {COSINE}, "
        f"{r['shipped_aligned_same_index_share']:.0%} of them a row and the row of the same index, and same-index rows "
        f"keep a mean cosine of {r['shipped_same_index_cosine_mean']:.2f}. On a set trained from different seeds per "
        f"layer, {r['cross_pairs_total']} pairs of features of different layers write nearly the same direction "
        f"({r['cross_pairs_adjacent']} in adjacent layers), against at most {r['cross_null_max_total']} under the "
        f"rotated null; the largest cosine between layers is {r['cross_max_cosine']:.2f}, under the null "
        f"{r['cross_null_max_cosine']:.2f}. The count would have seen them: of 20 planted copies it finds "
        f"{r['cross_planted_found']}."
        + ((" No pair comes near a copy, but the largest cosine is above the null's: some directions are shared "
            "weakly across layers, none duplicated." if r["cross_max_over_null"] > 0 else
            " So at this width we find no cross-layer superposition by direction.")
           if r["cross_pairs_over_null"] <= 0 else ""),
        f"End to end: between adjacent layers a median {r['adjacent_edges_90_median']:.1%} of the possible "
        f"feature-to-feature edges carry 90% of their mass. The traced story's prediction leaves "
        f"{r['traced_error_share']:.1%} of its path mass to the error terms, with {r['traced_nodes_80']} nodes "
        "for 80%.",
    ]
mw.findings(*found)

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to write a piece of this chapter's method. The check under it runs your function on a
# few inputs (the shipped transcoders of layers 0 and 1, random tensors, or small hand-made graphs) and says
# PASSED, FAILED with what is wrong, or "not attempted" while your stub is untouched.
#
# ```{exercise} The input-invariant term
# :label: ex-circuits-virtual-weight
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 10 min
#
# Feature `j` of transcoder `early` writes its decoder row (divided by `early.scale_out`) into the residual stream;
# feature `i` of the next layer's transcoder `late` reads the residual through a LayerNorm (centre it, divide by
# the scale) and then `late.scale_in * x @ late.W_enc[i]`. Return the part of the edge that does not depend on the
# input, per unit of feature j's activation and before the LayerNorm's scale: a float.
# ```
#
# <details><summary>Hint</summary>
#
# Centring is symmetric: centring what is written and reading it with `W_enc[i]` gives the same number as reading
# it with `W_enc[i]` centred.
#
# </details>

# %%
def virtual_weight(early, late, j, i):
    """(W_dec[j] / scale_out) · (centred W_enc[i] · scale_in), a float."""
    # BEGIN SOLUTION (stub: return None)
    read = late.W_enc[i] - late.W_enc[i].mean()
    return float((early.W_dec[j] @ read * late.scale_in / early.scale_out).detach())
    # END SOLUTION


# %%
exercises.check_virtual_weight(virtual_weight, strict=STRICT)

# %% [markdown]
# ```{exercise} One route through a head with its pattern frozen
# :label: ex-circuits-head-route
#
# **Difficulty** 3/5 · **Importance** 4/5 · **Time** 15 min
#
# `write` [d_model] is what a source writes at its position; the head's LayerNorm there centres it, divides it by
# its frozen `scale` and multiplies it by `ln_weight`; the OV map `W_V @ W_O` ([d_model, d_head] then
# [d_head, d_model]) carries it, times the frozen attention `weight` from the reader's position to the source's;
# the reader takes the dot product with `read` [d_model]. Return that part of the edge, a float.
# ```
#
# <details><summary>Hint</summary>
#
# Everything is linear once the weight and the scale are frozen: `weight * (value @ W_V @ W_O @ read)`.
#
# </details>

# %%
def head_route(write, read, weight, scale, ln_weight, W_V, W_O):
    """The part of an edge through one head with its pattern frozen (float)."""
    # BEGIN SOLUTION (stub: return None)
    value = (write - write.mean()) / scale * ln_weight
    return float(weight * (value @ W_V @ W_O @ read))
    # END SOLUTION


# %%
exercises.check_head_route(head_route, strict=STRICT)

# %% [markdown]
# ```{exercise} The error term
# :label: ex-circuits-error-term
#
# **Difficulty** 1/5 · **Importance** 5/5 · **Time** 5 min
#
# Given a transcoder `tc`, its inputs `x` [rows, d_model] (an MLP's normalised input) and the MLP's outputs
# `mlp_out` [rows, d_model], return the error term of every row: what the MLP wrote that the transcoder misses.
# ```
#
# <details><summary>Hint</summary>
#
# `tc(x)` is the transcoder's full output, skip path and scales included.
#
# </details>

# %%
def error_term(tc, x, mlp_out):
    """The MLP's output minus the transcoder's: [rows, d_model]."""
    # BEGIN SOLUTION (stub: return None)
    return mlp_out - tc(x)
    # END SOLUTION


# %%
exercises.check_error_term(error_term, strict=STRICT)

# %% [markdown]
# ```{exercise} Pruning by share
# :label: ex-circuits-prune
#
# **Difficulty** 3/5 · **Importance** 4/5 · **Time** 15 min
#
# Given an `AttributionGraph` and a share, return the sorted list of node indices that `graph.prune(share)`
# returns: rank the nodes (all but the target) by `graph.mass_through()`, largest first, and keep the shortest
# prefix of that ranking whose paths carry at least `share` of the path mass (`graph.carried(prefix)`), plus the
# target.
# ```
#
# <details><summary>Hint</summary>
#
# A linear scan over prefix lengths is fine here; `prune` bisects, since carrying only grows with the prefix.
#
# </details>

# %%
def prune_graph(graph, share):
    """The node indices a graph pruned to ``share`` keeps, the target included, sorted."""
    # BEGIN SOLUTION (stub: return None)
    through = graph.mass_through()
    order = sorted((i for i in range(len(graph.nodes)) if i != graph.target), key=lambda i: -float(through[i]))
    for n in range(len(order) + 1):
        if graph.carried(order[:n]) >= share - 1e-9:
            return sorted(order[:n] + [graph.target])
    return sorted(order + [graph.target])
    # END SOLUTION


# %%
exercises.check_prune_graph(prune_graph, strict=STRICT)

# %% [markdown]
# ## Going further
#
# * **Heads as nodes.** Our edges sum over heads. Split each edge by the heads it passes through
#   (`adjacent_routes` does it between adjacent layers) and find the heads an indirect-object circuit uses: are
#   they the ones [Patching](../41_patching/41_patching.ipynb) found?
# * **Unfreezing the patterns.** Section 2 shows what frozen patterns miss. Add the query-key side: the gradient of
#   an attention pattern with respect to a feature at the key position, as a second kind of edge.
# * **A better penalty.** The edge penalty leaves routes through heads out. Penalise them too, with the frozen
#   patterns of each training batch, and see whether the graph gets sparser at the same loss.
# * **Cross-layer transcoders.** Where features of adjacent layers write the same direction, a single dictionary
#   that reads one layer and writes to every later one might merge them; train one and count again.
# * **Another model.** Run this notebook with `MODEL = "stories-gelu-2l"`: does the shallower model leave less to
#   the error terms?
#
# ## References
#
# * Dunefsky, Chlenski, Nanda (2024). Transcoders Find Interpretable LLM Feature Circuits. arXiv:2406.11944.
# * Ameisen, Lindsey et al. (2025). Circuit Tracing: Revealing Computational Graphs in Language Models.
#   transformer-circuits.pub.
# * Marks, Rager, Michaud et al. (2024). Sparse Feature Circuits. arXiv:2403.19647.
# * Wang, Variengien, Conmy, Shlegeris, Steinhardt (2022). Interpretability in the Wild. arXiv:2211.00593.
# * Olsson, Elhage, Nanda et al. (2022). In-context Learning and Induction Heads. transformer-circuits.pub.
