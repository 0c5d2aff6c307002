# %% [markdown]
# # Feature geometry: PCA of SAE codes, ordered words, categories and blocks of latents
#
# > **You will learn to** read an SAE's feature space with PCA, test word order with a test that assumes
# > no line, and check co-activation blocks against nulls.
# >
# > **You need:** [Sparse dictionaries](../10_dictionaries/10_dictionaries.ipynb).
# >
# > **Time:** about 90 min to study and do the exercises; the full run takes about 2.6 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** A sparse autoencoder (SAE) rewrites each activation as a few active latents. Apollo
# Research's list of project ideas ("Understanding the geometry of SAE features") asks what shape the resulting
# feature space has, in four ways, and this notebook asks each of them of our 4-layer model and its
# shipped SAEs (another `MODEL` gets the same SAEs trained on its activations the first time, `mw.dictionary_for`):
#
# 1. **The PCA spectrum of the latent codes.** If many principal components of the codes can be
#    removed without hurting the model, many latents are linear combinations of others. Is the number
#    of such components a usable measure of SAE quality?
# 2. **Ordered and cyclic concepts.** Are number words on a line, and days and months on a circle, in
#    order, as reported for large models?
# 3. **Subsets and supersets.** Every bird is an animal. Does the geometry show this, and is there a
#    latent for "bird" or "animal"?
# 4. **One space or several?** Do latents form blocks, groups that fire together and point in similar
#    directions, and do those blocks match word categories, or circuits: the components that write the
#    latents and the [planted capabilities](../glossary.md#g-capability) they serve?
#
# Each answer is a number recorded below and checked by the tests. Several of the answers are "no".

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-4l"  # its dictionaries ship; for another model (a TransformerLens name) they are trained
DEVICE = "cpu"  # "cuda" on a GPU machine
LAYER = None  # residual stream (after this block) for the category and block analyses; None: the middle one
LOSS_RISE = 0.1  # PC-ablation budget, as a share of the SAE's own loss gap (spliced minus clean loss)
N_CLUSTERS = 16  # clusters of latents in the block analysis

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.stats import fisher_exact
from sklearn.metrics import adjusted_mutual_info_score

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.analysis import code_spectrum, latent_blocks, stats, word_geometry
from mi_widgets.dictionaries.metrics import reconstruction_stats, splice_stats
from mi_widgets.heads import induction_report
from mi_widgets.logprobs import is_trained
from mi_widgets.organisms.corpus import row_length, story_rows
from mi_widgets.organisms.lexicon import CATEGORIES, PARENT
from mi_widgets.organisms.stories import CAPABILITIES, generate_stories
from mi_widgets.progress import progress_bar

torch.manual_seed(SEED)
FIT_ROWS = 24 if SMOKE else 400  # rows of 256 story tokens for PCA, word means and co-activation (6k or 102k tokens)
EVAL_ROWS = 2 if SMOKE else 16  # held-out rows for every loss (510 or 4,080 tokens)
ABLATE_FRACTIONS = (0.1, 0.3, 0.5) if SMOKE else (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
N_PERM = 99 if SMOKE else 999  # label permutations behind each p-value
N_PERM_ORDER = 999 if SMOKE else 9999  # for the order tests, whose p-values sit near the threshold
MIN_COUNT = 1 if SMOKE else 5  # occurrences a word needs for its mean residual
MIN_FIRES = 10 if SMOKE else 20  # firings a latent needs to join the block analysis
N_SHIFTS = 1 if SMOKE else 2  # time-shifted null data sets in the block analysis
N_PERM_MATRIX = 49 if SMOKE else 199  # permutations for tests on whole latent-by-latent matrices
WRITER_ROWS = 8 if SMOKE else 64  # rows of the fitting data behind each latent's main writer
CIRCUIT_STORIES = 40 if SMOKE else 300  # held-out stories behind each latent's capability


# %% [markdown]
# ## Setup: one harvest for everything
#
# We read every [residual stream](../glossary.md#g-residual-stream) of the model (after each block) and the inputs of the SAEs studied,
# on fresh training-split stories; losses are measured on held-out validation stories. Position 0
# (BOS) is dropped, as everywhere in the book.

# %%
model = mw.load_model(MODEL, device=DEVICE)
LAYER = model.cfg.n_layers // 2 if LAYER is None else LAYER
if not 0 <= LAYER < model.cfg.n_layers:
    raise ValueError(f"LAYER must be in 0..{model.cfg.n_layers - 1} for {MODEL}, got {LAYER}")
# Three widths at LAYER, then (in full) every other layer's SAE and the pre-unembed one. Shipped for
# stories-gelu-4l; for any other model trained with the same recipes on first use, then cached.
PCA_SAES = [f"resid{LAYER}-w512", f"resid{LAYER}"] + ([] if SMOKE else [f"resid{LAYER}-w4096"] + [
    f"resid{l}" for l in range(model.cfg.n_layers) if l != LAYER] + ["final"])
saes = {name: mw.dictionary_for(model, name, smoke=SMOKE) for name in PCA_SAES}
resid_hooks = [f"blocks.{layer}.hook_resid_post" for layer in range(model.cfg.n_layers)]
hooks = list(dict.fromkeys(resid_hooks + [sae.cfg.hook_in for sae in saes.values()]))

rows = story_rows(model.tokenizer, FIT_ROWS, row_length(model), seed=SEED + 30, split="train")
val_rows = story_rows(model.tokenizer, EVAL_ROWS, row_length(model), seed=SEED + 30, split="val")
acts = mw.harvest_activations(model, hooks, rows)
val_acts = mw.harvest_activations(model, hooks, val_rows, progress=False)
# A model no better than chance (random weights, say) gets no finding stated about it below.
model_loss = float(model(val_rows, return_type="loss").detach())
mw.record("trained", is_trained(model_loss, model.cfg.d_vocab))
print(f"{len(hooks)} hooks, {acts[hooks[0]].shape[0]:,} tokens to fit on, {val_acts[hooks[0]].shape[0]:,} held out")

# %% [markdown]
# ## 1. The PCA spectrum of SAE codes
#
# For each token an SAE gives a code $f \in \mathbb{R}^{\text{width}}$ with $k$ non-zero entries. PCA
# of the codes over many tokens gives `width` orthogonal directions in latent space, ordered by how
# much the codes vary along them. Latents that never fire are exact zero-variance components.
#
# **Ablating the smallest components.** Dropping the $m$ smallest components replaces each code by
# $\mu + (f - \mu)P$, where $\mu$ is the mean code and $P$ projects on the `width - m` kept
# components; the edited code is decoded and spliced into the model in place of the activation
# (`code_spectrum.pc_ablated`, passed to `spliced_loss` (`mi_widgets.dictionaries.metrics`) as its `reconstruct` argument).
#
# **The budget.** Splicing in the SAE already costs some loss, its *gap* $L_\text{spliced} - L_\text{clean}$.
# We count how many components can be dropped with the loss staying at or below
# $L_\text{spliced} + \text{LOSS_RISE} \times \text{gap}$ (10% of the gap by default). `code_spectrum.ablation_search`
# drops growing shares of the components and then bisects between the last share that passed and the
# first that failed. The budget scales with each SAE's own gap, so an SAE is not punished for being
# worse to begin with.
#
# Latents that never fired on the fitting tokens are zero-variance components, so they are always
# among the first dropped: dead latents count as droppable.
#
# The seed's hypothesis: the more components can be dropped, the more the latents are linear
# combinations of each other, so the worse the SAE. If so, the *ablatable fraction* should rise with
# [FVU](../glossary.md#g-fvu) (fraction of variance unexplained) and fall with the fraction of loss recovered (against mean ablation) across SAEs.
#
# **Two controls.** PCA runs on the raw codes, so its smallest components may just be the rare latents,
# with no linear combination involved. So we count live latents only (dead latents are free to drop) and
# compare with:
#
# * **Axis ablation** (`code_spectrum.axis_pca`): drop the lowest-variance latents themselves, each
#   replaced by its mean, one axis at a time, under the same budget. If it allows as many drops as PC
#   ablation, the PC count says nothing about linear combinations.
# * **A shuffled null** (`code_spectrum.shuffled_codes`): each latent's codes moved to random tokens,
#   independently of the others. Each latent keeps its firing rate and values, but no two latents fire
#   together any more. We compare how much variance the dropped components hold in the real codes and in
#   the null: if latents were linear combinations of others, the real tail would hold much less.

# %%
pcas, searches, table = {}, {}, []
for name in progress_bar(PCA_SAES, desc="SAEs"):
    sae = saes[name]
    hook = sae.cfg.hook_in
    codes = code_spectrum.sparse_codes(sae, acts[hook])
    pca, null = code_spectrum.code_pca(codes), code_spectrum.code_pca(code_spectrum.shuffled_codes(codes, SEED))
    splice = splice_stats(model, sae, val_rows)
    budget = splice.loss_spliced + LOSS_RISE * splice.loss_increase
    resolution = max(1, sae.cfg.width // (32 if SMOKE else 256))
    search = code_spectrum.ablation_search(model, sae, pca, val_rows, budget, fractions=ABLATE_FRACTIONS,
                                           resolution=resolution)
    control = code_spectrum.ablation_search(model, sae, code_spectrum.axis_pca(codes), val_rows, budget,
                                            fractions=ABLATE_FRACTIONS, resolution=resolution)
    pcas[name], searches[name] = pca, search
    n_dead = len(pca.dead)
    n_live = sae.cfg.width - n_dead
    table.append(dict(name=name, hook=hook, width=sae.cfg.width, k=sae.cfg.k,
                      fvu=reconstruction_stats(sae, val_acts[hook]).fvu,
                      loss_recovered=splice.loss_recovered_mean, loss_spliced=splice.loss_spliced,
                      loss_gap=splice.loss_increase, dead=len(pca.dead) / sae.cfg.width,
                      **code_spectrum.spectrum_stats(pca.variances), ablatable=search.n_ablatable,
                      ablatable_fraction=search.n_ablatable / sae.cfg.width,
                      # live latents only: dead ones are zero-variance components, dropped for free
                      ablatable_live=max(0, search.n_ablatable - n_dead) / n_live,
                      axis_ablatable_live=max(0, control.n_ablatable - n_dead) / n_live,
                      tail_share=code_spectrum.tail_variance_share(pca.variances, search.n_ablatable),
                      null_tail_share=code_spectrum.tail_variance_share(null.variances, search.n_ablatable),
                      participation_null=code_spectrum.spectrum_stats(null.variances)["participation"]))
pc_table = pd.DataFrame(table).set_index("name")
pc_table.round(4)

# %% [markdown]
# Left: each SAE's spectrum, the share of the code variance in each component, against the component's
# rank as a share of the width. Right: the loss as components are dropped, in units of the SAE's own gap
# (0 is the plain SAE, the dashed line the budget).

# %% tags=["hide-input"]
fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
for name, pca in pcas.items():
    width, row = len(pca.variances), pc_table.loc[name]
    share = (pca.variances / pca.variances.sum()).numpy()
    ax[0].plot(np.arange(1, width + 1) / width, share, label=f"{name} ({width})")
    dropped = [0] + [m / width for m in searches[name].losses]
    rise = [0] + [(loss - row.loss_spliced) / row.loss_gap for loss in searches[name].losses.values()]
    ax[1].plot(dropped, rise, "o-", ms=3, label=name)
ax[0].set(yscale="log", xlabel="component rank / width", ylabel="share of code variance", title="PCA spectra")
ax[0].legend(fontsize=7)
ax[1].axhline(LOSS_RISE, ls="--", c="k", lw=1)
ax[1].set(xlabel="share of smallest components dropped", ylabel="loss rise / SAE loss gap",
          title="dropping the smallest components", ylim=(-0.05, 1.0))
ax[1].legend(fontsize=7)
plt.tight_layout()
plt.show()

# %%
for name, row in pc_table.iterrows():
    mw.record(f"ablatable_fraction_{name.replace('-', '_')}", round(float(row.ablatable_fraction), 4))
family = pc_table[pc_table.hook == pc_table.hook.mode()[0]].sort_values("width")  # SAEs on one hook, by width
mw.record("width_family_hook", family.hook.iloc[0])
mw.record("width_family_widths", family.width.tolist())
mw.record("width_family_ablatable_narrowest", round(float(family.ablatable_fraction.iloc[0]), 4))
mw.record("width_family_ablatable_widest", round(float(family.ablatable_fraction.iloc[-1]), 4))
mw.record("width_family_dead_widest", round(float(family.dead.iloc[-1]), 4))
mw.record("ablatable_rises_with_width", bool((family.ablatable_fraction.diff().dropna() > 0).all()))
mw.record("width_family_ablatable_live_narrowest", round(float(family.ablatable_live.iloc[0]), 4))
mw.record("width_family_ablatable_live_widest", round(float(family.ablatable_live.iloc[-1]), 4))
mw.record("ablatable_live_rises_with_width", bool((family.ablatable_live.diff().dropna() > 0).all()))
# The controls: PC ablation against axis ablation of the lowest-variance latents (live latents only), and
# the variance the dropped components hold against the same count in the shuffled null.
pc_over_axis = pc_table.ablatable_live - pc_table.axis_ablatable_live
mw.record("pc_minus_axis_ablatable_live_min", round(float(pc_over_axis.min()), 4))
mw.record("pc_minus_axis_ablatable_live_max", round(float(pc_over_axis.max()), 4))
tail_ratio = (pc_table.tail_share / pc_table.null_tail_share).replace([np.inf, -np.inf], np.nan).dropna()
# None: no SAE has a droppable tail to compare (an untrained model's can have none).
mw.record("tail_share_over_null_min", round(float(tail_ratio.min()), 4) if len(tail_ratio) else None)
mw.record("tail_share_over_null_max", round(float(tail_ratio.max()), 4) if len(tail_ratio) else None)
mw.record("ablatable_fraction_min", round(float(pc_table.ablatable_fraction.min()), 4))
mw.record("ablatable_fraction_max", round(float(pc_table.ablatable_fraction.max()), 4))


def rank_corr_p(a, b):
    """Spearman correlation of two columns and its permutation p-value (two-sided); None, None when a column
    is constant (an untrained model's SAEs can all share one value) and no correlation is defined."""
    a, b = pc_table[a].to_numpy(), pc_table[b].to_numpy()
    rho = stats.rank_correlation(a, b)
    if not np.isfinite(rho):
        return None, None
    _, p = stats.permutation_p_value(lambda o: abs(stats.rank_correlation(a, b[o])), len(a), N_PERM, SEED)
    return round(rho, 4), round(p, 4)


mw.record("n_pca_saes", len(pc_table))
pc_table["participation_raw"] = pc_table.participation * pc_table.width  # not divided by the width
SPECTRUM_ALPHA = 0.05 / 3  # three spectrum statistics tried against FVU: ablatable, participation, raw participation
mw.record("spectrum_alpha", round(SPECTRUM_ALPHA, 4))
rho_fvu, p_fvu = rank_corr_p("ablatable_live", "fvu")
rho_lr, p_lr = rank_corr_p("ablatable_live", "loss_recovered")
rho_pr, p_pr = rank_corr_p("participation", "fvu")
rho_raw, p_raw = rank_corr_p("participation_raw", "fvu")
mw.record("rho_participation_raw_fvu", rho_raw)
mw.record("rho_participation_raw_fvu_p", p_raw)
mw.record("rho_ablatable_fvu", rho_fvu)
mw.record("rho_ablatable_fvu_p", p_fvu)
mw.record("rho_ablatable_loss_recovered", rho_lr)
mw.record("rho_ablatable_loss_recovered_p", p_lr)
mw.record("rho_participation_fvu", rho_pr)
mw.record("rho_participation_fvu_p", p_pr)
# The hypothesis predicts more droppable components for worse SAEs: higher FVU, lower loss recovered.
mw.record("spectrum_metric_supported", None not in (rho_fvu, rho_lr)
          and bool(rho_fvu > 0 and p_fvu < SPECTRUM_ALPHA and rho_lr < 0 and p_lr < SPECTRUM_ALPHA))

# %% [markdown]
# ## 2. Ordered concepts: number words, digits, days, months
#
# The story generator uses number words (ages, counting games), digits, days of the week (an opening
# day, or runs of two or three consecutive days) and months (a birthday month and the next). For each word that is
# a single token after a space we take a point in several spaces: its row of the embedding matrix, its
# mean residual stream after each block (averaged over all its occurrences in the harvested stories),
# and its column of the unembedding. Then, on the top two principal components of each set's points:
#
# * **Circle:** each word's angle in that plane against its true position $2\pi i / n$ ($n$ = 7 days,
#   12 months, 12 numbers), scored by $R = |\text{mean}\, e^{i(\theta - s\phi)}|$ for the better direction
#   $s = \pm 1$ (`word_geometry.circular_alignment`): 1 when the words sit evenly round the circle in order.
#   `in_order` says whether going round visits them in their true cyclic order.
# * **Line:** the rank correlation of the first component with the true position.
# * **Order, whatever the shape** (a Mantel test, `stats.mantel_test`): the rank correlation, over all
#   pairs of words, between their distance in the full space and how far apart they are in the true
#   order, $|i - j|$ for numbers and digits and the shorter way round the week or the year for days and
#   months. Words close in order should be close in space, on a line, an arc or a circle alike.
#
# The line and circle scores describe the *shape* in the top two components; the order test is the
# verdict. It matters: on an ordered arc bent past 180 degrees (PCA's familiar horseshoe) the first
# component is not monotone, so the line score misses an order that is there, while the circle score
# rewards an arc as if it were a circle. Each score gets a p-value from shuffling which word is which
# (9,999 permutations for the order test, exact over all orders for the seven days; 999 for the shape
# scores; ten times fewer in [smoke mode](../glossary.md#g-smoke)). The verdicts use the Bonferroni threshold 0.05 / 6 for the six
# spaces, and the order test is the one statistic they read.

# %%
spaces = {"embedding": model.W_E.detach(),
          **{f"resid{layer}": acts[hook] for layer, hook in enumerate(resid_hooks)},
          "unembedding": model.W_U.detach().T}
concepts = ["number_word", "digit", "day", "month"]
CYCLIC = ("day", "month")  # their order wraps round: Sunday follows Saturday
order_rows, order_points = [], {}
for concept in concepts:
    words = CATEGORIES[concept]
    ids = word_geometry.word_token_ids(model.tokenizer, words)
    for space, matrix in spaces.items():
        if space in ("embedding", "unembedding"):  # one row per token id
            present, points = list(ids), matrix[list(ids.values())]
        else:  # mean residual at the word over its occurrences
            means = word_geometry.token_means(rows, matrix, ids, MIN_COUNT)
            present, points = means.words, means.means
        position = np.array([words.index(w) for w in present])
        phases = 2 * np.pi * position / len(words)
        fit = word_geometry.cyclic_fit(points, phases)
        circle, circle_p = stats.permutation_p_value(lambda o: word_geometry.circular_alignment(fit.angles, phases[o]),
                                                   len(present), N_PERM, SEED)
        line, line_p = stats.permutation_p_value(lambda o: abs(stats.rank_correlation(fit.coords[:, 0], position[o])),
                                               len(present), N_PERM, SEED)
        period = len(words) if concept in CYCLIC else None
        order, order_p = stats.mantel_test(np.asarray(points), stats.order_distances(position, period), N_PERM_ORDER, SEED)
        order_points[concept, space] = (present, fit, np.asarray(points), position)
        order_rows.append(dict(concept=concept, space=space, words=len(present), top2_variance=fit.explained,
                               order=order, order_p=order_p, circle=circle, circle_p=circle_p, in_order=fit.in_order,
                               line=line, line_p=line_p))
orders = pd.DataFrame(order_rows)
orders.round(3)

# %%
best = {c: orders[orders.concept == c].sort_values("order").iloc[-1] for c in concepts}

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, len(concepts), figsize=(4 * len(concepts), 3.8))
for ax, concept in zip(axes, concepts):
    space = best[concept].space
    present, fit, _, _ = order_points[concept, space]
    order = np.argsort([CATEGORIES[concept].index(w) for w in present])
    path = list(order) + ([order[0]] if concept in ("day", "month") else [])
    ax.plot(fit.coords[path, 0], fit.coords[path, 1], "-", c="0.7", lw=1)
    ax.scatter(fit.coords[:, 0], fit.coords[:, 1], c=[CATEGORIES[concept].index(w) for w in present], cmap="viridis")
    for (x, y), word in zip(fit.coords, present):
        ax.annotate(word[:3], (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    shape = "line" if concept in ("number_word", "digit") else "circle"
    ax.set(title=f"{concept} in {space}\norder = {best[concept].order:.2f} (p = {best[concept].order_p:.4f}), "
                 f"{shape} = {best[concept][shape]:.2f}", 
           xlabel="PC1", ylabel="PC2")
plt.tight_layout()
plt.show()

# %% [markdown]
# The months again, interactive (hover a point for its word; drag to zoom). `mi_widgets.book.plots.show`
# draws a plotly figure in JupyterLab and in the book alike; the book loads plotly.js from its own files.

# %%
import plotly.graph_objects as go

from mi_widgets.book.plots import show

space = best["month"].space
present, fit, _, _ = order_points["month", space]
coords = np.asarray(fit.coords)
fig = go.Figure(go.Scatter(x=coords[:, 0], y=coords[:, 1], text=present, mode="markers+text",
                           textposition="top center", hovertemplate="%{text}<extra></extra>"))
fig.update_layout(title=f"month words in {space}: first two principal components", xaxis_title="PC1",
                  yaxis_title="PC2", width=560, height=440, template="plotly_white")
show(fig)


# %%
def best_of(concept, stat):
    part = orders[orders.concept == concept]
    return part.loc[part[stat].idxmax()]


ORDER_ALPHA = 0.05 / len(spaces)  # Bonferroni over the six spaces; the order test is the one verdict statistic
mw.record("order_alpha", round(ORDER_ALPHA, 4))
for concept, key in [("number_word", "number_words"), ("digit", "digits"), ("day", "days"), ("month", "months")]:
    top = best_of(concept, "order")
    mw.record(f"{key}_max_order", round(float(top.order), 4))
    mw.record(f"{key}_max_order_p", round(float(top.order_p), 5))
    mw.record(f"{key}_max_order_space", top.space)
    mw.record(f"{key}_ordered_spaces", int((orders[orders.concept == concept].order_p < ORDER_ALPHA).sum()))
# The shapes, descriptive: a circle for days and months, a line along PC1 for numbers and digits.
for concept, key in [("day", "days"), ("month", "months")]:
    top = best_of(concept, "circle")
    mw.record(f"{key}_max_circle", round(float(top.circle), 4))
    mw.record(f"{key}_max_circle_space", top.space)
    mw.record(f"{key}_in_order_spaces", int(orders[orders.concept == concept].in_order.sum()))
for concept, key in [("number_word", "number_words"), ("digit", "digits")]:
    top = best_of(concept, "line")
    mw.record(f"{key}_max_line", round(float(top.line), 4))
    mw.record(f"{key}_max_line_space", top.space)
mw.record("digits_max_circle", round(float(best_of("digit", "circle").circle), 4))

# "one" and "two" sit far out on PC1 and open most counting runs; is the order there without them?
present, _, points, position = order_points["number_word", best["number_word"].space]
keep = [i for i, w in enumerate(present) if w not in ("one", "two")]
rho, p = stats.mantel_test(points[keep], stats.order_distances(position[keep]), N_PERM_ORDER, SEED)
mw.record("number_words_order_without_one_two", round(rho, 4))
mw.record("number_words_order_without_one_two_p", round(p, 5))


# %% [markdown]
# **Context held fixed.** A word's mean residual over the stories also carries where the word occurs:
# number words mostly come in counting runs ("one, two, three") and ages, so the mean for "seven" carries
# "after six" as well as "seven". To take that out, we put every word of a concept after the same few
# left contexts ("She was ...", "There were ...", "They had ..." for numbers and digits; "On ...",
# "It was ..." for days; "In ...", "Her birthday was in ..." for months) and average its residual there
# (`word_geometry.context_means`), then run the same order test in each residual stream (threshold
# 0.05 / 4 for the four layers).

# %%
CONTEXTS = {"number_word": ["She was", "There were", "They had"], "digit": ["She was", "There were", "They had"],
            "day": ["On", "It was"], "month": ["In", "Her birthday was in"]}
matched_rows = []
for concept, contexts in CONTEXTS.items():
    words = list(word_geometry.word_token_ids(model.tokenizer, CATEGORIES[concept]))
    position = np.array([CATEGORIES[concept].index(w) for w in words])
    period = len(CATEGORIES[concept]) if concept in CYCLIC else None
    means = word_geometry.context_means(model, resid_hooks, contexts, words)
    for layer, hook in enumerate(resid_hooks):
        rho, p = stats.mantel_test(means[hook].numpy(), stats.order_distances(position, period), N_PERM_ORDER, SEED)
        matched_rows.append(dict(concept=concept, space=f"resid{layer}", words=len(words), order=rho, order_p=p))
matched = pd.DataFrame(matched_rows)
MATCHED_ALPHA = 0.05 / len(resid_hooks)
for concept, key in [("number_word", "number_words"), ("digit", "digits"), ("day", "days"), ("month", "months")]:
    part = matched[matched.concept == concept]
    top = part.loc[part.order.idxmax()]
    mw.record(f"{key}_matched_max_order", round(float(top.order), 4))
    mw.record(f"{key}_matched_max_order_p", round(float(top.order_p), 5))
    mw.record(f"{key}_matched_ordered_layers", int((part.order_p < MATCHED_ALPHA).sum()))
mw.record("matched_alpha", round(MATCHED_ALPHA, 4))
matched.pivot(index="concept", columns="space", values="order").round(2)


# %% [markdown]
# ## 3. Subsets and supersets: birds, animals and other words
#
# The lexicon behind the stories (`mi_widgets.organisms.lexicon.CATEGORIES`) groups words, with four kinds of
# animal (mammal, bird, fish, insect) under `animal`, beside ten other categories (colours, foods,
# toys, places, feelings, ...). We centre each word's mean residual on the mean residual over all
# tokens and ask three questions with cosines, always leaving the word itself out of any mean it is
# compared with (`word_geometry.category_cosines`):
#
# * **Top level:** is each word closest to its own category's mean (animal, colour, food, ...)?
# * **Kinds:** is each animal closest to its own kind's mean among the kinds (those with at least two
#   words seen often enough)? We take the animals' points after subtracting the mean of all animals,
#   so that the shared animal part does not swamp the comparison (the raw version is in the table too),
#   and report the balanced accuracy (mean over kinds), so chance is one over the number of kinds
#   whatever their sizes, with a p-value from shuffling the kinds.
# * **Superset:** is each animal of a kind closer to the mean of the *other* animals (a direction
#   built without its own kind) than to every non-animal category? If the geometry holds a shared
#   "animal" part, a bird should look like an animal even to a direction that never saw a bird.
#
# **What the data allow.** In our stories the kinds are nearly interchangeable: a character animal is
# drawn from mammals, birds and insects alike (fish are never characters) and does the same things,
# whichever kind it is; only the places where animals are seen (a zoo, a pond, an aquarium) depend on the
# kind. A model has little reason to tell kinds apart, so a null result on kinds says more about the
# generator than about the model. The top-level categories, in contrast, fill different template slots
# (colours, foods, places), which makes them easy to tell apart and favours the top-level and superset
# scores.

# %%
kinds = list(PARENT)  # each kind's parent is "animal"
others = ["colour", "food", "toy", "place", "feeling", "body_part", "family", "thing", "weather", "verb_past"]
kind_of = {w: kind for kind in kinds for w in CATEGORIES[kind]}
top_of = {w: "animal" for w in CATEGORIES["animal"]}
for cat in others:
    for w in CATEGORIES[cat]:
        top_of.setdefault(w, cat)
word_ids = word_geometry.word_token_ids(model.tokenizer, list(top_of))


def kind_accuracy(points, kind, present):
    """Balanced accuracy of nearest kind mean (leave-one-out cosine): the mean over kinds of their recall."""
    guess = np.array(present)[word_geometry.category_cosines(points, kind, present).argmax(1)]
    return float(np.mean([(guess[kind == k] == k).mean() for k in present]))


def category_scores(points, words):
    """Top-level accuracy, kind accuracy (raw and below the animal mean) and superset transfer."""
    top = np.array([top_of[w] for w in words])
    cos = word_geometry.category_cosines(points, top, ["animal"] + others)
    top_acc = float((np.array(["animal"] + others)[cos.argmax(1)] == top).mean())
    kind = np.array([kind_of.get(w, "") for w in words])
    present = [k for k in kinds if (kind == k).sum() >= 2]  # leaving one out needs two
    is_kind = torch.from_numpy(np.isin(kind, present))
    offsets = points[is_kind] - points[torch.from_numpy(top == "animal")].mean(0)  # below the shared animal part
    wins = []
    for k in present:  # the animal direction without kind k, against every non-animal category
        labels = np.where(kind == k, "self", np.where(top == "animal", "rest", top))
        cos = word_geometry.category_cosines(points, labels, ["rest"] + others)[kind == k]
        wins += list(cos[:, 0] > cos[:, 1:].max(1))
    return dict(top_level_accuracy=top_acc, kinds=len(present),
                kind_accuracy_raw=kind_accuracy(points[is_kind], kind[is_kind.numpy()], present),
                kind_accuracy=kind_accuracy(offsets, kind[is_kind.numpy()], present),
                superset_transfer=float(np.mean(wins)), offsets=offsets, offset_kinds=kind[is_kind.numpy()],
                present=present)


category_rows, centred, scores = [], {}, {}
for layer, hook in enumerate(resid_hooks):
    means = word_geometry.token_means(rows, acts[hook] - acts[hook].mean(0), word_ids, MIN_COUNT)
    centred[layer], scores[layer] = means, category_scores(means.means, means.words)
    category_rows.append(dict(space=f"resid{layer}", words=len(means.words),
                              **{k: v for k, v in scores[layer].items() if np.isscalar(v)}))
categories = pd.DataFrame(category_rows).set_index("space")
here = scores[LAYER]
_, kind_p = stats.permutation_p_value(
    lambda o: kind_accuracy(here["offsets"], here["offset_kinds"][o], here["present"]), len(here["offsets"]),
    N_PERM, SEED)
mw.record("category_words", int(categories.loc[f"resid{LAYER}", "words"]))
mw.record("top_level_accuracy", round(here["top_level_accuracy"], 4))
mw.record("top_level_chance", round(1 / (1 + len(others)), 4))
mw.record("superset_transfer", round(here["superset_transfer"], 4))
mw.record("kind_chance", round(1 / here["kinds"], 4))
mw.record("kind_accuracy_raw", round(here["kind_accuracy_raw"], 4))
mw.record("kind_accuracy", round(here["kind_accuracy"], 4))
mw.record("kind_accuracy_p", round(kind_p, 4))
mw.record("kind_accuracy_max_layer", round(float(categories.kind_accuracy.max()), 4))

# How big is each kind's own part, and which way does it point, relative to the animal mean?
animal_mean = centred[LAYER].means[torch.tensor([top_of[w] == "animal" for w in centred[LAYER].words])].mean(0)
offset_stats = []
for k in here["present"]:
    step = here["offsets"][torch.from_numpy(here["offset_kinds"] == k)].mean(0)
    offset_stats.append((float(step.norm() / animal_mean.norm()),
                         abs(float(torch.nn.functional.cosine_similarity(step, animal_mean, dim=0)))))
mw.record("kind_offset_relative_norm_max", round(max(n for n, _ in offset_stats), 4))
mw.record("kind_offset_abs_cos_max", round(max(c for _, c in offset_stats), 4))
mw.record("random_cos_scale", round(1 / np.sqrt(model.cfg.d_model), 4))  # typical |cos| of random directions
categories.round(3)

# %% [markdown]
# **Is there a latent for the category?** With the SAE on the same residual stream we ask, for each
# word, which latents fire on at least half of its occurrences. A category latent should do so on the
# category's words (recall) and not on other words (precision); we keep the latent with the best F1
# score for `animal` and for each kind. Then: is its decoder direction close to the category's mean
# direction, compared with every other latent's?

# %%
sae = saes[f"resid{LAYER}"]
hook = resid_hooks[LAYER]
means = centred[LAYER]
point_of = dict(zip(means.words, means.means))
latent_words, rates = word_geometry.word_firing_rates(sae, rows, acts[hook], {w: word_ids[w] for w in means.words})
fires = (rates >= 0.5).float()  # [n_words, width]: latent fires on most occurrences of the word
kinds_here = [k for k in kinds if sum(kind_of.get(w) == k for w in latent_words) >= 2]
latent_rows = []
for cat in ["animal"] + kinds_here:
    member = torch.tensor([(top_of[w] == "animal") if cat == "animal" else kind_of.get(w) == cat for w in latent_words])
    hits = fires[member].sum(0)
    recall, precision = hits / member.sum(), hits / fires.sum(0).clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-9)
    best_latent = int(f1.argmax())
    direction = torch.stack([point_of[w] for w, m in zip(latent_words, member) if m]).mean(0)
    cos = torch.nn.functional.cosine_similarity(sae.W_dec.detach(), direction[None], dim=1)
    latent_rows.append(dict(category=cat, words=int(member.sum()), latent=best_latent, f1=float(f1[best_latent]),
                            recall=float(recall[best_latent]), precision=float(precision[best_latent]),
                            decoder_cos=float(cos[best_latent]), latents_closer=int((cos > cos[best_latent]).sum())))
category_latents = pd.DataFrame(latent_rows).set_index("category")
for cat in ["animal", "bird"]:
    for col in ["f1", "recall", "precision", "decoder_cos", "latents_closer"]:
        value = category_latents.loc[cat, col]
        mw.record(f"{cat}_latent_{col}", int(value) if col == "latents_closer" else round(float(value), 4))
mw.record("kind_latent_max_f1", round(float(category_latents.loc[kinds_here, "f1"].max()), 4))
category_latents.round(3)

# %% [markdown]
# **Projection.** Each word's centred mean residual projected on the animal direction (the mean of
# all animals) and on the bird direction made orthogonal to it. If birds were a sub-region of the
# animals, birds would sit high on both axes, other animals high on the first only. The second axis is
# built from the birds themselves, so their separation along it is partly by construction; the
# leave-one-out accuracy above is the fair test.

# %%
animal_dir = torch.stack([p for w, p in point_of.items() if top_of[w] == "animal"]).mean(0)
bird_dir = torch.stack([p for w, p in point_of.items() if kind_of.get(w) == "bird"]).mean(0)
x_axis = animal_dir / animal_dir.norm()
y_axis = bird_dir - (bird_dir @ x_axis) * x_axis
y_axis = y_axis / y_axis.norm()
colours = {"mammal": "tab:brown", "bird": "tab:blue", "fish": "tab:cyan", "insect": "tab:green"}

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6.5, 4.5))
handles = {}
for word, point in point_of.items():
    group = kind_of.get(word, "other animal" if top_of[word] == "animal" else "not an animal")
    x, y = float(point @ x_axis), float(point @ y_axis)
    handles[group] = ax.scatter(x, y, s=14, c=colours.get(group, "0.75" if group == "not an animal" else "k"))
    if group == "bird":
        ax.annotate(word, (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
ax.legend(list(handles.values()), list(handles), fontsize=7)
ax.set(xlabel="along the animal direction", ylabel="along the bird direction (orthogonal part)",
       title=f"word means in resid{LAYER}, centred")
plt.show()

# %% [markdown]
# ## 4. One space or several blocks?
#
# We take the latents of the same SAE that fire at least `MIN_FIRES` times and measure how often
# each pair fires on the same token: the cosine of their binary firing patterns,
# $n_{ij}/\sqrt{n_i n_j}$ (`latent_blocks.coactivation`). Spectral clustering of that matrix into `N_CLUSTERS`
# groups (`latent_blocks.cluster_latents`) finds the blocks, if any; the share of all co-activation that falls
# inside the blocks (`latent_blocks.within_share`) says how strong they are.
#
# **Null.** Each latent's firing pattern shifted in time by its own random offset through the token
# stream (`latent_blocks.circular_shift`): every latent keeps its rate and its burstiness within stories, but
# which latents fire together becomes chance. The same clustering of the null matrix gives the block
# strength that chance alone reaches.
#
# Then three comparisons with the co-activation blocks: are decoder directions more similar inside
# blocks than between them (against shuffled block labels)? Do the blocks match word categories (the
# lexicon category that receives at least half of a latent's activation, for latents that have one;
# adjusted mutual information against shuffled categories)? Do the blocks span subspaces: is the effective
# rank of each block's decoder directions (the exponential of the entropy of their squared singular
# values, `latent_blocks.effective_rank`) lower than that of a random set of latents of the same size? And
# clustering the decoder cosines themselves: are there blocks in the geometry alone, compared with random
# directions drawn with the activations' own covariance?

# %%
codes = code_spectrum.sparse_codes(sae, acts[hook]).tocoo()
n_tokens = codes.shape[0]
alive = np.flatnonzero(np.bincount(codes.col, minlength=sae.cfg.width) >= MIN_FIRES)
column = np.full(sae.cfg.width, -1)
column[alive] = np.arange(len(alive))
keep = column[codes.col] >= 0
fire_rows, fire_latents, fire_values = codes.row[keep], column[codes.col[keep]], codes.data[keep]

coact = latent_blocks.coactivation(fire_rows, fire_latents, n_tokens, len(alive))
blocks = latent_blocks.cluster_latents(coact, N_CLUSTERS, seed=SEED)
null_shares = []
for s in range(N_SHIFTS):
    null = latent_blocks.coactivation(latent_blocks.circular_shift(fire_rows, fire_latents, n_tokens, seed=SEED + s), fire_latents,
                            n_tokens, len(alive))
    null_shares.append(latent_blocks.within_share(null, latent_blocks.cluster_latents(null, N_CLUSTERS, seed=SEED)))
mw.record("block_latents", len(alive))
mw.record("coact_within_share", round(latent_blocks.within_share(coact, blocks), 4))
mw.record("coact_within_share_null", round(float(np.mean(null_shares)), 4))

decoder = torch.nn.functional.normalize(sae.W_dec.detach()[torch.from_numpy(alive)], dim=1).numpy()
dec_cos = decoder @ decoder.T
dec_cos = dec_cos.astype(np.float32)
gap, gap_p = stats.permutation_p_value(lambda o: latent_blocks.within_minus_between(dec_cos, blocks[o]), len(alive),
                                     N_PERM_MATRIX, SEED)
mw.record("decoder_cos_within_minus_between", round(gap, 4))
mw.record("decoder_cos_within_minus_between_p", round(gap_p, 4))
# Subspaces, geometrically: does each block's set of decoder directions span fewer dimensions than a random
# set of latents of the same size? (effective rank as a share of the block's size; null: shuffled blocks)
rank_share, rank_p = stats.permutation_p_value(lambda o: -latent_blocks.mean_block_rank(decoder, blocks[o]),
                                               len(alive), N_PERM_MATRIX, SEED)
null_rank = np.mean([latent_blocks.mean_block_rank(decoder, np.random.default_rng(SEED + s).permutation(blocks))
                     for s in range(20)])
mw.record("block_rank_share", round(-rank_share, 4))
mw.record("block_rank_share_null", round(float(null_rank), 4))
mw.record("block_rank_share_p", round(rank_p, 4))
print("block sizes:", sorted(np.bincount(blocks).tolist(), reverse=True))

# %%
# Each latent's category: where at least half its activation lands on words of one lexicon category.
top_level = ["animal"] + others + ["number_word", "digit", "day", "month"]
token_category = np.full(model.cfg.d_vocab, len(top_level))  # last index: not a category word
for cat_index, cat in enumerate(top_level):
    for word, tid in word_geometry.word_token_ids(model.tokenizer, CATEGORIES[cat]).items():
        token_category[tid] = min(token_category[tid], cat_index)
flat_tokens = rows[:, 1:].reshape(-1).numpy()
mass = np.zeros((len(alive), len(top_level) + 1))
np.add.at(mass, (fire_latents, token_category[flat_tokens[fire_rows]]), fire_values)
share = mass[:, :-1] / mass.sum(1, keepdims=True)
latent_category, has_category = share.argmax(1), share.max(1) >= 0.5
semantic_blocks, semantic_cats = blocks[has_category], latent_category[has_category]
ami, ami_p = stats.permutation_p_value(lambda o: adjusted_mutual_info_score(semantic_cats[o], semantic_blocks),
                                     len(semantic_cats), N_PERM, SEED)
mw.record("category_latents", int(has_category.sum()))
mw.record("blocks_category_ami", round(ami, 4))
mw.record("blocks_category_ami_p", round(ami_p, 4))

# Blocks in the geometry alone: cluster the (positive) decoder cosines; null: random directions with
# the activations' covariance, so that the null has the same anisotropy as the residual stream.
geometry_blocks = latent_blocks.cluster_latents(dec_cos.clip(min=0), N_CLUSTERS, seed=SEED)
cov = np.cov(acts[hook].numpy().T)
rng = np.random.default_rng(SEED)
random_dirs = rng.multivariate_normal(np.zeros(len(cov)), cov, size=len(alive))
random_dirs /= np.linalg.norm(random_dirs, axis=1, keepdims=True)
random_cos = (random_dirs @ random_dirs.T).clip(min=0)
mw.record("decoder_within_share", round(latent_blocks.within_share(dec_cos.clip(min=0), geometry_blocks), 4))
mw.record("decoder_within_share_null", round(latent_blocks.within_share(random_cos, latent_blocks.cluster_latents(random_cos, N_CLUSTERS,
                                                                                          seed=SEED)), 4))
mw.record("geometry_blocks_category_ami", round(adjusted_mutual_info_score(semantic_cats,
                                                                           geometry_blocks[has_category]), 4))
print(f"{has_category.sum()} of {len(alive)} latents put at least half their activation on one category:",
      dict(pd.Series(np.array(top_level)[semantic_cats]).value_counts()))

# %%
order = np.argsort(blocks, kind="stable")

# %% tags=["hide-input"]
fig, ax = plt.subplots(1, 2, figsize=(10, 4.4))
ax[0].imshow(np.sqrt(coact[np.ix_(order, order)]), cmap="magma", vmax=0.6)
ax[0].set(title="co-activation (sqrt), latents sorted by block", xticks=[], yticks=[])
ax[1].imshow(dec_cos[np.ix_(order, order)], cmap="RdBu_r", vmin=-0.6, vmax=0.6)
ax[1].set(title="decoder cosine, same order", xticks=[], yticks=[])
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Blocks and circuits
#
# Word categories are one way latents could group; circuits are another. We give each latent two circuit
# labels, both computed:
#
# * **Main writer.** The residual stream the SAE reads (after block `LAYER`) is the sum of the outputs of the embeddings, of
#   every head and of every MLP before it (plus constant biases). So each latent's pre-activation splits
#   exactly into one term per component (`latent_blocks.latent_writers`). A latent's main writer is the component
#   with the largest mean term over the tokens where it fires.
# * **Capability served.** The story generator labels every token that a planted capability makes
#   predictable. A residual latent at position $p$ serves the prediction of token $p+1$, so its activation
#   splits by the capability of the next token (`latent_blocks.latent_capabilities`, on held-out stories). A latent
#   gets a capability when at least half its activation serves labelled tokens; the label is the
#   capability that receives the most.
#
# Each labelling is compared with the co-activation blocks by adjusted mutual information against
# shuffled labels, as the categories were. Last, the link between the two views: are the latents that
# serve name induction written by the model's [induction heads](../glossary.md#g-induction-head)?
#

# %%
alive_t = torch.from_numpy(alive)
writer_names = latent_blocks.writer_names(model, LAYER)
writer_means, _ = latent_blocks.latent_writers(model, sae, rows[:WRITER_ROWS])
writer = latent_blocks.main_writers(writer_means[alive_t], writer_names)
writer_ami, writer_ami_p = stats.permutation_p_value(lambda o: adjusted_mutual_info_score(writer[o], blocks),
                                                   len(alive), N_PERM, SEED)

circuit_stories = list(generate_stories(CIRCUIT_STORIES, seed=SEED + 31, split="val"))
mass = latent_blocks.latent_capabilities(sae, model, circuit_stories, CAPABILITIES)[alive_t]  # [alive, capabilities + other]
served = (mass[:, :-1].sum(1) / mass.sum(1).clamp_min(1e-9)).numpy()
capability = np.array(CAPABILITIES)[mass[:, :-1].argmax(1).numpy()]
has_capability = served >= 0.5
cap_ami, cap_ami_p = stats.permutation_p_value(
    lambda o: adjusted_mutual_info_score(capability[has_capability][o], blocks[has_capability]),
    int(has_capability.sum()), N_PERM, SEED)

# The induction heads of the layers that write this stream (score above 0.4 on repeated random tokens).
ind_scores = induction_report(model).scores[: LAYER + 1]
induction_heads = [f"L{l}H{h}" for l, h in zip(*np.nonzero(ind_scores.numpy() > 0.4))]
by_induction = np.isin(writer, induction_heads)
serves_induction = has_capability & (capability == "induction_name")
# One-sided Fisher exact test: are induction-serving latents written by induction heads more often?
_, induction_p = fisher_exact([[(by_induction & serves_induction).sum(), (~by_induction & serves_induction).sum()],
                               [(by_induction & ~serves_induction).sum(), (~by_induction & ~serves_induction).sum()]],
                              alternative="greater")

mw.record("writer_ami", round(writer_ami, 4))
mw.record("writer_ami_p", round(writer_ami_p, 4))
mw.record("capability_latents", int(has_capability.sum()))
mw.record("capability_ami", round(cap_ami, 4))
mw.record("capability_ami_p", round(cap_ami_p, 4))
top_writer = pd.Series(writer).value_counts()
mw.record("top_writer", top_writer.index[0])
mw.record("top_writer_share", round(float(top_writer.iloc[0] / len(writer)), 4))
mw.record("induction_heads_here", induction_heads)
mw.record("induction_latents", int(serves_induction.sum()))
mw.record("induction_latents_written_by_induction_heads",
          round(float(by_induction[serves_induction].mean()) if serves_induction.any() else 0.0, 4))
mw.record("other_latents_written_by_induction_heads", round(float(by_induction[~serves_induction].mean()), 4))
mw.record("induction_writer_p", float(f"{induction_p:.3g}"))
pd.DataFrame([
    dict(labels="word category", latents=int(has_category.sum()), ami=ami, p=ami_p),
    dict(labels="capability served", latents=int(has_capability.sum()), ami=cap_ami, p=cap_ami_p),
    dict(labels="main writer", latents=len(alive), ami=writer_ami, p=writer_ami_p),
]).set_index("labels").round(4)


# %% [markdown]
# Each block's latents by main writer (left) and by the capability they serve (right; latents with no
# capability are left out), blocks sorted by size. Blocks that are one colour on a side are blocks that
# one circuit explains.

# %%
sizes = pd.Series(blocks).value_counts().index  # block ids, largest first

# %% tags=["hide-input"]
fig, ax = plt.subplots(1, 2, figsize=(13, 3.8))
for axis, labels, keep, title in [(ax[0], writer, np.ones(len(alive), bool), "main writer"),
                                  (ax[1], capability, has_capability, "capability served")]:
    table = pd.crosstab(blocks[keep], labels[keep]).reindex(sizes, fill_value=0)
    common = table.sum().sort_values(ascending=False).index[:7]
    table = pd.concat([table[common], table.drop(columns=common).sum(axis=1).rename("other")], axis=1)
    (table.T / table.sum(axis=1).clip(lower=1)).T.plot.bar(stacked=True, ax=axis, width=0.85, colormap="tab10", legend=False)
    axis.set(title=title, xlabel="co-activation block (largest first)", ylabel="share of the block's latents")
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What we found

# %% tags=["hide-input"]
r = mw.records()
widths = " / ".join(str(w) for w in r["width_family_widths"])


def ordered_verdict(name, key):
    """The order test decides; the line or circle score says what shape the ordered words take."""
    cyclic = key in ("days", "months")
    n, space = r[f"{key}_ordered_spaces"], r[f"{key}_max_order_space"]
    head = (f"{name} are in order in {n} of 6 spaces" if n else f"{name} are in order in none of the 6 spaces")
    head += (f" (order test: best {r[f'{key}_max_order']:+.2f} in {space}, p = {r[f'{key}_max_order_p']:.4f}, "
             f"threshold {r['order_alpha']:.4f})")
    if cyclic:
        shape = (f"; round a circle the best score is {r[f'{key}_max_circle']:.2f} (in {r[f'{key}_max_circle_space']}), "
                 f"in exact cyclic order in {r[f'{key}_in_order_spaces']} spaces.")
    else:
        shape = (f"; along the first principal component the best rank correlation is {r[f'{key}_max_line']:.2f} "
                 f"(in {r[f'{key}_max_line_space']})"
                 + (f", and the circle score {r['digits_max_circle']:.2f} says the order bends into an arc."
                    if key == "digits" and r["digits_max_circle"] > r["digits_max_line"] else "."))
    return head + shape


# An untrained model's codes, words and blocks get no finding (and some of its statistics are undefined).
found = [mw.untrained_finding(MODEL, model_loss, model.cfg.d_vocab, "its geometry, its words or its latents")] \
    if not r["trained"] else [
    f"PCA of SAE codes: within a loss budget of {LOSS_RISE:.0%} of each SAE's own loss gap, "
    f"{r['ablatable_fraction_min']:.1%} to {r['ablatable_fraction_max']:.1%} of the principal components "
    f"can be dropped across the {r['n_pca_saes']} SAEs. Counting live latents only, on `{r['width_family_hook']}` "
    f"(widths {widths}) the share goes from {r['width_family_ablatable_live_narrowest']:.1%} to "
    f"{r['width_family_ablatable_live_widest']:.1%}"
    + (", rising with width." if r["ablatable_live_rises_with_width"] else
       ", not rising steadily with width: the rise in the raw share comes from dead latents.")
    + (" Dropping the lowest-variance latents along their own axes instead allows "
       + (f"{100 * r['pc_minus_axis_ablatable_live_min']:.0f} to {100 * r['pc_minus_axis_ablatable_live_max']:.0f} "
          "points fewer of the live latents than PC ablation" if r["pc_minus_axis_ablatable_live_min"] > 0
          else "about as many, or more, in some SAEs"))
    + f", and the dropped components hold {r['tail_share_over_null_min']:.2f} to "
    f"{r['tail_share_over_null_max']:.2f} times the variance the same number holds when each latent's codes are "
    "shuffled on their own"
    + (": the droppable tail is mostly rare latents, not linear combinations of others."
       if r["tail_share_over_null_min"] > 0.5 else ": the real tail is much thinner, a sign of linear dependence."),
    f"As a quality metric the live ablatable share fails here: its rank correlation is {r['rho_ablatable_fvu']:+.2f} "
    f"(p = {r['rho_ablatable_fvu_p']:.2f}) with FVU and {r['rho_ablatable_loss_recovered']:+.2f} "
    f"(p = {r['rho_ablatable_loss_recovered_p']:.2f}) with loss recovered"
    + (", so the data support the hypothesis." if r["spectrum_metric_supported"] else
       ": no, more droppable components do not mark worse SAEs"
       + (" (if anything, the better-reconstructing SAEs allow more)." if r["rho_ablatable_fvu"] < 0 else "."))
    + f" The participation ratio as a share of the width ranks the SAEs like FVU, "
    f"{r['rho_participation_fvu']:+.2f} (p = {r['rho_participation_fvu_p']:.2f}), but the raw ratio gives "
    f"{r['rho_participation_raw_fvu']:+.2f} (p = {r['rho_participation_raw_fvu_p']:.2f}): the first comes from "
    f"dividing by the width. With three statistics tried (threshold {r['spectrum_alpha']:.4f}) and seven SAEs that "
    "differ in width and layer, "
    + ("the one significant link runs against the hypothesis, and width and layer could explain it as well as "
       "quality: the spectrum is no usable quality metric here." if r["rho_ablatable_fvu_p"] < r["spectrum_alpha"]
       else "the PCA spectrum says nothing we can use about SAE quality here."),
    *[ordered_verdict(concept, key) for concept, key in [("Number words", "number_words"), ("Digits", "digits"),
                                                         ("Days", "days"), ("Months", "months")]],
    f"Without \"one\" and \"two\", the number words three to ten in {r['number_words_max_order_space']} give "
    f"{r['number_words_order_without_one_two']:+.2f} (p = {r['number_words_order_without_one_two_p']:.4f}): "
    + ("the order does not rest on those two." if r["number_words_order_without_one_two_p"] < r["order_alpha"]
       else "much of the order rests on those two words."),
    "With the context held fixed (the same left contexts for every word, threshold "
    f"{r['matched_alpha']:.4f} over four layers): "
    + "; ".join(f"{name} {r[f'{key}_matched_max_order']:+.2f} (p = {r[f'{key}_matched_max_order_p']:.4f}, in order in "
                f"{r[f'{key}_matched_ordered_layers']} of 4 layers)"
                for name, key in [("number words", "number_words"), ("digits", "digits"), ("days", "days"),
                                  ("months", "months")]) + ".",
    f"Categories: in resid{LAYER}, {r['top_level_accuracy']:.0%} of {r['category_words']} words are closest to their "
    f"own top-level category (chance {r['top_level_chance']:.0%}), and {r['superset_transfer']:.0%} of animals are "
    f"closer to an animal direction built without their own kind than to any other category"
    + (": the superset shows. " if r["superset_transfer"] >= 0.9 else ". ")
    + ("The kinds do not show" if r["kind_accuracy_p"] >= 0.05 else
       "The kinds show only weakly" if r["kind_accuracy"] < r["kind_chance"] + 0.25 else "The kinds show too")
    + f": below the animal mean, the nearest kind is right with balanced accuracy {r['kind_accuracy']:.0%} "
    f"(chance {r['kind_chance']:.0%}, p = {r['kind_accuracy_p']:.3f}; {r['kind_accuracy_raw']:.0%} without "
    f"removing the animal mean; at most {r['kind_accuracy_max_layer']:.0%} in any layer). Each kind is a small step "
    f"from the animal mean, at most {r['kind_offset_relative_norm_max']:.0%} of its length, at |cosine| at most "
    f"{r['kind_offset_abs_cos_max']:.2f} to it"
    + (", about as orthogonal as random directions in this space are (typical |cosine| "
       if r["kind_offset_abs_cos_max"] < 2 * r["random_cos_scale"] else " (random directions: about ")
    + f"{r['random_cos_scale']:.2f}).",
    f"SAE latents: one latent fires on most occurrences of {r['animal_latent_recall']:.0%} of the animal words with "
    f"precision {r['animal_latent_precision']:.0%} (F1 {r['animal_latent_f1']:.2f}); its decoder direction has cosine "
    f"{r['animal_latent_decoder_cos']:.2f} with the animal mean direction, and {r['animal_latent_latents_closer']} "
    "latents are closer. "
    + ("No latent stands for birds" if r["bird_latent_f1"] < 0.8 else "A latent stands for birds")
    + f": the best bird latent has F1 {r['bird_latent_f1']:.2f} (recall {r['bird_latent_recall']:.0%}, precision "
    f"{r['bird_latent_precision']:.0%}); the best over the kinds is {r['kind_latent_max_f1']:.2f}.",
    f"Blocks: clustering {r['block_latents']} latents by co-activation puts {r['coact_within_share']:.0%} of all "
    f"co-activation inside {N_CLUSTERS} blocks, against {r['coact_within_share_null']:.0%} for time-shifted null data: "
    "the latents fire in groups. Whether the groups are subspaces is a question of geometry, and there the "
    f"answer is weak: decoder directions are more alike inside blocks (mean cosine "
    f"{r['decoder_cos_within_minus_between']:+.3f} over between-block pairs, p = "
    f"{r['decoder_cos_within_minus_between_p']:.3f}), and a block's directions have effective rank "
    f"{r['block_rank_share']:.2f} of its size against {r['block_rank_share_null']:.2f} for random sets of the same "
    f"size (p = {r['block_rank_share_p']:.3f})"
    + (": the blocks span somewhat fewer dimensions than chance. " if r["block_rank_share_p"] < 0.01
       else ": not fewer dimensions than chance. ")
    + ("The blocks match word categories" if r["blocks_category_ami_p"] < 0.01
       else "The blocks do not match word categories beyond chance")
    + f" (adjusted mutual information {r['blocks_category_ami']:.2f}, p = {r['blocks_category_ami_p']:.3f}; only "
    f"{r['category_latents']} latents have a category at all). "
    + ("The geometry alone shows little" if r["decoder_within_share"] - r["decoder_within_share_null"] < 0.1
       else "The geometry alone shows blocks too")
    + f": clustering decoder cosines gives within-block share {r['decoder_within_share']:.2f} against "
    f"{r['decoder_within_share_null']:.2f} "
    f"for random directions with the same covariance, and those blocks match categories with AMI "
    f"{r['geometry_blocks_category_ami']:.2f}.",
    "Blocks and circuits: the co-activation blocks match the capability their latents serve with AMI "
    f"{r['capability_ami']:.2f} (p = {r['capability_ami_p']:.3f}, {r['capability_latents']} latents that serve a "
    f"planted capability) and each latent's main writer with AMI {r['writer_ami']:.2f} (p = {r['writer_ami_p']:.3f}, "
    f"all {r['block_latents']} latents), against {r['blocks_category_ami']:.2f} for word categories "
    f"({r['category_latents']} latents). Each score is over its own latents, so the comparison is rough, but "
    + ("the capability served explains the blocks about as well as word meaning does. "
       if abs(r["capability_ami"] - r["blocks_category_ami"]) < 0.05
       else "the capability served explains the blocks better than word meaning does. "
       if r["capability_ami"] > r["blocks_category_ami"] else "word meaning explains the blocks better than the "
       "capability served does. ")
    + f"The most common main writer is {r['top_writer']} ({r['top_writer_share']:.0%} of the latents). Of the "
    f"{r['induction_latents']} latents that serve name induction, {r['induction_latents_written_by_induction_heads']:.0%} "
    f"are written mainly by an induction head ({', '.join(r['induction_heads_here'])}), against "
    f"{r['other_latents_written_by_induction_heads']:.0%} of the other latents (one-sided Fisher exact "
    f"p = {r['induction_writer_p']:.2g}, which treats the latents as independent, so it overstates the evidence): "
    "a circuit, read off the weights, that the blocks inherit. Two caveats: the capability labels and the blocks "
    "both follow where latents fire, so their agreement is partly built in, and every head that counts as an "
    "induction head here sits in the same layer.",
]
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
# ```{exercise} Explained variance
# :label: ex-geo-pca
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 10 min
#
# The chapter's first tool: the share of the variance of a set of points along each principal
# component. Centre the points, take their singular values and return the first `n` shares.
# ```
#
# <details><summary>Hint</summary>
#
# `torch.linalg.svdvals(x - x.mean(0))`; a component's variance is proportional to its singular value squared.
#
# </details>

# %%
def explained_variance(x, n: int):
    """Share of the variance of x [rows, d] along each of its first n principal components."""
    # BEGIN SOLUTION (stub: return None)
    s = torch.linalg.svdvals(x - x.mean(0))
    return (s.pow(2) / s.pow(2).sum())[:n]
    # END SOLUTION


# %%
exercises.check_explained_variance(explained_variance, strict=STRICT)

# %% [markdown]
# ```{exercise} An order test that assumes no line
# :label: ex-geo-order
#
# **Difficulty** 3/5 · **Importance** 5/5 · **Time** 15 min
#
# The digit verdict rests on this statistic (`stats.mantel_test` adds the permutation null): over every
# pair `i < j`, the rank correlation of the points' distance with `|i - j|`. An ordered arc scores
# high though it is not monotone along any one axis.
# ```
#
# <details><summary>Hint</summary>
#
# `np.triu_indices(n, 1)` picks each pair once; `mi_widgets.analysis.stats.rank_correlation` is Spearman's.
#
# </details>

# %%
def order_correlation(points):
    """Spearman correlation over pairs i < j of the distance between points i and j with |i - j|."""
    # BEGIN SOLUTION (stub: return None)
    n = len(points)
    upper = np.triu_indices(n, 1)
    dist = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    gap = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    return stats.rank_correlation(dist[upper], gap[upper])
    # END SOLUTION


# %%
exercises.check_order_correlation(order_correlation, strict=STRICT)

# %% [markdown]
# ```{exercise} The participation ratio
# :label: ex-geo-pr
#
# **Difficulty** 1/5 · **Importance** 3/5 · **Time** 5 min
#
# How many dimensions does a spectrum use? The participation ratio of eigenvalues λ is (Σλ)² / Σλ²:
# n for a flat spectrum, 1 for a single direction. (The chapter divides it by the width and says why
# that is a different statistic.)
# ```
#
# <details><summary>Hint</summary>
#
# One line.
#
# </details>

# %%
def participation_ratio(eigenvalues):
    """(sum of eigenvalues)^2 / sum of squared eigenvalues."""
    # BEGIN SOLUTION (stub: return None)
    return float(eigenvalues.sum() ** 2 / eigenvalues.pow(2).sum())
    # END SOLUTION


# %%
exercises.check_participation_ratio(participation_ratio, strict=STRICT)

# %% [markdown]
# ```{exercise} Co-activation
# :label: ex-geo-coact
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 10 min
#
# The blocks of latents come from this matrix: for latents i and j, the number of rows where both fire
# over the square root of the product of their own firing counts (the cosine of their binary firing
# patterns). Return it from codes `[rows, latents]` as a NumPy array (`latent_blocks.coactivation`).
# ```
#
# <details><summary>Hint</summary>
#
# `fire = (codes > 0).astype(float)`; `fire.T @ fire` counts co-firings, its diagonal each latent's own.
#
# </details>

# %%
def coactivation(codes):
    """n_ij / sqrt(n_i n_j) over the rows of codes [rows, latents]."""
    # BEGIN SOLUTION (stub: return None)
    fire = (codes > 0).astype(float)
    both = fire.T @ fire
    alone = np.sqrt(np.diag(both)).clip(min=1)
    return both / np.outer(alone, alone)
    # END SOLUTION


# %%
exercises.check_coactivation(coactivation, strict=STRICT)

# %% [markdown]
# ## Going further
#
# Open questions, no checks: change the setup and look.
#
# 1. Change the budget to 10% of the *clean* loss instead of the SAE's gap
#    (`budget = splice.loss_clean * 1.1`). Which SAEs now allow the most ablation, and does the
#    correlation with FVU change sign?
# 2. In our stories days come as a story's opening day or as runs of consecutive days ("On Monday ...
#    On Tuesday ..."), so predicting a day means knowing its successor. Look for that successor map
#    instead of a circle: fit a linear map from each day's mean residual to the next day's and test it
#    on held-out days.
# 3. Set `LAYER = 0` and `LAYER = 3`. Is there still an animal latent in those SAEs, and does any latent
#    cover one kind (birds, insects) well?
# 4. The main writer keeps only the largest term. Cluster the whole writer profiles
#    (`writer_means[alive_t]`, each row divided by its absolute sum) with k-means and compare those clusters
#    with the co-activation blocks. Do MLP0-written latents split by the heads that feed MLP0?
# 5. Drop the *largest* components instead of the smallest. How few suffice to break the model?

# %% [markdown]
# ## References
# - Apollo Research's interpretability team (2024), *A List of 45+ Mech Interp Project Ideas*:
#   "Understanding the geometry of SAE features".
# - Engels et al. (2024), *Not all language model features are linear*: circles for days and months.
# - Park, Choe, Jiang and Veitch (2024), *The geometry of categorical and hierarchical concepts in large
#   language models*.
# - Li et al. (2024), *The geometry of concepts: sparse autoencoder feature structure*: co-occurrence
#   "lobes" of SAE latents.
# - Gao et al. (2024), *Scaling and evaluating sparse autoencoders*: the [TopK SAEs](../glossary.md#g-topk) used here.
