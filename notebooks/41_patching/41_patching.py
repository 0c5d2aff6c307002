# %% [markdown]
# # Patching: the indirect-object circuit
#
# > **You will learn to** patch activations both ways (denoising and noising), patch paths between heads,
# > estimate patching with one backward pass, and score a circuit for faithfulness, completeness and minimality.
# >
# > **You need:** [Start here](../00_start/00_start.ipynb) (hooks, caches, one patch);
# > [The model organisms](../01_models/01_models.ipynb) for the indirect-object task.
# >
# > **Time:** about 120 min to study and do the exercises; the full run takes about 4.6 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** The 4-layer model finishes "When Tom and Lily went to the park, Tom gave a ball to" with " Lily":
# indirect-object identification (IOI), which it does on templates it never saw in training. Which components do
# it, and how much of the behaviour do they explain? [Activation patching](../glossary.md#g-activation-patching) (Meng et al. 2022; Wang et al. 2022,
# "Interpretability in the Wild") is the field's core causal test: run one prompt with an activation taken from
# another, and see how far the answer moves. [Attribution patching](../glossary.md#g-attribution-patching) (Nanda 2023; Syed et al. 2023) estimates all of
# those numbers at once from a gradient; both are on the list of technique problems in seed 003, and seed 001
# (Nix) asks for behaviours explained "with high standards for specificity and faithfulness". So the chapter ends
# with the test that matters: keep only the circuit, and measure what is left (its [faithfulness](../glossary.md#g-faithfulness)).
#
# **What we changed from Wang et al., and why.** Their subject is GPT-2 small (12 layers of 12 heads); ours has 4
# layers of 4 heads and was taught IOI on purpose, so its circuit need not look like GPT-2's (we say where it does
# not). Their prompts have one-token names; so do ours (the common names of the training pool), and each scene
# follows one short sentence so that no name starts the text. Their circuit's heads are chosen by hand from path
# patching; ours by a threshold on the patching scores, stated in the parameters. Their circuit (26 of 144 heads)
# keeps 87% of GPT-2's logit difference with everything else mean-ablated; we measure the same share, on fresh names
# and on templates the model never saw rather than on the prompts the circuit was found with.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-4l"  # any model (bundled or a TransformerLens name); the bundled 4-layer one was taught IOI
DEVICE = "cpu"  # "cuda" on a GPU machine

# %%
import random
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.analysis.ioi import POSITIONS, ioi_families
from mi_widgets.heads import induction_report
from mi_widgets.logprobs import is_trained
from mi_widgets.organisms.corpus import row_length, story_rows
from mi_widgets.organisms.stories import HELD_OUT_IOI
from mi_widgets.patching import (attribution_patch, every_position, faithfulness, head_means, logit_diff, patch,
                                 patch_scan, path_patch)
from mi_widgets.widgets import PatchGrid, patching_view

torch.manual_seed(SEED)
torch.set_grad_enabled(False)  # patching needs no gradients; attribution_patch turns them on for itself
N_PROMPTS = 8 if SMOKE else 48  # prompts per template family
THRESHOLD = 0.05  # a head joins the circuit if patching it moves the normalised logit difference this much
MOVER_THRESHOLD = 0.1  # a head is a "mover" if its direct path to the logits carries this much
ATTENTION_THRESHOLD = 0.3  # a head "attends" from one named position to another at this mean weight
RIGHT_MARGIN = 0.5  # a family where the model's clean logit difference is below this is one it fails
SCAN_FAMILIES = 1 if SMOKE else 3  # families for the attribution-against-activation comparison
COMPARE_AT = ("S2", "END") if SMOKE else POSITIONS  # the named positions it patches
RANDOM_CIRCUITS = 4 if SMOKE else 20  # random head sets of the circuit's size, the faithfulness baseline
PATH_FAMILIES = 1 if SMOKE else 3  # discovery families for path patching (three runs per path and family)
MAX_SCANNED = 16  # in smoke mode, a model with more heads has only this many activation-patched (see section 3)

model = mw.load_model(MODEL, device=DEVICE)
n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
HEADS = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
LIGHT = SMOKE and len(HEADS) > MAX_SCANNED  # a quick look at a big model: fewer patches and prompts everywhere
if LIGHT:
    N_PROMPTS //= 2
train_templates = [t for t in range(12) if t not in HELD_OUT_IOI]
discovery = ioi_families(model, train_templates[: 1 if SMOKE else None], n=N_PROMPTS, seed=SEED)
evaluation = ioi_families(model, train_templates[:2] + sorted(HELD_OUT_IOI)[:1] if SMOKE else range(12),
                          n=N_PROMPTS, seed=SEED + 1)
rows = story_rows(model.tokenizer, 8, row_length(model), seed=SEED + 40, split="val")
model_loss = float(model(rows, return_type="loss").detach())
mw.record("trained", is_trained(model_loss, model.cfg.d_vocab))
head_name = lambda lh: f"L{lh[0]}H{lh[1]}"  # noqa: E731
print(f"{MODEL}: {n_layers} layers x {n_heads} heads; {len(discovery)} discovery families and {len(evaluation)} "
      f"evaluation families of {N_PROMPTS} prompts")

# %% [markdown]
# ## 1. Clean and corrupt prompts
#
# `ioi_families` writes, for each template, prompts that differ only in their names, in both role orders (ABBA:
# "When A and B ..., B gave ... to" → A; ABAB: "A and B ..., A gave ... to" → B). The *ABC* corruption (Wang et
# al.) puts three fresh names in the three name slots: nothing is repeated, so nothing says which name comes next.
# The *swap* corruption makes the subject's second mention the other person, so the other name is right. The
# metric is the logit difference of the right name over the wrong one, normalised per family so that 1 is the clean
# value and 0 the corrupt value. Each family keeps the prompts of one token layout, so position *p* is the same
# word in all of them. Discovery families (names drawn with `SEED`) find the circuit; evaluation families (fresh
# names, and the three held-out templates) test it. [The model organisms](../01_models/01_models.ipynb) scores the
# held-out templates inside whole stories, with the test split's names; here they are bare scenes after one sentence,
# with the training pool's one-token names, and the table shows how the model does on those.

# %%
family_table = pd.DataFrame([{
    "template": f.template, "held out": f.held_out, "prompts": len(f),
    "clean": float(f.logit_diffs(model).mean()),
    "ABBA": float(f.logit_diffs(model)[[o == "ABBA" for o in f.order]].mean()),
    "ABAB": float(f.logit_diffs(model)[[o == "ABAB" for o in f.order]].mean()),
    "ABC": float(f.logit_diffs(model, f.abc).mean()), "swap": float(f.logit_diffs(model, f.swap).mean()),
    "wording": f.wording} for f in evaluation]).set_index("template")
seen, unseen = family_table[~family_table["held out"]], family_table[family_table["held out"]]
model_right = family_table[["ABBA", "ABAB"]].min(axis=1) > RIGHT_MARGIN  # right in both role orders
mw.record("clean_ld_seen_min", float(seen[["ABBA", "ABAB"]].min(axis=1).min()))
mw.record("abc_ld_max_abs", float(family_table.ABC.abs().max()))
mw.record("heldout_families_right", int(model_right[family_table["held out"]].sum()))
mw.record("heldout_families", int(family_table["held out"].sum()))
family_table.round(2)

# %% [markdown]
# ## 2. The residual stream, layer by position
#
# **Denoising** runs the corrupt prompt and puts in one clean activation: a score near 1 says that activation is
# *sufficient* to bring the answer back. **Noising** runs the clean prompt with one corrupt activation: a score well
# below 1 says it is *necessary*. For the residual stream the two agree at most positions, since the stream at one
# position is everything the model knows there. The heat map is one family, every position (the first prompt's
# tokens on the axis); the table after it pools the discovery families at the named positions.

# %%
resid_hooks = [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)] + [f"blocks.{n_layers - 1}.hook_resid_post"]
resid_rows = [f"resid_pre {layer}" for layer in range(n_layers)] + [f"resid_post {n_layers - 1}"]
first = discovery[0]
grids = {}
# A quick look at a big model patches the named positions only, one way.
grid_at, grid_labels = ((first.position_matrix(), list(POSITIONS)) if LIGHT
                        else (every_position(first.clean), first.axis_labels()))
directions = {"denoising": (first.clean, first.abc), "noising": (first.abc, first.clean)}
for direction, (source, target) in list(directions.items())[: 1 if LIGHT else 2]:
    scores = patch_scan(model, source, target, first.metric(model), resid_hooks, grid_at)
    grids[f"residual stream, {direction}, template {first.template}"] = PatchGrid(scores, resid_rows, grid_labels)
named = torch.stack([patch_scan(model, f.clean, f.abc, f.metric(model), resid_hooks, f.position_matrix(),
                                progress=False) for f in discovery]).mean(0)  # [hook, named position]
named_table = pd.DataFrame(named.numpy(), index=resid_rows, columns=list(POSITIONS))
end = named_table["END"]
mw.record("resid_end_layer0", float(end.iloc[0]))
mw.record("resid_names_layer0", float(named_table.loc[resid_rows[0], ["IO", "S1", "S2"]].sum()))
mw.record("resid_end1_max", float(named_table["END-1"].max()))
mw.record("resid_end1_peak_stream", named_table["END-1"].idxmax())
# The first layer whose stream at END carries most of the answer: where the names' information has arrived.
over_half = [label for label, v in end.items() if v > 0.5]
mw.record("resid_end_first_over_half", over_half[0] if over_half else "none")
patching_view(grids, "share of the clean logit difference restored")

# %%
named_table.round(2)

# %% [markdown]
# In JupyterLab, `patching_view(grids).widget()` gives a menu over the grids; the book shows the first.
#
# ## 3. Heads, their inputs, and the MLPs
#
# Each head's output (`hook_z`, all positions at once), both ways, averaged over the discovery families; then
# each head's queries, keys and values, and each MLP's output, denoised. A head whose patch moves the score by at
# least `THRESHOLD` either way joins the circuit. (A quick look at a model with more than `MAX_SCANNED` heads, in
# smoke mode, activation-patches only the heads that attribution patching ranks highest: the triage attribution
# patching was invented for.)

# %%
z_hooks = [f"blocks.{layer}.attn.hook_z" for layer in range(n_layers)]
# Triage, for a quick look at a model with many heads: activation-patch only the MAX_SCANNED heads whose output
# attribution patching (one backward pass; section 5 measures it) ranks highest. The others count as 0.
if LIGHT:
    guess = sum(attribution_patch(model, f.clean, f.abc, f.metric(model), z_hooks, per_head=True)[:, 0].abs()
                for f in discovery)
    SCANNED = sorted(sorted(HEADS, key=lambda lh: -float(guess[lh]))[:MAX_SCANNED])
else:
    SCANNED = HEADS
scanned_by_layer = {layer: [h for l, h in SCANNED if l == layer] for layer in range(n_layers)}


def head_scan(part: str, noising: bool = False, positions: tuple[str, ...] | None = None) -> torch.Tensor:
    """patch_scan of every scanned head's ``hook_{part}``, pooled over the discovery families: [layer, n_pos, head]."""
    total = torch.zeros(n_layers, 1 if positions is None else len(positions), n_heads)
    for f in discovery:
        source, target = (f.abc, f.clean) if noising else (f.clean, f.abc)
        at = None if positions is None else f.position_matrix(positions)
        for layer, heads in scanned_by_layer.items():
            if heads:
                total[layer, :, heads] += patch_scan(model, source, target, f.metric(model), [f"blocks.{layer}.attn.hook_{part}"],
                                                     at, per_head=True, heads=heads, progress=False)[0]
    return total / len(discovery)


head_denoise, head_noise = head_scan("z")[:, 0], head_scan("z", noising=True)[:, 0]  # [layer, head]
for layer, head in set(HEADS) - set(SCANNED):
    head_noise[layer, head] = 1.0  # not scanned: no effect either way
by_position_at = COMPARE_AT if LIGHT else POSITIONS
head_by_position = head_scan("z", positions=by_position_at)  # [layer, named position, head]
qkv = {part: head_scan(part)[:, 0] for part in "qkv"}
mlp_hooks = [f"blocks.{layer}.hook_mlp_out" for layer in range(n_layers)]
mlp_denoise = torch.stack([patch_scan(model, f.clean, f.abc, f.metric(model), mlp_hooks, f.position_matrix(by_position_at),
                                      progress=False) for f in discovery]).mean(0)  # [layer, named position]
circuit = [lh for lh in HEADS if max(float(head_denoise[lh]), 1 - float(head_noise[lh])) >= THRESHOLD]
mw.record("circuit_heads", [head_name(lh) for lh in circuit])
mw.record("circuit_size", len(circuit))
mw.record("head_denoise_max", float(head_denoise.max()))
mw.record("head_noise_min", float(head_noise.min()))
mw.record("mlp_end_denoise_max", float(mlp_denoise[:, -1].max()))

fig, axes = plt.subplots(1, 5, figsize=(15, 3))
for ax, (title, values) in zip(axes, [("output (denoise)", head_denoise), ("output (noise: 1 - score)", 1 - head_noise),
                                      ("queries", qkv["q"]), ("keys", qkv["k"]), ("values", qkv["v"])]):
    im = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set(title=title, xlabel="head", ylabel="layer", xticks=range(n_heads), yticks=range(n_layers))
fig.colorbar(im, ax=axes, shrink=0.8)
fig.suptitle("Patching each head (all positions), pooled over the discovery families", y=1.02)
plt.show()

# %%
head_rows = [head_name(lh) for lh in HEADS]
grid_heads = grid_at if not LIGHT else first.position_matrix(COMPARE_AT)
for method, scan in (("activation", patch_scan), ("attribution", attribution_patch)):
    if method == "activation" and LIGHT:
        continue  # the triage's heads only; the pooled grid below shows them
    extra = {"progress": False} if method == "activation" else {}
    scores = scan(model, first.clean, first.abc, first.metric(model), z_hooks, grid_heads, per_head=True, **extra)
    grids[f"every head, {method} patching, template {first.template}"] = PatchGrid(
        scores.permute(0, 2, 1).reshape(len(HEADS), -1), head_rows, list(COMPARE_AT) if LIGHT else grid_labels)
by_position_grid = PatchGrid(head_by_position.permute(0, 2, 1).reshape(-1, len(by_position_at)), head_rows,
                             list(by_position_at))
mlp_grid = PatchGrid(mlp_denoise, [f"MLP {layer}" for layer in range(n_layers)], list(by_position_at))
grids["head outputs by named position, denoising, pooled"] = by_position_grid
grids["MLP outputs by named position, denoising, pooled"] = mlp_grid
heads_view = patching_view({k: v for k, v in grids.items() if not k.startswith("residual")}, "denoising")
heads_view

# %% [markdown]
# ### The same patch through nnsight
#
# One experiment twice: every (scanned) head's output patched into the first family's ABC prompts, once with the
# hooks above and once as an nnsight trace, which writes the clean value into the module's output.

# %%
traced = mw.to_nnsight(model)
_, clean_cache = model.run_with_cache(first.clean, names_filter=lambda name: name.endswith("hook_z"))
metric = first.metric(model)
differences = []
for layer, head in SCANNED:
    by_hooks = patch_scan(model, clean_cache, first.abc, metric, [z_hooks[layer]], per_head=True, heads=[head],
                          progress=False).item()
    with traced.trace(first.abc):
        traced.blocks[layer].attn.hook_z.output[:, :, head] = clean_cache[z_hooks[layer]][:, :, head]
        logits = traced.output.save()
    differences.append(abs(float(metric(logits)) - by_hooks))
mw.record("nnsight_max_abs_diff", max(differences))
print(f"{len(differences)} heads; largest difference between the two: {max(differences):.2e}")

# %% [markdown]
# ## 4. Path patching: who talks to whom
#
# A head's patch score mixes what it writes to the logits directly and what it changes in later heads.
# [Path patching](../glossary.md#g-path-patching) (Wang et al.) separates the two: the sender's corrupt output reaches only the chosen receivers, with every
# other head frozen at its clean value (MLPs recompute). The **direct** path has the final residual stream as the
# receiver; a head that carries at least `MOVER_THRESHOLD` of the logit difference that way is a *mover*. Then, for
# each mover, which earlier heads matter through its queries, keys and values. Scores are the drop in the
# normalised logit difference (noising: clean prompts, ABC sender), over the first `PATH_FAMILIES` discovery
# families.

# %%
final = f"blocks.{n_layers - 1}.hook_resid_post"


def path_drop(sender, receivers):
    chosen = discovery[:PATH_FAMILIES]
    return sum(1 - path_patch(model, f.abc, f.clean, f.metric(model), sender, receivers) for f in chosen) / len(chosen)


direct = torch.zeros(n_layers, n_heads)  # heads outside the triage (a quick look at a big model) stay 0
for layer, head in SCANNED:
    direct[layer, head] = path_drop((z_hooks[layer], head), [(final, None)])
movers = sorted((lh for lh in HEADS if direct[lh] >= MOVER_THRESHOLD), key=lambda lh: -float(direct[lh]))[: 2 if LIGHT else 3]
senders = sorted((lh for lh in circuit if movers and lh[0] < movers[-1][0]),
                 key=lambda lh: -float(head_denoise[lh]))[: 2 if LIGHT else 3 if SMOKE else 8]
through = {}
for receiver in movers:
    for sender in [s for s in senders if s[0] < receiver[0]]:
        for part in "qkv":
            through[(head_name(sender), head_name(receiver), part)] = path_drop(
                (f"blocks.{sender[0]}.attn.hook_z", sender[1]), [(f"blocks.{receiver[0]}.attn.hook_{part}", receiver[1])])
through = pd.Series(through, dtype=float).rename("drop").rename_axis(["sender", "receiver", "via"])
mw.record("movers", [head_name(lh) for lh in movers])
mw.record("circuit_contains_movers", all(lh in circuit for lh in movers))
mw.record("direct_drop_max", float(direct.max()))
mw.record("path_via_query_max", float(through.xs("q", level="via").max()) if len(through) else 0.0)
mw.record("path_via_key_value_max", float(through.drop("q", level="via").max()) if len(through) else 0.0)
through.unstack("via").round(3) if len(through) else "no mover, so no paths into one"

# %% [markdown]
# ### Roles, by their evidence
#
# Wang et al. name heads by what they attend to and what they write: *duplicate-token* heads attend from the
# subject's second mention (S2) to its first (S1); *induction* heads from S2 to the token after S1; *previous-token*
# heads from S1+1 to S1; *name movers* from END to the indirect object, copying it to the logits; *S-inhibition*
# heads matter through the name movers' queries. Here is each head's evidence, from the clean discovery prompts,
# and the roles it earns (a role needs attention of at least `ATTENTION_THRESHOLD`, a direct drop of at least
# `MOVER_THRESHOLD`, or a query path of at least `THRESHOLD`).

# %%
def attention(query: str, key: str) -> torch.Tensor:
    """Mean attention [layer, head] from the named position ``query`` to ``key`` over the discovery families."""
    total = torch.zeros(n_layers, n_heads)
    for f in discovery:
        _, cache = model.run_with_cache(f.clean, names_filter=lambda name: name.endswith("hook_pattern"))
        rows = torch.arange(len(f))
        for layer in range(n_layers):
            pattern = cache[f"blocks.{layer}.attn.hook_pattern"]  # [batch, head, query, key]
            total[layer] += pattern[rows, :, f.positions[query], f.positions[key]].mean(0).cpu()
    return total / len(discovery)


evidence = {"S2→S1": attention("S2", "S1"), "S2→S1+1": attention("S2", "S1+1"),
            "S1+1→S1": attention("S1+1", "S1"), "END→IO": attention("END", "IO"),
            "END→S1": attention("END", "S1"), "END→END-1": attention("END", "END-1"),
            "END-1→S2": attention("END-1", "S2")}
query_path = {h: float(through.xs(("q", h), level=["via", "sender"]).sum()) if len(through) and h in
              through.index.get_level_values("sender") else 0.0 for h in map(head_name, HEADS)}
induction = induction_report(model, seq_len=20, n_seqs=8 if SMOKE else 20, seed=SEED).scores
roles = []
for lh in HEADS:
    earned = [role for role, key in (("duplicate-token", "S2→S1"), ("induction", "S2→S1+1"),
                                     ("previous-token", "S1+1→S1")) if evidence[key][lh] >= ATTENTION_THRESHOLD]
    names_seen = float(evidence["END→IO"][lh] + evidence["END→S1"][lh])
    if names_seen >= ATTENTION_THRESHOLD:
        prefers_io = float(evidence["END→IO"][lh] - evidence["END→S1"][lh]) >= ATTENTION_THRESHOLD
        earned.append("attends to the IO" if prefers_io else "attends to both names")
    if direct[lh] >= MOVER_THRESHOLD:
        earned.append("mover")
    if query_path[head_name(lh)] >= THRESHOLD:
        earned.append("S-inhibition-like")
    roles.append({"head": head_name(lh), "in circuit": lh in circuit, "denoise": float(head_denoise[lh]),
                  "direct drop": float(direct[lh]), **{k: float(v[lh]) for k, v in evidence.items()},
                  "induction score": float(induction[lh]), "roles": ", ".join(earned) or "-"})
roles = pd.DataFrame(roles).set_index("head")
both_names = roles.roles.str.contains("attends to both names")
mw.record("heads_attending_both_names", int(both_names.sum()))
mw.record("heads_attending_io", int(roles.roles.str.contains("attends to the IO").sum()))
mw.record("movers_end_to_io_max", float(roles.loc[[head_name(lh) for lh in movers], "END→IO"].max()) if movers else 0.0)
mw.record("movers_end_to_end1_max", float(roles.loc[[head_name(lh) for lh in movers], "END→END-1"].max()) if movers else 0.0)
mw.record("duplicate_or_induction_heads", int(roles.roles.str.contains("duplicate-token|induction").sum()))
mw.record("heads_end1_reading_s2", int((roles["END-1→S2"] >= ATTENTION_THRESHOLD).sum()))
display(roles[["in circuit", "denoise", "direct drop", "induction score", "roles"]].round(2))
roles[list(evidence)].round(2)  # mean attention between named positions

# %% [markdown]
# ## 5. Attribution patching against activation patching
#
# Attribution patching replaces one forward pass per component with one backward pass for all of them: the
# metric's gradient on the corrupt run, times the clean-minus-corrupt activation, estimates each denoising score.
# It is exact where the metric is linear in the activation and off where a nonlinearity downstream (an attention
# pattern, a LayerNorm's scale) responds to a large change. Here are both, for every component type at the named
# positions `COMPARE_AT` of `SCAN_FAMILIES` families. (`make bench` times the two side by side.)

# %%
component_hooks = {"residual stream": [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)],
                   "attention output": [f"blocks.{layer}.hook_attn_out" for layer in range(n_layers)],
                   "MLP output": [f"blocks.{layer}.hook_mlp_out" for layer in range(n_layers)],
                   **{f"head {name}": [f"blocks.{layer}.attn.hook_{part}" for layer in range(n_layers)]
                      for part, name in (("z", "output"), ("q", "query"), ("k", "key"), ("v", "value"))}}
pairs = []
for f in discovery[:SCAN_FAMILIES]:
    metric = f.metric(model)
    for kind, hooks in component_hooks.items():
        at, per_head = f.position_matrix(COMPARE_AT), kind.startswith("head")
        guesses = attribution_patch(model, f.clean, f.abc, metric, hooks, at, per_head=per_head)  # every layer at once
        for layer, hook in enumerate(hooks):
            heads = scanned_by_layer[layer] if per_head else None
            if heads == []:
                continue
            exact = patch_scan(model, f.clean, f.abc, metric, [hook], at, per_head=per_head, heads=heads, progress=False)
            guess = guesses[layer] if heads is None else guesses[layer][..., heads]
            pairs.append(pd.DataFrame({"kind": kind, "layer": layer, "activation": exact.flatten().numpy(),
                                       "attribution": guess.flatten().numpy(), "family": f.template}))
pairs = pd.concat(pairs)
pairs["error"] = pairs.attribution - pairs.activation
moved = pairs[pairs.activation.abs() + pairs.attribution.abs() > 1e-6]  # positions a patch cannot reach drop out
agreement = moved.groupby("kind").apply(lambda g: pd.Series({
    "components": len(g), "correlation": g.activation.corr(g.attribution),
    "largest error": g.error.abs().max(), "layer of largest error": int(g.layer.iloc[g.error.abs().argmax()])}),
    include_groups=False)
for kind, row in agreement.iterrows():
    mw.record(f"attribution_corr_{kind.replace(' ', '_')}", float(row.correlation))
mw.record("attribution_corr_min", float(agreement.correlation.min()))
mw.record("attribution_worst_kind", agreement.correlation.idxmin())
mw.record("attribution_error_max", float(agreement["largest error"].max()))
mw.record("attribution_worst_is_query_or_key", agreement.correlation.idxmin() in ("head query", "head key"))
qk = moved[moved.kind.isin(["head query", "head key"])]
mw.record("attribution_qk_error_layer", int(qk.layer.iloc[qk.error.abs().argmax()]) if len(qk) else -1)
agreement.round(3)

# %%
# Each panel on its own scale: queries and keys move the score little, and their misfit shows only up close.
fig, axes = plt.subplots(2, 4, figsize=(12, 5.6))
for ax, (kind, g) in zip(axes.flat, moved.groupby("kind", sort=False)):
    points = ax.scatter(g.activation, g.attribution, s=8, c=g.layer, cmap="viridis", vmin=0, vmax=n_layers - 1)
    low, high = min(g.activation.min(), g.attribution.min()), max(g.activation.max(), g.attribution.max())
    ax.plot([low, high], [low, high], color="#999", lw=0.8)
    ax.set(title=f"{kind} (r = {g.activation.corr(g.attribution):.2f})", xlabel="activation patching",
           ylabel="attribution patching")
axes.flat[-1].axis("off")
fig.colorbar(points, ax=axes.flat[-1], label="layer", fraction=0.5)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Faithfulness: keep only the circuit
#
# Every head outside the circuit is *mean-ablated*: its output replaced by its mean over the family's ABC prompts
# (position by position), which keeps what any prompt of the template would give it and removes what these names
# give it. MLPs and embeddings stay. Faithfulness is the circuit's logit difference as a share of the model's, on
# the evaluation families: fresh names, and the held-out templates. It is judged on the seen families the model gets
# right in both role orders; where the model is wrong in one order (the table says which), the circuit is explaining
# the model's mistake, not IOI. A random set of heads of the same size is the baseline.
#
# Completeness and minimality, in the simple form of Wang et al.: for each circuit head v, removing v from the
# circuit and from the whole model should hurt about equally if the circuit is complete (the *incompleteness* is the
# largest gap), and removing v from the circuit should hurt at all if the circuit is minimal.

# %%
rng = random.Random(SEED)
ranked = sorted(HEADS, key=lambda lh: -max(float(head_denoise[lh]), 1 - float(head_noise[lh])))
tested = [lh for lh in ranked if lh in circuit][: 8 if LIGHT else None]  # completeness, one circuit head at a time
# The circuit is judged on the seen families the model gets right in both orders. A model that gets none right
# (an untrained one) is judged on every seen family, so that its numbers exist; no finding is stated about it.
judged = ([f.template for f in evaluation if not f.held_out and model_right[f.template]]
          or [f.template for f in evaluation if not f.held_out])
rows_out, complete = [], []
for f in evaluation:
    means = head_means(model, f.abc)
    score = lambda heads: faithfulness(model, f.clean, f.answer, f.wrong, heads, means)  # noqa: E731
    row = {"template": f.template, "held out": f.held_out, "model logit diff": float(f.logit_diffs(model).mean()),
           "right in both orders": bool(model_right[f.template]), "circuit": score(circuit),
           "random heads": sum(score(rng.sample(HEADS, len(circuit))) for _ in range(RANDOM_CIRCUITS)) / RANDOM_CIRCUITS}
    rows_out.append(row)
    if f.template in judged:
        for v in tested:
            complete.append({"head": head_name(v), "circuit without v": score([lh for lh in circuit if lh != v]),
                             "model without v": score([lh for lh in HEADS if lh != v]), "circuit": row["circuit"]})
faithful = pd.DataFrame(rows_out).set_index("template")
seen_f, held_f = faithful.loc[judged], faithful[faithful["held out"]]
mw.record("faithfulness_seen_mean", float(seen_f.circuit.mean()))
mw.record("faithfulness_seen_min", float(seen_f.circuit.min()))
mw.record("faithfulness_random_mean", float(seen_f["random heads"].mean()))
mw.record("faithfulness_heldout", {int(t): round(float(v), 4) for t, v in held_f.circuit.items()})
if len(held_f):
    mw.record("faithfulness_heldout_mean", float(held_f.circuit.mean()))
if complete:
    complete = pd.DataFrame(complete).groupby("head").mean()
    complete["gap"] = (complete["circuit without v"] - complete["model without v"]).abs()
    complete["cost in circuit"] = complete["circuit"] - complete["circuit without v"]
    mw.record("incompleteness_max", float(complete.gap.max()))
    mw.record("minimality_min_cost", float(complete["cost in circuit"].min()))
    mw.record("heads_costing_under_threshold", int((complete["cost in circuit"] < THRESHOLD).sum()))
display(faithful.round(3))
complete.round(3) if len(complete) else "no circuit head, so no completeness test"

# %% [markdown]
# How small can the circuit be? Heads are added in order of their patch score (the larger of the denoising score and
# the noising drop), at up to 16 sizes; each size is scored on the judged families, against random sets of the same
# size.

# %%
seen_families = [f for f in evaluation if f.template in judged]
family_means = {f.template: head_means(model, f.abc) for f in seen_families}
n_sizes = min(8 if LIGHT else 16, len(HEADS))
sizes = sorted({round(x) for x in torch.linspace(1, len(HEADS), n_sizes).tolist()})
draws = 2 if SMOKE else 3  # random sets per size


def mean_faithfulness(heads):
    """Faithfulness of keeping only ``heads``, averaged over the seen families."""
    return sum(faithfulness(model, f.clean, f.answer, f.wrong, heads, family_means[f.template])
               for f in seen_families) / len(seen_families)


curve = pd.DataFrame([{"heads": k, "top by patching": mean_faithfulness(ranked[:k]),
                       "random": sum(mean_faithfulness(rng.sample(HEADS, k)) for _ in range(draws)) / draws}
                      for k in sizes], columns=["heads", "top by patching", "random"]).set_index("heads")
first_size = lambda column: int(curve.index[curve[column] >= 0.8][0]) if (curve[column] >= 0.8).any() else len(HEADS) + 1  # noqa: E731
mw.record("heads_for_80pct", first_size("top by patching"))
mw.record("random_heads_for_80pct", first_size("random"))
mw.record("top_heads_beat_random", first_size("top by patching") < first_size("random"))
if len(curve):
    ax = curve.plot(marker="o", figsize=(6, 3), ylabel="faithfulness", title="Keeping the top k heads, mean-ablating the rest")
    ax.axhline(1, color="#999", lw=0.8)
    plt.show()

# %% [markdown]
# ## What we found

# %%
r = mw.records()
if not r["trained"]:
    found = [mw.untrained_finding(MODEL, model_loss, model.cfg.d_vocab, "its indirect-object circuit")]
else:
    held = ", ".join(f"template {t}: {v:.0%}" for t, v in r["faithfulness_heldout"].items()) or "none judged"
    found = [
        f"On the seen templates {MODEL} puts the right name ahead by at least {r['clean_ld_seen_min']:.2f} logits in "
        f"both role orders; the ABC corruption leaves at most {r['abc_ld_max_abs']:.2f} either way. It gets "
        f"{r['heldout_families_right']} of the {r['heldout_families']} held-out templates right in both orders (by more "
        f"than {RIGHT_MARGIN}); see the table of section 1 for where it names the wrong person.",
        f"Residual stream: the answer's information sits at the name positions early (their patches restore "
        f"{r['resid_names_layer0']:.2f} together before layer 0) and has moved to END by {r['resid_end_first_over_half']}, "
        f"the first stream where END alone restores more than half. On the way it passes through the word before END: "
        f"that position alone restores {r['resid_end1_max']:.2f} at {r['resid_end1_peak_stream']}.",
        f"The circuit (heads that move the score by {THRESHOLD} or more either way): {', '.join(r['circuit_heads'])} "
        f"({r['circuit_size']} of {len(HEADS)} heads). The largest single head restores {r['head_denoise_max']:.2f}: "
        "the work is spread over many heads, not carried by a few.",
        f"Movers (direct path of at least {MOVER_THRESHOLD}): {', '.join(r['movers']) or 'none'}. GPT-2's name movers "
        f"attend from END to the indirect object; here {r['heads_attending_io']} heads prefer the IO from END (by "
        f"{ATTENTION_THRESHOLD} or more over S1), {r['heads_attending_both_names']} attend to both names about equally "
        f"(by position, not by role), and the movers give END -> IO at most {r['movers_end_to_io_max']:.2f} and the "
        f"word before END up to {r['movers_end_to_end1_max']:.2f}. {r['heads_end1_reading_s2']} heads attend from that "
        f"word to the subject's second mention; {r['duplicate_or_induction_heads']} heads earn a duplicate-token or "
        f"induction role at S2. Through the movers' queries the largest path carries {r['path_via_query_max']:.2f}, "
        f"through keys and values {r['path_via_key_value_max']:.2f}.",
        f"Attribution patching tracks activation patching with correlation {r['attribution_corr_min']:.2f} for the "
        f"worst component type ({r['attribution_worst_kind']}) and {r['attribution_corr_head_output']:.2f} for head "
        f"outputs; its largest error on any component is {r['attribution_error_max']:.3f} of the clean logit difference. "
        f"For queries and keys the largest misses are in layer {r['attribution_qk_error_layer']}.",
        f"Faithfulness: the circuit alone keeps {r['faithfulness_seen_mean']:.0%} of the model's logit difference on "
        f"fresh names of the seen templates (worst family {r['faithfulness_seen_min']:.0%}); a random set of as many "
        f"heads keeps {r['faithfulness_random_mean']:.0%}. (Wang et al.'s circuit, 26 of GPT-2's 144 heads, keeps 87%; "
        f"ours is {r['circuit_size']} of {len(HEADS)}.) Held-out templates" + (
            ", where the model is wrong in at least one order, so the circuit explains its mistake: "
            if r["heldout_families_right"] == 0 else " (see the table for the orders the model gets wrong): ")
        + f"{held}.",
    ]
    found.append(f"The top {r['heads_for_80pct']} heads by patching score keep 80% of the logit difference; random "
                 f"sets need {r['random_heads_for_80pct']} heads ({len(HEADS) + 1} means no size does).")
    if "incompleteness_max" in r:
        found.append(f"Completeness: removing one head hurts the circuit and the model alike to within "
                     f"{r['incompleteness_max']:.2f}; minimality: the cheapest circuit head costs "
                     f"{r['minimality_min_cost']:.2f} when removed, and {r['heads_costing_under_threshold']} cost less "
                     f"than {THRESHOLD}.")
    found.append(f"nnsight and TransformerLens give the same head-patching scores to {r['nnsight_max_abs_diff']:.1e}.")
mw.findings(*found)

# %% [markdown]
# ## Exercises
#
# Each exercise below asks you to write a piece of this chapter's method yourself. The check under it runs your
# function on a few inputs (built from the bundled 2-layer model and a small IOI family) and says PASSED, FAILED
# with what is wrong, or "not attempted" while your stub is untouched. In the learner notebook the solutions are
# stubs that return None, so the notebook runs from top to bottom before you start.
#
# ```{exercise} Patch one head
# :label: ex-patch-head
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 15 min
#
# Return the logits of `corrupt` with head `head` of layer `layer` given its output (`hook_z`) from the `clean`
# run, at every position, every other head untouched.
# ```
#
# <details><summary>Hint</summary>
#
# Cache `blocks.{layer}.attn.hook_z` on the clean run; in the hook, write `act[:, :, head]` and return `act`.
#
# </details>

# %%
def patch_head(model, clean, corrupt, layer, head):
    """Logits [batch, pos, d_vocab] of ``corrupt`` with one head's output from ``clean``."""
    # BEGIN SOLUTION (stub: return None)
    name = f"blocks.{layer}.attn.hook_z"
    _, cache = model.run_with_cache(clean, names_filter=name)

    def put(z, hook):
        z[:, :, head] = cache[name][:, :, head]
        return z

    return model.run_with_hooks(corrupt, fwd_hooks=[(name, put)])
    # END SOLUTION


# %%
exercises.check_patch_head(patch_head, strict=STRICT)

# %% [markdown]
# ```{exercise} The normalised logit difference
# :label: ex-patch-metric
#
# **Difficulty** 1/5 · **Importance** 5/5 · **Time** 10 min
#
# From logits [batch, pos, d_vocab] and the answer and wrong token ids [batch], return the mean last-position
# logit difference, normalised so that `clean_value` maps to 1 and `corrupt_value` to 0 (a 0-dimensional tensor).
# ```
#
# <details><summary>Hint</summary>
#
# `logits[:, -1].gather(1, answer[:, None])` picks each row's answer logit. Normalise the mean, not each row.
#
# </details>

# %%
def normalised_logit_diff(logits, answer, wrong, clean_value, corrupt_value):
    """(mean logit difference - corrupt_value) / (clean_value - corrupt_value)."""
    # BEGIN SOLUTION (stub: return None)
    last = logits[:, -1]
    diff = (last.gather(1, answer[:, None]) - last.gather(1, wrong[:, None])).mean()
    return (diff - corrupt_value) / (clean_value - corrupt_value)
    # END SOLUTION


# %%
exercises.check_normalised_logit_diff(normalised_logit_diff, strict=STRICT)

# %% [markdown]
# ```{exercise} Attribution patching for one component
# :label: ex-patch-attribution
#
# **Difficulty** 2/5 · **Importance** 4/5 · **Time** 15 min
#
# Given a component's activation on the clean and the corrupt run, [batch, pos, d], and the metric's gradient
# with respect to it on the corrupt run (same shape), return the first-order estimate of the metric's change when
# the component is patched from clean into corrupt at each position: a tensor [pos], summed over the batch.
# ```
#
# <details><summary>Hint</summary>
#
# A first-order Taylor step: change in metric ≈ (new activation - old activation) · gradient.
#
# </details>

# %%
def attribution_per_position(clean_act, corrupt_act, grad):
    """Estimated metric change of patching each position, summed over the batch: [pos]."""
    # BEGIN SOLUTION (stub: return None)
    return ((clean_act - corrupt_act) * grad).sum(-1).sum(0)
    # END SOLUTION


# %%
exercises.check_attribution_per_position(attribution_per_position, strict=STRICT)

# %% [markdown]
# ```{exercise} The faithfulness score
# :label: ex-patch-faithfulness
#
# **Difficulty** 3/5 · **Importance** 5/5 · **Time** 20 min
#
# Return the circuit's faithfulness: the mean logit difference with every head *outside* `circuit` (a list of
# (layer, head)) replaced by its mean output from `means` (`means["blocks.{l}.attn.hook_z"]` is [pos, head,
# d_head]), divided by the model's own mean logit difference (a float).
# ```
#
# <details><summary>Hint</summary>
#
# One hook per layer on `hook_z`: `z[:, :, h] = means[hook.name][:, h]` for each head of that layer outside the
# circuit. Keep the MLPs.
#
# </details>

# %%
def circuit_faithfulness(model, tokens, answer, wrong, circuit, means):
    """The circuit's mean logit difference over the model's (float)."""
    # BEGIN SOLUTION (stub: return None)
    def ablate(z, hook):
        layer = int(hook.name.split(".")[1])
        for h in range(model.cfg.n_heads):
            if (layer, h) not in circuit:
                z[:, :, h] = means[hook.name][:, h]
        return z

    def diff(logits):
        return (logits[:, -1].gather(1, answer[:, None]) - logits[:, -1].gather(1, wrong[:, None])).mean()

    hooks = [(f"blocks.{l}.attn.hook_z", ablate) for l in range(model.cfg.n_layers)]
    return float(diff(model.run_with_hooks(tokens, fwd_hooks=hooks)) / diff(model(tokens)))
    # END SOLUTION


# %%
exercises.check_circuit_faithfulness(circuit_faithfulness, strict=STRICT)

# %% [markdown]
# ## Going further
#
# * **Per-position circuits.** Wang et al. keep each head only at the positions where it matters (S-inhibition at
#   END, induction at S2). Restrict the circuit above to heads *and* named positions, and see whether
#   faithfulness holds with fewer pieces.
# * **Why do the held-out templates fail?** Patch from a seen template into a held-out one of the same layout
#   (say, the same intro with a new action) and find where the model loses the answer.
# * **Attribution patching with integrated gradients.** Average the gradient over points between the corrupt and
#   clean activations (Marks et al. 2024): does the correlation for the worst component type rise?
# * **Edge attribution patching** (Syed et al. 2023): score every sender-receiver pair with one backward pass
#   and compare it with the path patching above.
# * **Another model.** Run this notebook with `MODEL = "stories-gelu-2l"`, which was never drilled on IOI:
#   is there a circuit to find?
#
# ## References
#
# * Meng, Bau, Andonian, Belinkov (2022). Locating and Editing Factual Associations in GPT. NeurIPS.
# * Wang, Variengien, Conmy, Shlegeris, Steinhardt (2022). Interpretability in the Wild: a Circuit for Indirect
#   Object Identification in GPT-2 small. arXiv:2211.00593.
# * Nanda (2023). Attribution Patching: Activation Patching At Industrial Scale. neelnanda.io.
# * Syed, Rager, Conmy (2023). Attribution Patching Outperforms Automated Circuit Discovery. arXiv:2310.10348.
# * Heimersheim, Nanda (2024). How to use and interpret activation patching. arXiv:2404.15255.
# * Miller, Chughtai, Saunders (2024). Transformer Circuit Faithfulness Metrics are not Robust. arXiv:2407.08734.
# * Marks, Rager, Michaud, Belinkov, Bau, Mueller (2024). Sparse Feature Circuits. arXiv:2403.19647.
