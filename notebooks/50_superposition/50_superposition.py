# %% [markdown]
# # Toy models of superposition
#
# > **You will learn to** train many small models as one tensor, read superposition off their weights
# > (feature dimensionality, polygons, phase diagrams), and test an SAE where the true features are known.
# >
# > **You need:** [Start here](../00_start/00_start.ipynb); [Sparse dictionaries](../10_dictionaries/10_dictionaries.ipynb)
# > for the last two parts.
# >
# > **Time:** about 90 min to study and do the exercises; the full run takes about 5 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** A layer with m dimensions can hold more than m features if the features are rarely active at
# once: it stores them as almost-orthogonal directions and pays a little interference when two fire together.
# Elhage et al. (2022), "Toy Models of Superposition", showed this in the smallest model that can do it, and
# found that the directions arrange themselves into regular shapes (antipodal pairs, triangles, pentagons) whose
# choice depends on how sparse and how important the features are. We reproduce the paper's main pictures and
# numbers on the CPU, then take up two ideas that build on it:
#
# * **opposing directions** (Dan, in Apollo Research's list of project ideas): do sparse autoencoders learn
#   pairs of opposite directions, and do they on a dense Gaussian cloud, where the only way for a ReLU latent to
#   cover both signs of a direction is to have a partner pointing the other way?
# * **an SAE where the answer is known**: train one on the toy's hidden layer, whose true feature directions
#   are the toy's own weights, and count how many it finds.
#
# Every number below is computed in this run; "What we found" at the end states them.
#
# **What we changed from the paper, and why.** The paper's numbers for Part 1 are those of exact shapes (a regular
# pentagon: D = 2/5 and 72° between neighbours); its sweeps use larger models trained for longer. Ours fit a CPU
# budget: every toy trains for 4,000 Adam steps (1,000 in smoke mode) at learning rate 0.01 with a cosine decay,
# on 1,024 fresh rows a step (512 in Part 3); Part 3 has 100 features in 10 dimensions; and where gradient descent
# can stop in a worse arrangement we train several seeds as instances of one tensor and say how many reach each
# picture, showing the lowest-loss one.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-4l"  # whose SAEs Part 5 measures: shipped for this one; for another model, trained on first use
DEVICE = "cpu"  # "cuda" on a GPU machine (only Part 5's model runs there; the toys are CPU-sized)

# %%
import math

import matplotlib.pyplot as plt
import pandas as pd
import torch

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.analysis.superposition import (STICKY, ToyModel, adjacent_angles, density_sweep, extra_feature_phase,
                                               feature_dimensionality, opposing_share, sticky_share,
                                               sticky_share_by_chance, train_toy)
from mi_widgets.dictionaries.shipped import bundled_dictionaries
from mi_widgets.dictionaries.synthetic_data import recovered_fraction
from mi_widgets.logprobs import is_trained
from mi_widgets.organisms.corpus import row_length, story_rows

torch.manual_seed(SEED)
# Every tensor here is small ([1024 rows, a few dozen instances, a few features]): a second thread mostly waits.
torch.set_num_threads(1)
STEPS = 1_000 if SMOKE else 4_000  # optimiser steps for every toy (the paper's train longer; these converge)
LR = 1e-2  # Adam, decayed to zero on a cosine
REPLICAS = 2 if SMOKE else 4  # seeds per setting, trained as instances of the same tensor
N_DENSITIES = 8  # feature probabilities from 1 down to 0.02 (50^-linspace(0, 1, 8))
PHASE_GRID = 5 if SMOKE else 7  # the phase diagram's cells per axis
PHASE_REPLICAS = 2 if SMOKE else 3  # seeds per cell
SCALE_FEATURES, SCALE_DIMS = (50, 5) if SMOKE else (100, 10)  # Part 3: many features in few dimensions
SCALE_DENSITIES = 6 if SMOKE else 12
SCALE_BATCH = 256 if SMOKE else 512  # rows per step in Part 3 (its steps cost the most)
SETS_SEEDS = 8  # Part 4: seeds per correlation kind (a quarter to half find the antipodal arrangement)
GAUSS_DIM, GAUSS_WIDTH = 8, 32  # Part 5: the Gaussian cloud and the SAEs trained on it
SAE_TOKENS = 75_000 if SMOKE else 500_000  # rows each toy SAE sees while training (256 a step)
GAUSS_SEEDS = 2 if SMOKE else 3  # Part 5: seeds of each kind of SAE
RECOVERY_WIDTHS = (16, 32, 64) if SMOKE else (8, 16, 32, 64, 128)  # Part 6: SAE widths on the toy's hidden layer

# %% [markdown]
# ## Part 1: five features in two dimensions
#
# The model (`ToyModel` in `mi_widgets.analysis.superposition`) takes n = 5 features x, each zero with
# probability 1 - p and otherwise uniform in [0, 1], squeezes them into m = 2 hidden dimensions with a matrix W,
# and reads them back with the same matrix and a ReLU: x' = ReLU(WᵀW x + b). The loss weights feature i's
# squared error by its importance 0.9^i, so feature 0 matters most. Column W_i is feature i's direction in the
# hidden plane.
#
# We train the paper's sweep: one instance for each of 8 feature probabilities from 1 (every feature always
# active, "dense") down to 0.02 (sparse), and `REPLICAS` seeds of each, all as one tensor of instances. For each
# probability we show the replica with the lowest loss: gradient descent can stop in a worse arrangement, and the
# paper's pictures are the best ones found.

# %%
densities = density_sweep(N_DENSITIES)
toy = ToyModel(5, 2, densities.repeat_interleave(REPLICAS), importance=0.9 ** torch.arange(5.0), seed=SEED)
toy_losses = train_toy(toy, steps=STEPS, lr=LR, seed=SEED)
W = toy.W.detach()
dims = feature_dimensionality(W)
best = [g * REPLICAS + int(toy_losses[g * REPLICAS:(g + 1) * REPLICAS].argmin()) for g in range(N_DENSITIES)]


# %% [markdown]
# **Feature dimensionality.** How much of a dimension does feature i have to itself? The paper's measure is
# D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)², with Ŵ_i the unit vector along W_i. A feature alone on its axis has D = 1;
# two features sharing an axis in opposite directions (an antipodal pair) have D = 1/2 each; five features in a
# regular pentagon have D = 2/5; a feature the model dropped has D = 0.

# %%
def regime(d: torch.Tensor, angles: torch.Tensor) -> str:
    """The paper's three pictures, read from one instance's dimensionalities and angles."""
    shown = d[d > 0.1]
    if len(shown) <= 2 and (shown > 0.9).all():
        return "orthogonal"
    if len(shown) == 5 and ((shown - 0.4).abs() <= 0.05).all() and ((angles - 72).abs() <= 5).all():
        return "pentagon"
    if len(shown) >= 2 and ((shown - 0.5).abs() <= 0.07).all():
        return "antipodal pairs"
    return "other"


sweep = pd.DataFrame([{
    "p": float(densities[g]), "loss": float(toy_losses[i]), **{f"D{f}": float(dims[i, f]) for f in range(5)},
    "angles": [round(a) for a in adjacent_angles(W[i]).tolist()],
    "regime": regime(dims[i], adjacent_angles(W[i])),
    "replicas in this regime": sum(regime(dims[j], adjacent_angles(W[j])) == regime(dims[i], adjacent_angles(W[i]))
                                   for j in range(g * REPLICAS, (g + 1) * REPLICAS)),
} for g, i in enumerate(best)])

# %% tags=["hide-input"]
fig, axes = plt.subplots(2, N_DENSITIES // 2, figsize=(8, 4.6))
colours = plt.cm.viridis(torch.linspace(0, 0.9, 5).numpy())
for ax, i, (_, row) in zip(axes.flat, best, sweep.iterrows()):
    for f in range(5):
        ax.plot([0, W[i, 0, f]], [0, W[i, 1, f]], color=colours[f], lw=2)
        ax.scatter(W[i, 0, f], W[i, 1, f], color=colours[f], s=18, zorder=3)
    ax.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), xticks=[], yticks=[], aspect="equal")
    ax.set_title(f"p = {row.p:.2f}\n{row.regime}", fontsize=8)
fig.suptitle("Each feature's direction W_i in the hidden plane (dark: most important)", fontsize=9)
plt.show()

fig, ax = plt.subplots(figsize=(6, 3))
for f in range(5):
    ax.plot(sweep.p, sweep[f"D{f}"], "o-", color=colours[f], label=f"feature {f}")
for value in (1, 1 / 2, 2 / 5):
    ax.axhline(value, color="grey", lw=0.6, ls=":")
ax.set(xscale="log", xlabel="feature probability p (sparser to the left)", ylabel="dimensionality D_i",
       title="Dimensionality of each feature, best replica per p")
ax.invert_xaxis()
ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.28))
plt.show()

# %%
sweep.round(3)

# %%
dense_i, sparse_i = best[0], best[-1]
sparse_angles = adjacent_angles(W[sparse_i])
mw.record("dense_features_above_09", int((dims[dense_i] > 0.9).sum()))
mw.record("dense_replicas_orthogonal", int((sweep.regime.iloc[0] == "orthogonal") * sweep["replicas in this regime"].iloc[0]))
mw.record("sparse_dims_max_dev_from_2_5", float((dims[sparse_i] - 0.4).abs().max()))
mw.record("sparse_angles_count", len(sparse_angles))
mw.record("sparse_angles_max_dev_from_72", float((sparse_angles - 72).abs().max()) if len(sparse_angles) else 180.0)
mw.record("sparse_replicas_pentagon", int((sweep.regime.iloc[-1] == "pentagon") * sweep["replicas in this regime"].iloc[-1]))
order = {"orthogonal": 0, "antipodal pairs": 1, "pentagon": 2}
seen = [order[r] for r in sweep.regime if r in order]
mw.record("regimes_in_order", seen == sorted(seen) and len(set(seen)) == 3)
mw.record("antipodal_densities", int((sweep.regime == "antipodal pairs").sum()))
mw.record("replicas", REPLICAS)

# %% [markdown]
# The pictures run from the paper's dense end (the two most important features get the two dimensions, the rest
# are dropped) through antipodal pairs (two features share a dimension, pointing opposite ways: when one is active
# the other's ReLU output stays at zero) to the pentagon at the sparse end, where all five share the plane at 72°.
# The column "replicas in this regime" says how many of the seeds found the same picture as the best one.

# %% [markdown]
# ## Part 2: the phase diagram for one extra feature
#
# The paper's phase diagram asks when a model gives a feature a dimension, superposes it, or drops it. Take
# n = 2 features and m = 1 dimension. Feature 0 has importance 1; the "extra" feature 1 has importance r relative
# to it. Both have probability p. Over a grid of r and p, the extra feature ends in one of three phases
# (`extra_feature_phase`):
#
# * **not represented** (||W_1|| < 0.5);
# * **own dimension**: it is represented and feature 0 is not;
# * **superposed**: both are represented, sharing the one dimension (necessarily antipodal here).

# %%
importances = torch.logspace(-1, 1, PHASE_GRID)  # r from 0.1 to 10
phase_densities = torch.logspace(0, -2, PHASE_GRID)  # p from 1 to 0.01
grid_r, grid_p = torch.meshgrid(importances, phase_densities, indexing="xy")  # [p, r]
cells = torch.stack([grid_r.flatten(), grid_p.flatten()], 1).repeat_interleave(PHASE_REPLICAS, 0)
phase_toy = ToyModel(2, 1, cells[:, 1], importance=torch.stack([torch.ones(len(cells)), cells[:, 0]], 1), seed=SEED)
phase_losses = train_toy(phase_toy, steps=STEPS, lr=LR, seed=SEED, progress=True)
phase_best = [c * PHASE_REPLICAS + int(phase_losses[c * PHASE_REPLICAS:(c + 1) * PHASE_REPLICAS].argmin())
              for c in range(PHASE_GRID ** 2)]
# Each cell's loss is relative to its own importances: replicas of a cell are compared, never cells.
phases = [extra_feature_phase(phase_toy.W.detach()[i:i + 1])[0] for i in phase_best]
phase_table = pd.DataFrame({"r": grid_r.flatten().tolist(), "p": grid_p.flatten().tolist(), "phase": phases})

# %% tags=["hide-input"]
codes = {"not represented": 0, "own dimension": 1, "superposed": 2}
image = torch.tensor([codes[ph] for ph in phases]).view(PHASE_GRID, PHASE_GRID)
fig, ax = plt.subplots(figsize=(4.8, 3.8))
cmap = plt.matplotlib.colors.ListedColormap(["#d9d9d9", "#4575b4", "#d73027"])
ax.imshow(image.numpy(), cmap=cmap, vmin=0, vmax=2, origin="upper", aspect="auto")
ax.set_xticks(range(PHASE_GRID), [f"{r:.2g}" for r in importances.tolist()], fontsize=7)
ax.set_yticks(range(PHASE_GRID), [f"{p:.2g}" for p in phase_densities.tolist()], fontsize=7)
ax.set(xlabel="relative importance r of the extra feature", ylabel="feature probability p",
       title="What happens to the extra feature (n = 2, m = 1)")
handles = [plt.matplotlib.patches.Patch(color=cmap(v), label=k) for k, v in codes.items()]
ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
plt.show()

# %%
shares = phase_table.phase.value_counts(normalize=True)
densest, sparsest = phase_table[phase_table.p == phase_table.p.max()], phase_table[phase_table.p == phase_table.p.min()]
for name in codes:
    mw.record(f"phase_share_{name.replace(' ', '_')}", float(shares.get(name, 0.0)))
mw.record("phase_dense_minor_not_represented", float((densest[densest.r < 0.9].phase == "not represented").mean()))
mw.record("phase_dense_major_own_dimension", float((densest[densest.r > 1.1].phase == "own dimension").mean()))
mw.record("phase_sparse_near_equal_superposed",
          float((sparsest[(sparsest.r > 0.3) & (sparsest.r < 3.5)].phase == "superposed").mean()))

# %% [markdown]
# ## Part 3: geometry at scale
#
# With many features the pictures become statistics. We train `SCALE_FEATURES` features of equal importance in
# `SCALE_DIMS` dimensions at `SCALE_DENSITIES` probabilities, and plot the paper's two measures: the dimensions
# the model spends per feature, m / ||W||²_F, against 1/p (the paper's 1/(1-S)), and every represented feature's
# D_i. The paper found D_i clustering at "sticky" values, the dimensionalities of small shapes that tile the space:
# 1, 3/4 (tetrahedron), 2/3 (triangle), 1/2 (antipodal pair), 2/5 (pentagon), 3/8 (square antiprism).
# We report the share of represented features with D_i from 0.3 to 1 (the range of those shapes) that lie within
# 0.03 of one of them, and the share that features spread evenly over [0.3, 1] would give by chance.

# %%
scale_densities = density_sweep(SCALE_DENSITIES, lowest=0.03)
scale_toy = ToyModel(SCALE_FEATURES, SCALE_DIMS, scale_densities, seed=SEED)
scale_losses = train_toy(scale_toy, steps=STEPS, batch_size=SCALE_BATCH, lr=LR, seed=SEED)
W_scale = scale_toy.W.detach()
D_scale = feature_dimensionality(W_scale)
represented = W_scale.norm(dim=1) > 0.5
per_feature = SCALE_DIMS / W_scale.pow(2).sum((1, 2))
shown = D_scale[represented]
in_range = shown[shown >= 0.3]  # the named shapes' range (3/8 to 1); sparser features go below it
sticky, chance = sticky_share(in_range), sticky_share_by_chance(0.3, 1.0)

# %% tags=["hide-input"]
fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.3))
a0.plot(1 / scale_densities, per_feature, "ko-")
a1.scatter((1 / scale_densities)[:, None].expand_as(D_scale)[represented], shown, s=6, alpha=0.4)
for value in STICKY:
    a0.axhline(value, color="grey", lw=0.5, ls=":")
    a1.axhline(value, color="grey", lw=0.5, ls=":")
a0.set(xscale="log", xlabel="1 / p", ylabel="m / ||W||²", title="Dimensions per feature")
a1.set(xscale="log", xlabel="1 / p", ylabel="D_i", title="Each represented feature's dimensionality", ylim=(0, 1.05))
plt.show()

# %%
mw.record("scale_sticky_share", sticky)
mw.record("scale_sticky_share_by_chance", chance)
mw.record("scale_represented_features", int(represented.sum()))
mw.record("scale_features_in_sticky_range", len(in_range))
mw.record("scale_dims_per_feature_dense", float(per_feature[0]))
mw.record("scale_dims_per_feature_sparse", float(per_feature[-1]))
mw.record("scale_half_plateau_densities", int(((per_feature - 0.5).abs() < 0.05).sum()))

# %% [markdown]
# ## Part 4: correlated and anti-correlated features
#
# The paper's next question: what if features are not independent? Four features in two dimensions, in two sets
# of two. In a **correlated** set both features are active together or not at all; in an **anti-correlated** set at
# most one is active at a time. Each feature is active with probability 0.15 either way. Features that fire
# together interfere every time they fire, so the paper found them orthogonal; features that never fire together
# can share a direction at no cost, so it found them antipodal. Four features in a plane can be arranged in more
# than one way, and gradient descent lands in one of them, so we train `SETS_SEEDS` seeds of each kind and report
# every seed's cosine between the two features of each set, its loss, and the seeds with the lowest loss.

# %%
set_rows = []
for correlation in ("independent", "correlated", "anticorrelated"):
    sets_toy = ToyModel(4, 2, torch.full((SETS_SEEDS,), 0.15), correlation=correlation, seed=SEED)
    set_losses = train_toy(sets_toy, steps=STEPS, lr=LR, seed=SEED, progress=False)
    Ws = sets_toy.W.detach()
    for i in range(SETS_SEEDS):
        cosines = [float(torch.nn.functional.cosine_similarity(Ws[i, :, a], Ws[i, :, b], dim=0)) for a, b in ((0, 1), (2, 3))]
        set_rows.append({"correlation": correlation, "seed": i, "loss": float(set_losses[i]),
                         "cosine in set 1": cosines[0], "cosine in set 2": cosines[1],
                         "represented": int((Ws[i].norm(dim=0) > 0.5).sum())})
set_table = pd.DataFrame(set_rows)
set_table["mean cosine in a set"] = set_table[["cosine in set 1", "cosine in set 2"]].mean(axis=1)
set_table["within-set antipodal"] = set_table[["cosine in set 1", "cosine in set 2"]].max(axis=1) < -0.9
set_table.sort_values(["correlation", "loss"]).round(4)

# %%
for correlation, part in set_table.groupby("correlation"):
    lowest = part.nsmallest(max(1, SETS_SEEDS // 4), "loss")  # the best quarter of the seeds
    mw.record(f"set_cosine_{correlation}", float(part["mean cosine in a set"].mean()))
    mw.record(f"set_cosine_{correlation}_best", float(lowest["mean cosine in a set"].mean()))
    mw.record(f"set_antipodal_seeds_{correlation}", int(part["within-set antipodal"].sum()))
anti = set_table[set_table.correlation == "anticorrelated"]
if anti["within-set antipodal"].any() and not anti["within-set antipodal"].all():
    mw.record("set_anticorrelated_loss_ratio",  # antipodal seeds' mean loss over the others'
              float(anti[anti["within-set antipodal"]].loss.mean() / anti[~anti["within-set antipodal"]].loss.mean()))
else:
    mw.record("set_anticorrelated_loss_ratio", None)  # every seed, or none, found the same arrangement
mw.record("set_seeds", SETS_SEEDS)

# %% [markdown]
# ## Part 5: opposing directions in sparse autoencoders
#
# Dan's idea (Apollo Research's list): an SAE with an Lp sparsity penalty, p < 1, trained on a dense Gaussian
# cloud, learns pairs of latents pointing in opposite directions; do SAEs on real models do it too? A ReLU latent
# only fires on one side of its direction, so a two-sided feature (or the cloud, which has no preferred sign) can
# only be covered by a latent and its opposite.
#
# We measure the share of latents whose most opposite partner (lowest decoder cosine) is below -0.9, and
# below -0.7 (`opposing_share`). The seed's comment thread reports 286 of 256k latents (0.11%) below -0.9 in a TopK
# SAE on GPT-4. First the toy: a `GAUSS_DIM`-dimensional standard Gaussian, SAEs of `GAUSS_WIDTH` latents with an
# L0.5 penalty, with L1, and TopK (k = 4), `GAUSS_SEEDS` seeds each, and random directions as the null.

# %%
gen = torch.Generator().manual_seed(SEED)
cloud = torch.randn(65_536, GAUSS_DIM, generator=gen)
KINDS = {"Lp, p = 0.5": ("relu", 0.5, 3.0), "L1": ("relu", 1.0, 3.0), "TopK, k = 4": ("topk", 1.0, 0.0)}
gauss_rows = []
for kind, (sae_kind, power, coeff) in KINDS.items():
    for seed in range(GAUSS_SEEDS):
        sae = mw.Dictionary(mw.DictConfig(d_in=GAUSS_DIM, width=GAUSS_WIDTH, k=4, kind=sae_kind), seed=SEED + seed)
        mw.train_dictionary(sae, cloud, mw.TrainSettings(tokens=SAE_TOKENS, batch_size=256, lr=3e-3, l1_coeff=coeff,
                                                         penalty_power=power, aux_k=8, dead_after=20_000,
                                                         seed=SEED + seed, progress=False))
        with torch.no_grad():
            f = sae.encode(cloud[:8192])
        alive = (f > 0).any(0)
        gauss_rows.append({"SAE": kind, "seed": seed, "opposing < -0.9": opposing_share(sae.W_dec[alive].detach(), -0.9),
                           "opposing < -0.7": opposing_share(sae.W_dec[alive].detach(), -0.7),
                           "live latents": int(alive.sum()), "L0": float((f > 0).sum(-1).float().mean())})
for draw in range(20):  # the null: random decoders of the same shape
    null = torch.randn(GAUSS_WIDTH, GAUSS_DIM, generator=gen)
    gauss_rows.append({"SAE": "random directions", "seed": draw, "opposing < -0.9": opposing_share(null, -0.9),
                       "opposing < -0.7": opposing_share(null, -0.7), "live latents": GAUSS_WIDTH, "L0": float("nan")})
gauss = pd.DataFrame(gauss_rows)
gauss_summary = gauss.groupby("SAE", sort=False).agg(**{
    "< -0.9 (mean)": ("opposing < -0.9", "mean"), "< -0.9 (min)": ("opposing < -0.9", "min"),
    "< -0.9 (max)": ("opposing < -0.9", "max"), "< -0.7 (mean)": ("opposing < -0.7", "mean"), "L0": ("L0", "mean")})
gauss_summary.round(3)

# %%
for kind, key in zip([*KINDS, "random directions"], ("lp", "l1", "topk", "null")):
    part = gauss[gauss.SAE == kind]
    mw.record(f"gauss_l0_{key}", float(part.L0.mean()) if key != "null" else None)
    mw.record(f"gauss_opposing_09_{key}_mean", float(part["opposing < -0.9"].mean()))
    mw.record(f"gauss_opposing_09_{key}_min", float(part["opposing < -0.9"].min()))
    mw.record(f"gauss_opposing_09_{key}_max", float(part["opposing < -0.9"].max()))
    mw.record(f"gauss_opposing_07_{key}_mean", float(part["opposing < -0.7"].mean()))
mw.record("gauss_lp_min_minus_l1_max", float(gauss[gauss.SAE == "Lp, p = 0.5"]["opposing < -0.9"].min()
                                            - gauss[gauss.SAE == "L1"]["opposing < -0.9"].max()))  # > 0: Lp wins on every seed

# %% [markdown]
# Now the real SAEs: every SAE shipped for the 4-layer model (for another `MODEL`, the residual SAE of its middle
# layer, trained on first use). A random decoder is the null: in 128 dimensions two random directions almost never
# have cosine below -0.7, so any share above zero is structure the SAE learned.

# %%
model = mw.load_model(MODEL, device=DEVICE)
rows = story_rows(model.tokenizer, 4, row_length(model), seed=SEED + 10, split="val")
model_loss = float(model(rows, return_type="loss").detach())
mw.record("trained", is_trained(model_loss, model.cfg.d_vocab))
shipped = [n for n in bundled_dictionaries(MODEL) if not n.endswith("-tc")]
real_names = shipped or [f"resid{model.cfg.n_layers // 2}"]
real_rows = []
for name in real_names:
    decoder = mw.dictionary_for(model, name, smoke=SMOKE).W_dec.detach().cpu()
    null = torch.randn(decoder.shape, generator=gen)
    real_rows.append({"SAE": name, "latents": len(decoder), "opposing < -0.9": opposing_share(decoder, -0.9),
                      "opposing < -0.7": opposing_share(decoder, -0.7), "null < -0.7": opposing_share(null, -0.7)})
real = pd.DataFrame(real_rows).set_index("SAE")
real.style.format({"opposing < -0.9": "{:.3%}", "opposing < -0.7": "{:.3%}", "null < -0.7": "{:.3%}"})

# %%
GPT4_SHARE = 286 / 256_000  # the seed's comment thread: a TopK SAE on GPT-4
mw.record("real_saes_measured", len(real))
mw.record("real_opposing_09_max", float(real["opposing < -0.9"].max()))
mw.record("real_opposing_07_max", float(real["opposing < -0.7"].max()))
mw.record("real_opposing_null_07_max", float(real["null < -0.7"].max()))
mw.record("real_opposing_09_latents", int((real["opposing < -0.9"] * real.latents).round().sum()))

# %% [markdown]
# ## Part 6: an SAE on the toy's hidden layer
#
# An SAE is meant to recover the directions a model stores its features in. In a toy those directions are known:
# feature i lives along W_i. We train a sparse toy with 32 features in 8 dimensions (p = 0.03, three seeds as
# three instances), collect its hidden activations h = W x, and train TopK SAEs of several widths on them (k = 3:
# about one feature is active per row, so three slots are room to spare). For each width: the share of the toy's
# represented features with a decoder row at cosine above 0.9 (`recovered_fraction`).

# %%
hidden_toy = ToyModel(32, 8, torch.full((3,), 0.03), seed=SEED)
train_toy(hidden_toy, steps=STEPS, lr=LR, seed=SEED)
x_hidden = hidden_toy.sample(65_536, torch.Generator().manual_seed(SEED + 1))
with torch.no_grad():
    h = hidden_toy.hidden(x_hidden)  # [rows, instance, 8]
recovery_rows = []
for inst in range(3):
    Wi = hidden_toy.W.detach()[inst]
    truth = (Wi / Wi.norm(dim=0, keepdim=True)).T[Wi.norm(dim=0) > 0.5]  # the represented features' directions
    live = h[:, inst][(h[:, inst].abs().sum(-1) > 0)]  # rows with at least one active feature
    for width in RECOVERY_WIDTHS:
        sae = mw.Dictionary(mw.DictConfig(d_in=8, width=width, k=3), seed=SEED + inst)
        mw.train_dictionary(sae, live, mw.TrainSettings(tokens=SAE_TOKENS, batch_size=256, lr=3e-3, aux_k=8,
                                                        dead_after=20_000, seed=SEED + inst, progress=False))
        recovery_rows.append({"toy seed": inst, "width": width, "represented features": len(truth),
                              "recovered at cosine > 0.9": recovered_fraction(sae.W_dec.detach(), truth, 0.9)})
recovery = pd.DataFrame(recovery_rows)
recovery_summary = recovery.groupby("width")["recovered at cosine > 0.9"].agg(["mean", "min", "max"])

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5, 3))
ax.errorbar(recovery_summary.index, recovery_summary["mean"],
            yerr=[recovery_summary["mean"] - recovery_summary["min"], recovery_summary["max"] - recovery_summary["mean"]],
            fmt="o-", capsize=3)
ax.axvline(32, color="grey", ls=":", lw=0.8)
ax.set(xscale="log", xlabel="SAE width (latents)", ylabel="share of true features found",
       title="TopK SAEs on the toy's hidden layer (3 toy seeds)", ylim=(0, 1.05))
ax.set_xticks(RECOVERY_WIDTHS, [str(w) for w in RECOVERY_WIDTHS])
plt.show()

# %%
at_features = recovery_summary.loc[[w for w in RECOVERY_WIDTHS if w >= 32][0]]
mw.record("recovery_represented_min", int(recovery["represented features"].min()))
mw.record("recovery_at_32_mean", float(at_features["mean"]))
mw.record("recovery_at_32_min", float(at_features["min"]))
mw.record("recovery_narrowest_mean", float(recovery_summary["mean"].iloc[0]))
mw.record("recovery_widest_mean", float(recovery_summary["mean"].iloc[-1]))
recovery_summary.round(3)

# %% [markdown]
# ## What we found

# %%
r = mw.records()
toy_findings = [
    f"Five features in two dimensions ({r['replicas']} seeds per probability, best of each shown): at p = 1 the "
    f"best model gives {r['dense_features_above_09']} features a dimension of their own (D > 0.9) and drops the rest "
    f"({r['dense_replicas_orthogonal']} of {r['replicas']} seeds do). At p = {float(densities[-1]):.2f} all five "
    f"sit in a pentagon: every D_i is within {r['sparse_dims_max_dev_from_2_5']:.3f} of 2/5 and every angle between "
    f"neighbours within {r['sparse_angles_max_dev_from_72']:.1f}° of 72° ({r['sparse_replicas_pentagon']} of "
    f"{r['replicas']} seeds). Between them, {r['antipodal_densities']} of the {N_DENSITIES} probabilities end in "
    "antipodal pairs, and the three pictures come in the paper's order"
    + (" (dense, antipodal, pentagon)." if r["regimes_in_order"] else ": not quite (see the table)."),
    f"The phase diagram ({PHASE_GRID} x {PHASE_GRID} cells): the extra feature is not represented in "
    f"{r['phase_share_not_represented']:.0%} of cells, has its own dimension in {r['phase_share_own_dimension']:.0%} "
    f"and is superposed in {r['phase_share_superposed']:.0%}. At p = 1 it is dropped in "
    f"{r['phase_dense_minor_not_represented']:.0%} of the cells where it matters less than feature 0 and takes the "
    f"dimension in {r['phase_dense_major_own_dimension']:.0%} of those where it matters more; at p = 0.01 it is "
    f"superposed in {r['phase_sparse_near_equal_superposed']:.0%} of the cells with r between 0.3 and 3.5: the "
    "paper's three regions.",
    f"At scale ({SCALE_FEATURES} features in {SCALE_DIMS} dimensions): the dimensions spent per feature fall from "
    f"{r['scale_dims_per_feature_dense']:.2f} at p = 1 to {r['scale_dims_per_feature_sparse']:.2f} at p = "
    f"{float(scale_densities[-1]):.2f}, with {r['scale_half_plateau_densities']} probabilities on the plateau at 1/2 "
    f"(within 0.05). Of the {r['scale_features_in_sticky_range']} represented features with D_i from 0.3 to 1, "
    f"{r['scale_sticky_share']:.0%} sit within 0.03 of a sticky value, against {r['scale_sticky_share_by_chance']:.0%} by "
    "chance" + (": the paper's clustering." if r["scale_sticky_share"] > 1.5 * r["scale_sticky_share_by_chance"]
                else ": no more than chance would give, so this run does not reproduce the clustering."),
    f"Anti-correlated features: {r['set_antipodal_seeds_anticorrelated']} of {r['set_seeds']} seeds put the two "
    "features of each set opposite each other"
    + (f", and those seeds' loss is {r['set_anticorrelated_loss_ratio']:.0e} times the other seeds' (the ReLU removes the "
       "interference exactly when the two never fire together): the antipodal arrangement is the better one, as the "
       "paper found, though gradient descent does not always reach it."
       if r["set_anticorrelated_loss_ratio"] is not None else ".")
    + f" Independent features at the same probability do so in {r['set_antipodal_seeds_independent']} seeds. "
    f"Correlated features: the lowest-loss quarter of the seeds has mean cosine {r['set_cosine_correlated_best']:+.2f} "
    f"within a set (all seeds {r['set_cosine_correlated']:+.2f}), "
    + ("orthogonal, as in the paper." if abs(r["set_cosine_correlated_best"]) < 0.2 else "not orthogonal."),
    f"On a {GAUSS_DIM}-dimensional Gaussian cloud, {r['gauss_opposing_09_lp_mean']:.0%} of the live latents of an "
    f"L0.5 SAE (L0 {r['gauss_l0_lp']:.1f}) have an opposite partner below cosine -0.9 (seeds "
    f"{r['gauss_opposing_09_lp_min']:.0%} to {r['gauss_opposing_09_lp_max']:.0%}), against "
    f"{r['gauss_opposing_09_l1_mean']:.0%} for L1 (L0 {r['gauss_l0_l1']:.1f}; {r['gauss_opposing_09_l1_min']:.0%} to "
    f"{r['gauss_opposing_09_l1_max']:.0%}), {r['gauss_opposing_09_topk_mean']:.0%} for TopK (k = 4) and "
    f"{r['gauss_opposing_09_null_mean']:.0%} for random directions of the same shape. "
    + ("Both ReLU SAEs learn opposite pairs far above the null and TopK does not; the Lp penalty's pairs "
       + ("outnumber L1's on every seed." if r["gauss_lp_min_minus_l1_max"] > 0
          else "do not outnumber L1's beyond the seeds' spread: on this cloud the ReLU, not the p < 1, makes the pairs.")
       if min(r["gauss_opposing_09_lp_min"], r["gauss_opposing_09_l1_min"]) > 3 * r["gauss_opposing_09_null_mean"]
       else "The SAEs do not stand clearly above the null here."),
    f"An SAE on the sparse toy's hidden layer finds {r['recovery_at_32_mean']:.0%} of the true feature directions "
    f"at cosine above 0.9 with as many latents as features (worst seed {r['recovery_at_32_min']:.0%}), "
    f"{r['recovery_narrowest_mean']:.0%} at width {RECOVERY_WIDTHS[0]} and {r['recovery_widest_mean']:.0%} at width "
    f"{RECOVERY_WIDTHS[-1]}.",
]
if not r["trained"]:
    real_findings = [mw.untrained_finding(MODEL, model_loss, model.cfg.d_vocab, "its SAEs' opposing directions")]
else:
    real_findings = [
        f"In the {r['real_saes_measured']} SAEs of {MODEL}, at most {r['real_opposing_09_max']:.2%} of latents have "
        f"a partner below cosine -0.9 ({r['real_opposing_09_latents']} latents in all) and at most "
        f"{r['real_opposing_07_max']:.2%} below -0.7 (random decoders of the same shapes: at most "
        f"{r['real_opposing_null_07_max']:.2%}); the GPT-4 TopK SAE of the seed's thread has {GPT4_SHARE:.2%} below -0.9."]
mw.findings(*toy_findings, *real_findings)

# %% [markdown]
# ## Exercises
#
# Each exercise below asks you to write a piece of this chapter's method yourself. The check under it runs your
# function on several inputs, edge cases included, and compares the result with the package's own implementation
# (the one the chapter used above). It prints PASSED, FAILED with what looks wrong, or "not attempted yet" while the
# stub is untouched. In the learner notebook the solutions are stubs that return None, so the notebook runs from
# top to bottom whatever you have done; on the site they sit in closed dropdowns.

# %% [markdown]
# ```{exercise} The toy's forward pass and loss
# :label: ex-sup-forward
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 15 min
#
# Given weights `W` [instance, hidden, feature], biases `b` [instance, feature], a batch `x` [batch, instance,
# feature] and importances [instance, feature], return each instance's loss: the importance-weighted squared error
# of x' = ReLU(WᵀW x + b), summed over features and averaged over the batch, as a tensor [instance].
# ```
#
# <details><summary>Hint</summary>
#
# Two `torch.einsum` calls: `"bif,ihf->bih"` down to the hidden space, `"bih,ihf->bif"` back up.
#
# </details>

# %%
def forward_loss(W, b, x, importance):
    """Each instance's importance-weighted loss of ReLU(WᵀWx + b) against x: a tensor [instance]."""
    # BEGIN SOLUTION (stub: return None)
    h = torch.einsum("bif,ihf->bih", x, W)
    out = torch.relu(torch.einsum("bih,ihf->bif", h, W) + b)
    return (importance * (x - out) ** 2).sum(-1).mean(0)
    # END SOLUTION


# %%
exercises.check_toy_forward_loss(forward_loss, strict=STRICT)

# %% [markdown]
# ```{exercise} Feature dimensionality
# :label: ex-sup-dims
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 10 min
#
# D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)² for every instance and feature of `W` [..., hidden, feature]; a feature with
# W_i = 0 gets D = 0 (guard the division).
# ```
#
# <details><summary>Hint</summary>
#
# The overlaps form a [feature, feature] matrix per instance: `einsum("...hi,...hj->...ij", W_unit, W)`.
#
# </details>

# %%
def dimensionality(W):
    """D_i for every feature: [..., feature]."""
    # BEGIN SOLUTION (stub: return None)
    norms = W.norm(dim=-2, keepdim=True)
    overlaps = torch.einsum("...hi,...hj->...ij", W / (norms + 1e-12), W)
    return norms.squeeze(-2) ** 2 / ((overlaps ** 2).sum(-1) + 1e-12)
    # END SOLUTION


# %%
exercises.check_feature_dimensionality(dimensionality, strict=STRICT)

# %% [markdown]
# ```{exercise} Opposite partners
# :label: ex-sup-partners
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 10 min
#
# For each row of `directions` [n, d], the index of the other row with the lowest cosine to it if that cosine is
# below `threshold`, else -1. A row of zeros has no partner and is nobody's partner. Part 5 counts these.
# ```
#
# <details><summary>Hint</summary>
#
# Normalise the rows, take all cosines, put `inf` on the diagonal and in the rows and columns of zero rows, then
# `min(-1)` gives both the lowest cosine and its index.
#
# </details>

# %%
def partners(directions, threshold):
    """Index of each row's most opposite row if its cosine is below threshold, else -1: [n]."""
    # BEGIN SOLUTION (stub: return None)
    norms = directions.norm(dim=-1)
    cos = (directions / norms[:, None].clamp_min(1e-12)) @ (directions / norms[:, None].clamp_min(1e-12)).T
    cos.fill_diagonal_(math.inf)
    cos[norms == 0] = math.inf
    cos[:, norms == 0] = math.inf
    lowest, index = cos.min(-1)
    return torch.where(lowest < threshold, index, -1)
    # END SOLUTION


# %%
exercises.check_opposite_partners(partners, strict=STRICT)

# %% [markdown]
# ```{exercise} Which phase is this cell in?
# :label: ex-sup-phase
#
# **Difficulty** 1/5 · **Importance** 3/5 · **Time** 10 min
#
# For weights `W` [instance, hidden, 2] of a two-feature toy, the phase of feature 1 in each instance: "not
# represented" (norm below 0.5), "own dimension" (feature 0's norm is below 0.5, or the two are orthogonal:
# |cosine| below 0.5), or "superposed". Return a list of strings.
# ```
#
# <details><summary>Hint</summary>
#
# `W.norm(dim=1)` gives both norms per instance; `torch.nn.functional.cosine_similarity(W[..., 0], W[..., 1], dim=-1)`
# the cosines.
#
# </details>

# %%
def phase_of_extra(W):
    """The phase of feature 1 in each instance: a list of "not represented", "own dimension" or "superposed"."""
    # BEGIN SOLUTION (stub: return None)
    norms = W.norm(dim=1)
    cos = torch.nn.functional.cosine_similarity(W[..., 0], W[..., 1], dim=-1)
    out = []
    for (first, extra), c in zip(norms.tolist(), cos.tolist()):
        if extra < 0.5:
            out.append("not represented")
        elif first < 0.5 or abs(c) < 0.5:
            out.append("own dimension")
        else:
            out.append("superposed")
    return out
    # END SOLUTION


# %%
exercises.check_extra_feature_phase(phase_of_extra, strict=STRICT)

# %% [markdown]
# ## Going further
#
# Open questions, no checks: change the setup and look.
#
# 1. Replace the ReLU output by GELU or by no nonlinearity at all (seed 003's "confusions" problems): does
#    superposition survive without the ReLU's ability to cut off interference?
# 2. Give the features uneven probabilities (a `[instance, feature]` tensor for `probability`): which
#    features does the pentagon give up first?
# 3. Make the anti-correlated sets three features long (`set_size=3`) in 2 dimensions: do they form triangles?
# 4. Part 5 with p = 0.3 and p = 0.8 (`penalty_power`): where between L0.5 and L1 do the opposite pairs appear?
# 5. Part 6 with k = 1 and with p = 0.1 (more features active at once): when does the SAE stop finding the toy's
#    directions, and does it find something else instead?

# %% [markdown]
# ## References
# - Elhage et al. (2022), *Toy Models of Superposition*, Transformer Circuits Thread: the ReLU output model, feature
#   dimensionality, the phase diagrams, correlated features.
# - Apollo Research's interpretability team (2024), *A List of 45+ Mech Interp Project Ideas*: "Opposing feature
#   directions" (Dan), with the GPT-4 count from its comment thread.
# - Bricken et al. (2023), *Towards Monosemanticity*: SAEs as the tool that undoes superposition.
# - Gao et al. (2024), *Scaling and evaluating sparse autoencoders*: TopK SAEs.
# - Neel Nanda (2022), *200 Concrete Open Problems in Mechanistic Interpretability*, section 4 (toy models of
#   superposition).
