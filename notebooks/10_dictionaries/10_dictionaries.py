# %% [markdown]
# # Sparse dictionaries: SAEs and transcoders on a model organism
#
# > **You will learn to** train a TopK SAE and a transcoder, and judge them by FVU, sparsity, dead
# > latents and the spliced-in loss, knowing which baseline flatters.
# >
# > **You need:** [Start here](../00_start/00_start.ipynb), [The model
# > organisms](../01_models/01_models.ipynb).
# >
# > **Time:** about 75 min to study and do the exercises; the full run takes about 8.2 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** A model's activations mix many more features than they have dimensions. A sparse
# [dictionary](../glossary.md#g-dictionary) (a sparse autoencoder, SAE) rewrites each activation as a few active latents out of
# thousands, each latent a direction, in the hope that the latents are the features the model uses.
# How well does that work on our 4-layer model: how much of the activation does a dictionary keep,
# at what sparsity, and how much of the model's behaviour survives when the dictionary's
# reconstruction replaces the real activation? And what does a transcoder, which reconstructs an MLP's
# output from its input, add?
#
# This notebook trains both kinds with `mi_widgets` (the same code trained the dictionaries shipped in
# `data/dictionaries/`), measures them, and reads a few latents. The later notebooks (geometry,
# feature splitting, the pre-unembed [logit lens](../glossary.md#g-logit-lens)) build on the shipped dictionaries.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-4l"  # the shipped dictionaries belong to this model; or a TransformerLens name (online)
DEVICE = "cpu"  # "cuda" on a GPU machine
LAYER = None  # residual stream after this block (None: the middle one, 2 of 4); the transcoder reads its MLP
WIDTH = 2048  # latents
K = 16  # active latents per token (TopK)

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import HTML, display

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.dictionaries.feature_index import FeatureIndex
from mi_widgets.dictionaries.metrics import reconstruction_stats, splice_stats
from mi_widgets.organisms.corpus import row_length, story_rows
from mi_widgets.widgets import feature_dashboard

torch.manual_seed(SEED)
HARVEST_ROWS = 80 if SMOKE else 2400  # rows of 256 tokens to learn from (20k or 612k tokens)
TRAIN_TOKENS = 100_000 if SMOKE else 2_000_000  # tokens seen while training (several passes)
EVAL_ROWS = 8 if SMOKE else 64  # held-out rows for every metric
FRONTIER_KS = (8, 32) if SMOKE else (4, 8, 16, 32, 64)
L1_COEFFS = (20.0,) if SMOKE else (5.0, 20.0, 80.0)
SEEDS = [SEED] if SMOKE else [SEED, SEED + 1, SEED + 2]  # training seeds behind each claimed number

# %% [markdown]
# ## Harvest activations
#
# `mw.harvest_activations` runs the model over token rows in batches and keeps only the [hook points](../glossary.md#g-hook-point)
# asked for; the forward pass stops after the last block those need. Position 0 (the BOS token) is
# dropped: its activations are outliers that a dictionary should not spend latents on. We take
# training stories from the generator (fresh ones, not the model's own training text) and hold out
# validation stories for every measurement.

# %%
model = mw.load_model(MODEL, device=DEVICE)
LAYER = model.cfg.n_layers // 2 if LAYER is None else LAYER
if not 0 <= LAYER < model.cfg.n_layers:
    raise ValueError(f"LAYER must be in 0..{model.cfg.n_layers - 1} for {MODEL}, got {LAYER}")
resid = f"blocks.{LAYER}.hook_resid_post"
mlp_in, mlp_out = f"blocks.{LAYER}.ln2.hook_normalized", f"blocks.{LAYER}.hook_mlp_out"
hooks = [resid, mlp_in, mlp_out]

n_ctx = row_length(model)  # 256 tokens, or the model's context if shorter
train_rows = story_rows(model.tokenizer, HARVEST_ROWS, n_ctx, seed=SEED + 10, split="train")
val_rows = story_rows(model.tokenizer, EVAL_ROWS, n_ctx, seed=SEED + 10, split="val")
acts = mw.harvest_activations(model, hooks, train_rows)
val_acts = mw.harvest_activations(model, hooks, val_rows, progress=False)
for hook in hooks:
    print(f"{hook:32s} train {tuple(acts[hook].shape)}  held-out {tuple(val_acts[hook].shape)}")

# %% [markdown]
# ## Train a TopK SAE
#
# A [TopK SAE](../glossary.md#g-topk) keeps, for each token, the `K` largest of `WIDTH` encoder outputs and sets the rest to
# zero; the decoder adds up those `K` unit-norm directions. Sparsity is fixed by construction, so the
# only thing to trade is reconstruction. The trainer scales inputs to a fixed mean norm, starts the
# encoder as the decoder's transpose, and uses an auxiliary loss that lets latents which stopped
# firing learn to explain what the live ones miss (dead-latent revival).
#
# **How to score a splice.** Spliced into the model in place of the activation, the SAE raises the
# next-token loss a little. The usual summary, "loss recovered" against *zeroing* the activation, is weak
# here: zeroing a [residual stream](../glossary.md#g-residual-stream) costs more than a uniform guess over the vocabulary, so even an SAE that
# doubled the loss would score above 0.9. We report the increase itself (in nats, and as a share of the
# clean loss), which is what we hold the SAEs to, and loss recovered against *mean* ablation (every
# position given the stream's mean activation). Mean ablation is a fair baseline for one MLP's output,
# less so for a whole residual stream: the cell below says what it costs here.

# %%
sae = mw.Dictionary(mw.DictConfig(d_in=model.cfg.d_model, width=WIDTH, k=K, hook_in=resid, model=MODEL), seed=SEED)
run = mw.train_dictionary(sae, acts[resid], mw.TrainSettings(tokens=TRAIN_TOKENS, seed=SEED))
stats = reconstruction_stats(sae, val_acts[resid])
splice = splice_stats(model, sae, val_rows)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(pd.Series(run.mse).rolling(10, min_periods=1).mean())
ax.set(xlabel="step", ylabel="MSE per dimension (scaled data)", yscale="log", title=f"TopK SAE on {resid}")
plt.show()

# %%
print(f"{run.tokens:,} tokens in {run.seconds:.1f} s ({run.tokens_per_second:,.0f} tokens/s)")
pd.DataFrame([{**stats.as_dict(), **splice.as_dict()}]).round(3)

# %% tags=["hide-input"]
mw.record("sae_fvu", round(stats.fvu, 4))
mw.record("sae_l0", stats.l0)
mw.record("sae_dead_fraction", stats.dead_fraction)
mw.record("sae_loss_increase", round(splice.loss_increase, 4))
mw.record("sae_relative_increase", round(splice.relative_increase, 4))
mw.record("sae_loss_recovered_mean", round(splice.loss_recovered_mean, 4))
mw.record("sae_loss_recovered_zero", round(splice.loss_recovered, 4))
mw.record("uniform_loss", round(float(torch.log(torch.tensor(float(model.cfg.d_vocab)))), 4))
mw.record("sae_loss_zero_ablated", round(splice.loss_zero, 4))
mw.record("sae_loss_mean_ablated", round(splice.loss_mean, 4))

# %% [markdown]
# **Other seeds.** One training run is one draw. The same SAE trained from two more seeds shows how much
# of each number is the seed ([smoke mode](../glossary.md#g-smoke) trains one).

# %%
seed_rows = []
for seed in SEEDS:
    d = sae if seed == SEED else mw.Dictionary(
        mw.DictConfig(d_in=model.cfg.d_model, width=WIDTH, k=K, hook_in=resid, model=MODEL), seed=seed)
    if seed != SEED:
        mw.train_dictionary(d, acts[resid], mw.TrainSettings(tokens=TRAIN_TOKENS, seed=seed, progress=False))
    s, sp = reconstruction_stats(d, val_acts[resid]), splice_stats(model, d, val_rows)
    seed_rows.append(dict(seed=seed, fvu=s.fvu, dead=s.dead_fraction, relative_increase=sp.relative_increase,
                          loss_recovered_mean=sp.loss_recovered_mean))
seed_table = pd.DataFrame(seed_rows).set_index("seed")
mw.record("sae_seeds", len(seed_table))
mw.record("sae_seeds_fvu_max", round(float(seed_table.fvu.max()), 4))
mw.record("sae_seeds_relative_increase_max", round(float(seed_table.relative_increase.max()), 4))
mw.record("sae_seeds_loss_recovered_mean_min", round(float(seed_table.loss_recovered_mean.min()), 4))
mw.record("sae_seeds_dead_fraction_max", round(float(seed_table.dead.max()), 4))
seed_table.round(4)


# %% [markdown]
# ## The sparsity-reconstruction frontier
#
# Every dictionary trades sparsity (L0, the number of active latents per token) against fidelity ([FVU](../glossary.md#g-fvu),
# the fraction of variance left unexplained). We train TopK SAEs over a range of `k`, and ReLU SAEs
# whose sparsity comes from an L1 penalty of different strengths, at a fifth of the token budget each,
# and plot both frontiers. Lower and further left is better.

# %%
frontier = []
for k in FRONTIER_KS:
    d = mw.Dictionary(mw.DictConfig(d_in=model.cfg.d_model, width=WIDTH, k=k, hook_in=resid), seed=SEED)
    mw.train_dictionary(d, acts[resid], mw.TrainSettings(tokens=TRAIN_TOKENS // 5, seed=SEED, progress=False))
    s = reconstruction_stats(d, val_acts[resid])
    frontier.append(dict(kind="TopK", setting=f"k={k}", l0=s.l0, fvu=s.fvu, dead=s.dead_fraction))
for l1 in L1_COEFFS:
    d = mw.Dictionary(mw.DictConfig(d_in=model.cfg.d_model, width=WIDTH, kind="relu", hook_in=resid), seed=SEED)
    mw.train_dictionary(d, acts[resid], mw.TrainSettings(tokens=TRAIN_TOKENS // 5, l1_coeff=l1, seed=SEED,
                                                         progress=False))
    s = reconstruction_stats(d, val_acts[resid])
    frontier.append(dict(kind="ReLU+L1", setting=f"l1={l1:g}", l0=s.l0, fvu=s.fvu, dead=s.dead_fraction))
frontier = pd.DataFrame(frontier)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 3.5))
for kind, part in frontier.groupby("kind"):
    ax.plot(part.l0, part.fvu, "o-", label=kind)
    for row in part.itertuples():
        ax.annotate(row.setting, (row.l0, row.fvu), fontsize=8, xytext=(3, 3), textcoords="offset points")
ax.set(xscale="log", xlabel="L0 (active latents per token)", ylabel="FVU", title=f"Frontier on {resid}")
ax.margins(x=0.12, y=0.08)  # room for the labels of the end points
ax.legend()
plt.show()

# %%
topk = frontier[frontier.kind == "TopK"]
mw.record("frontier_fvu_falls_with_k", bool((topk.fvu.diff().dropna() < 0).all()))
mw.record("frontier_fvu_at_smallest_k", round(float(topk.fvu.iloc[0]), 4))
mw.record("frontier_fvu_at_largest_k", round(float(topk.fvu.iloc[-1]), 4))
frontier.round(3)

# %% [markdown]
# ## A transcoder, with and without a skip path
#
# A transcoder is a dictionary whose decoder writes the MLP's *output* from latents of the MLP's
# *input*: a sparse, more interpretable stand-in for the MLP. Apollo Research's list of project ideas asks whether a linear skip path
# (input to output, dense, not counted in L0) helps: it can carry the part of the MLP that is nearly
# linear, leaving the latents for the rest. We train both on the same data, from each of the seeds, and
# splice each in place of the MLP.

# %%
rows = []
for seed in SEEDS:
    for skip in (False, True):
        tc = mw.Dictionary(mw.DictConfig(d_in=model.cfg.d_model, width=WIDTH, k=K, d_out=model.cfg.d_model, skip=skip,
                                         hook_in=mlp_in, hook_out=mlp_out), seed=seed)
        mw.train_dictionary(tc, acts[mlp_in], mw.TrainSettings(tokens=TRAIN_TOKENS, seed=seed, progress=False),
                            y=acts[mlp_out])
        s = reconstruction_stats(tc, val_acts[mlp_in], val_acts[mlp_out])
        sp = splice_stats(model, tc, val_rows)
        rows.append(dict(seed=seed, skip=skip, fvu=s.fvu, l0=s.l0, dead=s.dead_fraction,
                         loss_increase=sp.loss_increase, loss_recovered_mean=sp.loss_recovered_mean))
transcoders = pd.DataFrame(rows)
by_skip = transcoders.pivot(index="seed", columns="skip", values="fvu")
gain = by_skip[False] - by_skip[True]  # FVU the skip path saves, per seed
mw.record("transcoder_fvu_no_skip", round(float(by_skip[False].mean()), 4))
mw.record("transcoder_fvu_skip", round(float(by_skip[True].mean()), 4))
mw.record("transcoder_skip_gain_min", round(float(gain.min()), 4))
mw.record("transcoder_skip_gain_max", round(float(gain.max()), 4))
mw.record("transcoder_skip_helps_seeds", int((gain > 0).sum()))
mw.record("transcoder_seeds", len(gain))
mw.record("transcoder_dead_fraction_max", round(float(transcoders.dead.max()), 4))
transcoders.round(3)


# %% [markdown]
# ## A look at a few latents
#
# What does a latent respond to? `FeatureIndex` encodes the held-out tokens once and stores every
# latent's activations; the feature dashboard then shows one latent: how often it fires, the histogram
# of its activations, the output tokens its decoder direction raises and lowers most through the
# unembedding (the direct path only), and the contexts where it is most active, each token coloured by
# the latent's activation (the underlined token is the maximum). We show the most frequent latent that
# is not dense, one of middling frequency and one of the rarest that still fire. In JupyterLab,
# `feature_dashboard(model, index).widget()` gives a box to type any latent number.

# %%
index = FeatureIndex(sae, val_acts[resid], val_rows)
rates = index.densities()
alive = torch.nonzero((rates > 0) & (rates < 0.1)).flatten()
by_rate = alive[rates[alive].argsort(descending=True)]
picks = {"frequent": int(by_rate[0]), "middling": int(by_rate[len(by_rate) // 2]), "rare": int(by_rate[-1])}
for label, latent in picks.items():
    display(HTML(f"<h4>{label}</h4>"), feature_dashboard(model, index, latent, n_contexts=6))

# %% [markdown]
# The same dashboard as a live widget: in JupyterLab, type a latent number and it redraws. In the
# book there is no Python behind the page, so the widget shows the latent it was saved with (the page
# loads the widget manager from the site itself, not from a CDN).

# %%
feature_dashboard(model, index, picks["middling"], n_contexts=4).widget()

# %% [markdown]
# ## The shipped dictionaries
#
# `make models` trains these for the 4-layer model (`python -m mi_widgets.dictionaries.shipped`); each has a
# card in its folder. Metrics are on held-out stories. The residual SAEs are the ones the bar below is
# about: spliced in, each should raise the loss by at most 20% of the clean loss and recover at least 95%
# against mean ablation, with under 5% dead latents.
# A latent counts as dead here if it never fires on any of the held-out tokens (`n_tokens` in the
# table), enough tokens that a latent which is merely rare still shows up. The widest SAE has 4096
# latents: at 8192, many latents never fired, whatever revival we tried (the auxiliary loss, restarts on
# badly explained tokens, more training data).

# %%
SHIPPED_FOR = mw.dictionaries.shipped.MODEL  # the model the shipped dictionaries were trained on
if MODEL != SHIPPED_FOR:
    print(f"No dictionaries ship for {MODEL}: this section and the next describe those shipped for {SHIPPED_FOR}.")
names = mw.bundled_dictionaries(SHIPPED_FOR)
shipped = []
for name in names:
    meta = mw.load_dictionary(name, SHIPPED_FOR).meta
    cfg, m = meta["config"], meta["metrics"]
    shipped.append(dict(name=name, reads=cfg["hook_in"], width=cfg["width"], k=cfg["k"], fvu=m["fvu"], l0=m["l0"],
                        dead=m["dead_fraction"], n_tokens=m["n_tokens"], loss_increase=m["loss_increase"],
                        relative_increase=m["relative_increase"], loss_recovered_mean=m["loss_recovered_mean"],
                        loss_recovered_zero=m["loss_recovered"]))
shipped = pd.DataFrame(shipped)
resid_saes = shipped[shipped.name.str.fullmatch(r"resid\d+")]
mw.record("shipped_count", len(shipped))
mw.record("shipped_resid_max_relative_increase", round(float(resid_saes.relative_increase.max()), 4))
mw.record("shipped_resid_min_loss_recovered_mean", round(float(resid_saes.loss_recovered_mean.min()), 4))
mw.record("shipped_resid_min_loss_recovered_zero", round(float(resid_saes.loss_recovered_zero.min()), 4))
mw.record("shipped_resid_max_l0", float(resid_saes.l0.max()))
main_saes = shipped[~shipped.name.str.endswith("-tc")]
mw.record("shipped_sae_max_dead_fraction", round(float(main_saes.dead.max()), 4))
widest = shipped.loc[shipped[shipped.name.str.startswith("resid")].width.idxmax()]  # of the residual SAEs
mw.record("shipped_widest_sae", widest["name"])
mw.record("shipped_widest_sae_dead_fraction", round(float(widest.dead), 4))
mw.record("shipped_transcoder_max_dead_fraction", round(float(shipped[shipped.name.str.endswith("-tc")].dead.max()), 4))
shipped.round(3)

# %%
import json

frontier_file = mw.models.data_dir() / "dictionaries" / SHIPPED_FOR / "frontier.json"
shipped_frontier = json.loads(frontier_file.read_text())
points = pd.DataFrame(shipped_frontier["points"])

# %% tags=["hide-input"]
fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
ax[0].plot(points.l0, points.fvu, "o-")
ax[0].set(ylabel="FVU", title="shipped frontier: FVU")
ax[1].plot(points.l0, points.loss_recovered, "o-")
ax[1].set(ylabel="fraction of loss recovered", title="shipped frontier: loss")
for a in ax:  # one labelled tick per dictionary (k doubles), none of the log axis's crowded minor labels
    a.set(xscale="log", xlabel="L0 (active latents per token)")
    a.set_xticks(points.l0, [f"{v:.0f}" for v in points.l0])
    a.minorticks_off()
fig.suptitle(f"TopK SAEs on {shipped_frontier['site']}, width {shipped_frontier['width']}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What we found

# %% tags=["hide-input"]
r = mw.records()
mw.findings(
    f"A TopK SAE with {WIDTH} latents and k = {K} on `{resid}` leaves {r['sae_fvu']:.1%} of the variance "
    f"unexplained, with {r['sae_dead_fraction']:.1%} dead latents. Spliced into the model it raises the loss by "
    f"{r['sae_loss_increase']:.3f} nats ({r['sae_relative_increase']:.1%} of the clean loss) and recovers "
    f"{r['sae_loss_recovered_mean']:.1%} of the loss that mean-ablating the stream costs ({r['sae_loss_recovered_zero']:.1%} "
    f"against zero ablation). Both baselines flatter here: zeroing the stream costs {r['sae_loss_zero_ablated']:.1f} "
    f"nats and mean-ablating it {r['sae_loss_mean_ablated']:.1f}, against {r['uniform_loss']:.1f} for a uniform guess, "
    "so the loss increase is the number to compare.",
    f"Over {r['sae_seeds']} training seeds FVU is at most {r['sae_seeds_fvu_max']:.3f}, the loss increase at most "
    f"{r['sae_seeds_relative_increase_max']:.1%} of the clean loss, and loss recovered against mean ablation at least "
    f"{r['sae_seeds_loss_recovered_mean_min']:.1%}.",
    f"Over k, FVU falls from {r['frontier_fvu_at_smallest_k']:.3f} to {r['frontier_fvu_at_largest_k']:.3f} "
    + ("at every step: more latents per token, better reconstruction." if r["frontier_fvu_falls_with_k"]
       else "but not at every step (short training runs are noisy)."),
    f"The transcoder of block {LAYER}'s MLP leaves {r['transcoder_fvu_no_skip']:.1%} of the output variance "
    f"unexplained without a skip path and {r['transcoder_fvu_skip']:.1%} with one (means over {r['transcoder_seeds']} "
    f"seeds); the skip path lowers FVU in {r['transcoder_skip_helps_seeds']} of {r['transcoder_seeds']} seeds, by "
    f"{r['transcoder_skip_gain_min']:+.3f} to {r['transcoder_skip_gain_max']:+.3f}"
    + ("." if r["transcoder_skip_helps_seeds"] == r["transcoder_seeds"] else ": not a reliable gain here.")
    + f" These short runs leave up to {r['transcoder_dead_fraction_max']:.0%} of the transcoders' latents dead.",
    f"{r['shipped_count']} dictionaries ship with {SHIPPED_FOR}. Spliced in, each residual SAE raises the loss by at most "
    f"{r['shipped_resid_max_relative_increase']:.1%} of the clean loss and recovers at least "
    f"{r['shipped_resid_min_loss_recovered_mean']:.1%} of the mean-ablation loss (at least "
    f"{r['shipped_resid_min_loss_recovered_zero']:.1%} against zero ablation), at L0 <= {r['shipped_resid_max_l0']:.0f}; "
    f"the largest dead fraction of the shipped SAEs is {r['shipped_sae_max_dead_fraction']:.1%}"
    + (" (under the 5% bar)" if r["shipped_sae_max_dead_fraction"] < 0.05 else " (above the 5% bar)")
    + f", the widest residual SAE ({r['shipped_widest_sae']}) has {r['shipped_widest_sae_dead_fraction']:.1%}, and the "
    f"worst transcoder {r['shipped_transcoder_max_dead_fraction']:.1%}.",
)

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
# ```{exercise} A TopK encoder
# :label: ex-dict-topk
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 15 min
#
# Write the encoder of a TopK SAE: subtract the decoder bias, project with `W_enc` (`[width, d_in]`) and
# add `b_enc`, keep the `k` largest pre-activations of each row, ReLU them and put them back in a dense
# `[n, width]` array of zeros. This is what `mw.Dictionary.encode` does (with a faster sparse kernel).
# ```
#
# <details><summary>Hint</summary>
#
# `pre.topk(k, dim=-1)` gives values and indices; `torch.zeros_like(pre).scatter(-1, indices, values.relu())`.
#
# </details>

# %%
def topk_encode(x, W_enc, b_enc, b_dec, k: int):
    """Dense TopK codes [n, width]: the k largest of (x - b_dec) @ W_enc.T + b_enc, ReLU'd, the rest 0."""
    # BEGIN SOLUTION (stub: return None)
    pre = (x - b_dec) @ W_enc.T + b_enc
    values, indices = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, indices, values.relu())
    # END SOLUTION


# %%
exercises.check_topk_encode(topk_encode, strict=STRICT)

# %% [markdown]
# ```{exercise} Fraction of variance unexplained
# :label: ex-dict-fvu
#
# **Difficulty** 1/5 · **Importance** 5/5 · **Time** 10 min
#
# FVU is the squared reconstruction error over the data's total variance around its mean: 0 for a
# perfect dictionary, 1 for one that outputs the mean. Return it as a number
# (`mi_widgets.dictionaries.metrics.fvu`; `reconstruction_stats` computes the same in batches).
# ```
#
# <details><summary>Hint</summary>
#
# Centre `x` with its mean over rows, `x.mean(0)`, for the denominator only.
#
# </details>

# %%
def fvu(x, x_hat):
    """Sum of squared errors over the sum of squared deviations of x from its mean."""
    # BEGIN SOLUTION (stub: return None)
    return float((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
    # END SOLUTION


# %%
exercises.check_fvu(fvu, strict=STRICT)

# %% [markdown]
# ```{exercise} Loss recovered
# :label: ex-dict-recovered
#
# **Difficulty** 1/5 · **Importance** 4/5 · **Time** 5 min
#
# Given the clean loss, the loss with the dictionary spliced in and the loss with the site ablated
# (zero or mean), return the share of the ablation's damage that the dictionary undoes. The section
# above says why the choice of ablation matters more than the formula.
# ```
#
# <details><summary>Hint</summary>
#
# 1 when the splice costs nothing, 0 when it is as bad as the ablation.
#
# </details>

# %%
def loss_recovered(clean: float, spliced: float, ablated: float):
    """(ablated - spliced) / (ablated - clean)."""
    # BEGIN SOLUTION (stub: return None)
    return (ablated - spliced) / (ablated - clean)
    # END SOLUTION


# %%
exercises.check_loss_recovered(loss_recovered, strict=STRICT)

# %% [markdown]
# ```{exercise} Dead latents
# :label: ex-dict-dead
#
# **Difficulty** 1/5 · **Importance** 3/5 · **Time** 5 min
#
# A latent is dead on some tokens when it never fires on any of them. From codes `[n, width]`, return
# the share of latents that are dead (what the cards report, over 261k held-out tokens).
# ```
#
# <details><summary>Hint</summary>
#
# `(codes > 0).sum(0)` counts each latent's firings.
#
# </details>

# %%
def dead_fraction(codes):
    """Share of latents with no activation above 0 on any row."""
    # BEGIN SOLUTION (stub: return None)
    return float(((codes > 0).sum(0) == 0).float().mean())
    # END SOLUTION


# %%
exercises.check_dead_fraction(dead_fraction, strict=STRICT)

# %% [markdown]
# ## Going further
#
# Open questions, no checks: change the setup and look.
#
# 1. Set `LAYER = 0` and `LAYER = 3`. Which layer's residual stream is hardest to reconstruct at the same
#    k, and which loses the most loss when spliced? Do FVU and loss recovered rank the layers the same way?
# 2. Turn the auxiliary loss off (`mw.TrainSettings(aux_k=0)`) and count dead latents after training.
# 3. Train with `shuffle=False` in `mw.TrainSettings` (batches in story order). Apollo Research's list of project ideas asks whether
#    shuffling activations matters: compare FVU and dead latents.
# 4. Find a latent that fires on a [planted capability](../glossary.md#g-capability) (say, the name after "said" or the closing quote)
#    and check its top contexts against the generator's labels (`mi_widgets.organisms.stories`).

# %% [markdown]
# ## References
# - Bricken et al. (2023), *Towards Monosemanticity*, Transformer Circuits Thread: SAEs on a small model.
# - Gao et al. (2024), *Scaling and evaluating sparse autoencoders*: TopK SAEs and the auxiliary dead-latent loss.
# - Dunefsky, Chlenski and Nanda (2024), *Transcoders find interpretable LLM feature circuits*.
# - Apollo Research's interpretability team (2024), *A List of 45+ Mech Interp Project Ideas*: "Improving transcoder architectures", the activation
#   shuffling question.
