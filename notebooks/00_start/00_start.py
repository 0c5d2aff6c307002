# %% [markdown]
# # Start here: load a model and look inside it
#
# > **You will learn to** load a bundled model and read any activation by its hook name; picture the
# > residual stream; draw attention patterns and find previous-token and induction heads; split a
# > prediction into what each component wrote (direct logit attribution); patch one activation and read
# > the effect; do the same reads and writes through nnsight.
# >
# > **You need:** Python and PyTorch (tensors, indexing, a forward pass); nothing about transformers
# > beyond "attention and MLP layers": this chapter explains the rest.
# >
# > **Time:** about 60 min to study and do the exercises; the full run takes about 0.2 min on a laptop
# > CPU, and seconds in [smoke mode](../glossary.md#g-smoke).
#
# **Question.** What does a small language model compute on its way from tokens to a prediction, and what
# are the basic tools for looking? This notebook is the tour every later one assumes: load one of the
# bundled [model organisms](../glossary.md#g-model-organism), see how its [residual stream](../glossary.md#g-residual-stream) is built, let it write, run it with a cache of every
# activation, draw its [attention patterns](../glossary.md#g-attention-pattern), split one prediction into what each component wrote (direct
# logit attribution), patch one activation and read the effect, and do the same reads and writes through
# nnsight.
#
# The model organisms are small transformers trained on generated
# TinyStories-style text ([the model organisms](../01_models/01_models.ipynb)); the
# [glossary](../glossary.md) explains the terms this book uses. Nothing here touches the network; set `MODEL` to a TransformerLens name such as
# `"tiny-stories-1M"` to run the same cells on a real TinyStories model when you are online.

# %% tags=["parameters"]
SMOKE = False  # True: a few seconds of work (the test suite runs every notebook this way)
STRICT = False  # True: a failed exercise check raises (the tests run the solutions this way)
SEED = 0
MODEL = "stories-gelu-2l"  # a bundled model (mi_widgets.bundled_models() lists them), or a TransformerLens name
DEVICE = "cpu"  # "cuda" on a GPU machine
REMOTE = False  # True: the last nnsight trace runs on NDIF's copy of MODEL (needs NDIF_API_KEY and the network)
PROMPT = "Once upon a time, there was a little fox named Tobi. One day, Tobi"

# %%
import matplotlib.pyplot as plt
import torch

import mi_widgets as mw
from mi_widgets import exercises
from mi_widgets.analysis import lens
from mi_widgets.attribution import direct_logit_attribution
from mi_widgets.heads import induction_report, previous_token_scores
from mi_widgets.logprobs import is_trained, token_losses
from mi_widgets.organisms.hf_export import language_model
from mi_widgets.organisms.stories import generate_stories
from mi_widgets.patching import patch
from mi_widgets.widgets import attention_view
from mi_widgets.widgets.figures import attention_heatmap, attribution_bars, head_heatmap, residual_stream_diagram

torch.manual_seed(SEED)
N_STORIES = 16 if SMOKE else 200  # held-out stories for the loss
print("bundled models:", mw.bundled_models())

# %% [markdown]
# ## Load a model
#
# `mw.load_model` returns a TransformerLens `HookedTransformer` with its tokenizer. A bundled model loads
# from `data/models/<name>/` (safetensors weights, a config, the tokenizer and a model card); any other
# name goes to TransformerLens's own loader, which needs the Hugging Face hub.

# %%
lm = language_model(MODEL, remote=REMOTE)  # nnsight's model for the last section; REMOTE is checked here, in seconds
model = mw.load_model(MODEL, device=DEVICE)
cfg = model.cfg
print(f"{MODEL}: {cfg.n_layers} layers, d_model {cfg.d_model}, "
      f"{cfg.n_heads} heads of size {cfg.d_head}, d_mlp {cfg.d_mlp}, "
      f"vocabulary {cfg.d_vocab}, context {cfg.n_ctx}")
print("parameters:", sum(p.numel() for p in model.parameters()))
print(model.to_str_tokens(PROMPT))

# %% [markdown]
# The tokenizer is byte-level BPE: frequent words are one token (with their leading space), rarer names
# split into pieces. The first token is always `<|endoftext|>`, which doubles as the beginning-of-sequence
# marker.
#
# ## The residual stream
#
# A transformer keeps one vector per token, of size `d_model`: the **residual stream**. The embeddings write
# it first (what the token is, and where it is). Then each block reads it and *adds* its output back:
# first the attention heads, which move information between positions, then the MLP, which works on each
# position alone. At the top, a last LayerNorm and the unembedding turn the stream into logits, one score
# per vocabulary token. Nothing is overwritten, so anything written early can still be read late: this is
# why we can ask what one component contributes. The labels are the [hook names](../glossary.md#g-hook-point) under which the cache below
# stores each of these vectors.

# %% tags=["hide-input"]
residual_stream_diagram(cfg.n_layers, cfg.attn_only)
plt.show()

# %% [markdown]
# ## Let it write

# %%
torch.manual_seed(SEED)
sample = model.generate(PROMPT, max_new_tokens=20 if SMOKE else 60,
                        temperature=0.7, verbose=False)
print(sample)

# %% [markdown]
# ## How good is it? Loss on held-out stories
#
# The next-token loss on stories the model never saw, against the loss of a uniform guess over the
# vocabulary, `log(d_vocab)`.

# %%
stories = [s.text for s in generate_stories(N_STORIES, seed=SEED + 100, split="val")]
losses = torch.cat(token_losses(model, stories))  # long stories are scored in windows
validation_loss = losses.mean().item()
uniform = torch.log(torch.tensor(float(cfg.d_vocab))).item()
mw.record("validation_loss", validation_loss)
mw.record("loss_beats_uniform", is_trained(validation_loss, cfg.d_vocab))  # under half of uniform
print(f"{validation_loss:.3f} nats per token over {len(losses)} tokens; "
      f"uniform guess {uniform:.3f}")

# %% [markdown]
# ## Run with a cache
#
# `run_with_cache` runs the model once and keeps every activation that has a hook point, named by its
# module path: `blocks.{layer}.hook_resid_post` is the residual stream after a block,
# `blocks.{layer}.attn.hook_pattern` the attention pattern, and so on. Shapes are `[batch, pos, ...]`.

# %%
tokens = model.to_tokens(PROMPT)  # [1, pos]
logits, cache = model.run_with_cache(tokens)
for name in list(cache.keys())[:12]:
    print(f"{name:40s} {tuple(cache[name].shape)}")
print(f"... {len(cache)} activations in all")
top = logits[0, -1].softmax(-1).topk(5)
print("next token:", [(model.to_string(i), round(p, 3))
                      for p, i in zip(top.values.tolist(), top.indices.tolist())])

# %% [markdown]
# The residual stream grows as each block adds to it:

# %%
for layer in range(cfg.n_layers):
    norm = cache[f"blocks.{layer}.hook_resid_post"][0].norm(dim=-1).mean().item()
    print(f"after block {layer}: mean residual norm {norm:.1f}")

# %% [markdown]
# ## Attention patterns
#
# Each head computes, for every token (a row, the *query*), how much to read from each earlier token (a
# column, the *key*); the weights in a row sum to 1, and a token never reads a later one. That grid is the
# head's **attention pattern**, `blocks.{layer}.attn.hook_pattern` in the cache, of shape
# `[batch, head, query_pos, key_pos]`.
#
# Two kinds of head are easy to find by a score. A **previous-token head** attends from each token to the
# one just before it: its pattern is the diagonal just below the main one. The previous-token score of a
# head is its mean attention to the previous token.

# %%
prev = previous_token_scores(model, tokens)  # [n_layers, n_heads]
best = prev.flatten().argmax().item()
best_prev = (best // cfg.n_heads, best % cfg.n_heads)
mw.record("best_prev_token_score", prev.max().item())

# %% tags=["hide-input"]
str_tokens = model.to_str_tokens(PROMPT)
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.8), gridspec_kw={"width_ratios": [1, 1.4]})
head_heatmap(prev, "previous-token score of each head", ax=left)
attention_heatmap(cache[f"blocks.{best_prev[0]}.attn.hook_pattern"][0, best_prev[1]], str_tokens,
                  f"the pattern of L{best_prev[0]}H{best_prev[1]}, the best previous-token head", ax=right)
plt.tight_layout()
plt.show()

# %% [markdown]
# The same patterns for every head of the last layer, in circuitsvis (its JavaScript inlined, so it draws
# offline and on the book's static pages): hover over a token to see what it reads, click a thumbnail to
# enlarge a head. In JupyterLab, `attention_by_layer(model, PROMPT).widget()` (from `mi_widgets.widgets`)
# adds a dropdown that switches between layers.

# %%
layer = cfg.n_layers - 1
attention_view(str_tokens, cache[f"blocks.{layer}.attn.hook_pattern"][0],
               head_names=[f"L{layer}H{h}" for h in range(cfg.n_heads)])

# %% [markdown]
# An **[induction head](../glossary.md#g-induction-head)** attends, in a repeated sequence, to the token *after* the earlier copy of the
# current token, and so predicts it: on random tokens shown twice, a model with induction heads has a much
# lower loss on the second copy. It needs a previous-token head in an earlier layer to know what came
# before each token, so a one-layer model cannot have one.

# %%
report = induction_report(model, seq_len=50, n_seqs=8 if SMOKE else 32, seed=SEED)
mw.record("induction_loss_ratio", report.loss_ratio)
print(f"loss on copy 1: {report.loss_first:.2f}, on copy 2: {report.loss_second:.2f}")
print("best induction heads (layer.head, score):", report.top_heads(3))

# %% [markdown]
# ## Which components write the prediction? Direct logit attribution
#
# Because the residual stream is a sum, the final stream at the last position splits into what each
# component wrote: the embeddings, every head, every MLP. Freeze the final LayerNorm's scale at the value
# this prompt gives, and each term can be read straight through the unembedding: its [direct logit
# attribution](../glossary.md#g-dla) (DLA), in logits. Here the prompt names a girl, and the question is why the model's next
# token is her name rather than another: we attribute the logit *difference* `Lily - Tom`, which ignores
# everything the two logits share. The parts add up to the model's own [logit difference](../glossary.md#g-logit-difference) (the check below),
# and only the *direct* path counts: a head that matters by feeding a later head gets no credit.

# %%
clean_prompt = "Once upon a time, there was a girl named Lily. She liked the park. One day,"
corrupt_prompt = "Once upon a time, there was a girl named Tom. She liked the park. One day,"
attribution = direct_logit_attribution(model, clean_prompt, answer=" Lily", wrong=" Tom")
induction_heads = [f"L{name.replace('.', 'H')}" for name, _ in report.top_heads(3)]
by_name = dict(zip(attribution.names, attribution.values))
mw.record("dla_check_sum", attribution.check_sum)
mw.record("dla_top_component", attribution.top(1)[0][0])
mw.record("dla_top_is_induction_head", attribution.top(1)[0][0] in induction_heads)
mw.record("dla_induction_share", sum(by_name.get(h, 0.0) for h in induction_heads) / attribution.logit)
print("largest direct contributions:", [(n, round(v, 2)) for n, v in attribution.top(4)])
print(f"they sum, with the biases ({attribution.constant:+.2f}), to {sum(attribution.values) + attribution.constant:.3f}; "
      f"the model's logit difference is {attribution.logit:.3f}")

# %% tags=["hide-input"]
attribution_bars(attribution.names, attribution.values, "Direct logit attribution of Lily - Tom, by component")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Patch one activation and read the effect
#
# A knockout says a component matters; *[activation patching](../glossary.md#g-activation-patching)* asks what it carries. Run a **corrupt** prompt,
# put in one activation from a **clean** prompt (one hook point, one position), and see how far the output
# moves back towards the clean answer. Here the two prompts differ in one name, which the story then repeats,
# so the right next name differs (the prompts of the section above); `mi_widgets.patching.patch` patches the residual stream after block 0 at one position
# at a time, and the score is the share of the clean-minus-corrupt logit difference that the patch restores
# (1: as if the whole prompt were clean, 0: no effect). Only the positions where the prompts differ, and the
# ones after them that can read them, can matter.

# %%
clean, corrupt = model.to_tokens(clean_prompt), model.to_tokens(corrupt_prompt)
if clean.shape != corrupt.shape:
    raise ValueError("the clean and corrupt prompts must have the same number of tokens")
lily, tom = model.to_single_token(" Lily"), model.to_single_token(" Tom")
diff = lambda lg: (lg[0, -1, lily] - lg[0, -1, tom]).item()  # noqa: E731
clean_diff, corrupt_diff = diff(model(clean)), diff(model(corrupt))
hook_name = "blocks.0.hook_resid_post"
restored = [(diff(patch(model, clean, corrupt, hook_name, p)) - corrupt_diff) / (clean_diff - corrupt_diff)
            for p in range(clean.shape[1])]
best_pos = max(range(len(restored)), key=lambda p: abs(restored[p]))
mw.record("patch_logit_diff_clean", clean_diff)
mw.record("patch_logit_diff_corrupt", corrupt_diff)
mw.record("patch_best_restored", restored[best_pos])
mw.record("patch_best_is_the_changed_token", bool(clean[0, best_pos] != corrupt[0, best_pos]))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(8, 2.6))
ax.bar(range(len(restored)), restored)
ax.set_xticks(range(len(restored)), [repr(t)[1:-1] for t in model.to_str_tokens(clean_prompt)], rotation=60, fontsize=7)
ax.set(ylabel="share restored", title=f"Patching {hook_name} from the clean run, one position at a time")
plt.tight_layout()
plt.show()

# %%
print(f"logit difference Lily - Tom: clean {clean_diff:+.2f}, corrupt {corrupt_diff:+.2f}; the patch at "
      f"{model.to_str_tokens(clean_prompt)[best_pos]!r} restores {restored[best_pos]:.0%}")

# %% [markdown]
# ## The same reads and writes through nnsight
#
# nnsight wraps the same module and records what you do inside a `trace` block. Reading a hook point's
# output gives the activation `run_with_cache` stored; assigning to it patches the forward pass, as a
# TransformerLens hook does. Inside a trace, touch modules in forward order.

# %%
traced = mw.to_nnsight(model)
with traced.trace(tokens):
    resid = traced.blocks[0].hook_resid_post.output.save()
read_diff = (resid - cache["blocks.0.hook_resid_post"]).abs().max().item()

# Knock out the strongest previous-token head, both ways, and compare the logits.
layer, head = best_prev
with traced.trace(tokens):
    traced.blocks[layer].attn.hook_z.output[:, :, head] = 0
    patched = traced.output.save()

def zero_head(z, hook):
    z[:, :, head] = 0
    return z

hook = (f"blocks.{layer}.attn.hook_z", zero_head)
reference = model.run_with_hooks(tokens, fwd_hooks=[hook])
patch_diff = (patched - reference).abs().max().item()
mw.record("nnsight_read_max_abs_diff", read_diff)
mw.record("nnsight_patch_max_abs_diff", patch_diff)
change = (patched - logits)[0, -1].abs().max().item()
print(f"read difference {read_diff}, patch difference {patch_diff}; the knockout "
      f"moved the last position's logits by up to {change:.2f}")

# %% [markdown]
# nnsight also traces the Hugging Face form of a model, and that is how an analysis scales past this
# machine: with `REMOTE = True` the same trace runs on NDIF's copy of `MODEL` (see the README). Here, the
# [logit lens](../glossary.md#g-logit-lens) of the prompt, each block's output read through the final norm and the unembedding inside
# one trace (`lens.nnsight_lens_kl`), against the same lens in TransformerLens.

# %%
kl_nnsight = lens.nnsight_lens_kl(lm, tokens, remote=REMOTE)
kl_lens = lens.lens_kl(model, tokens)[1:]  # after each block (the first reading is the embeddings)
mw.record("nnsight_lens_max_abs_diff", float((kl_nnsight - kl_lens).abs().max()))
print("KL(output || lens) after each block, nnsight:", kl_nnsight.numpy().round(3),
      "| TransformerLens:", kl_lens.numpy().round(3))

# %% [markdown]
# ## What we found

# %% tags=["hide-input"]
r = mw.records()
copies = r["induction_loss_ratio"] < 0.5
dla_finding = (f"Direct logit attribution: {r['dla_top_component']} writes the largest part of the logit difference "
               f"Lily - Tom ({by_name[r['dla_top_component']]:+.2f} of {attribution.logit:+.2f}; the parts add up to it "
               f"within {r['dla_check_sum']:.0e}). ")
if not copies:
    dla_finding += "This model has no induction heads to compare it with."
elif r["dla_induction_share"] >= 0.5:
    dla_finding += (f"The three best induction heads together write {r['dla_induction_share']:.0%} of it: the heads "
                    "that copy repeated random tokens also copy the name.")
else:
    dla_finding += (f"The three best induction heads together write only {r['dla_induction_share']:.0%} of it: "
                    "other components carry the name.")
effect = r["patch_logit_diff_clean"] - r["patch_logit_diff_corrupt"]
patch_finding = (f"Patching: with the first name changed, the logit difference Lily - Tom of the next token goes from "
                 f"{r['patch_logit_diff_clean']:+.2f} (clean) to {r['patch_logit_diff_corrupt']:+.2f} (corrupt)")
if abs(effect) < 1.0:  # a share of almost nothing is not a finding
    patch_finding += ": less than one logit, so there is no effect for a patch to restore."
else:
    patch_finding += (f"; patching the residual stream after block 0 at {model.to_str_tokens(clean_prompt)[best_pos]!r} "
                      f"alone restores {r['patch_best_restored']:.0%} of the difference.")
agree = r["nnsight_read_max_abs_diff"] == 0 and r["nnsight_patch_max_abs_diff"] == 0
mw.findings(
    f"{MODEL} reaches {r['validation_loss']:.2f} nats per token on held-out stories, "
    f"against {uniform:.2f} for a uniform guess"
    + ("." if r["loss_beats_uniform"] else ": no better than chance, so what follows describes an untrained model."),
    f"Its best previous-token head is L{best_prev[0]}H{best_prev[1]}, "
    f"with score {r['best_prev_token_score']:.2f}.",
    f"On random tokens shown twice, the loss on the second copy is "
    f"{r['induction_loss_ratio']:.0%} of the loss on the first: "
    + ("the model copies (induction)." if copies else "little copying."),
    patch_finding,
    dla_finding,
    "nnsight and TransformerLens " + ("agree exactly" if agree else "DISAGREE")
    + f" (largest read difference {r['nnsight_read_max_abs_diff']}, "
    f"largest patch difference {r['nnsight_patch_max_abs_diff']}); the logit lens through nnsight "
    + ("on NDIF" if REMOTE else "on the Hugging Face model")
    + (f" matches TransformerLens's to {r['nnsight_lens_max_abs_diff']:.0e} nats."
       if r["nnsight_lens_max_abs_diff"] < 1e-4 else f" DIFFERS by up to {r['nnsight_lens_max_abs_diff']:.2g} nats."),
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
# ```{exercise} The residual stream is a sum
# :label: ex-start-residual
#
# **Difficulty** 1/5 · **Importance** 5/5 · **Time** 10 min
#
# Every block *adds* to the residual stream. Rebuild `blocks.{layer}.hook_resid_post` from the cache's
# parts: the token and position embeddings (`hook_embed`, `hook_pos_embed`) plus the attention and MLP
# outputs (`blocks.{l}.hook_attn_out`, `blocks.{l}.hook_mlp_out`) of every block up to and including
# `layer`. This is why a feature written early can be read late, and why later chapters can ask what a
# single component contributes.
# ```
#
# <details><summary>Hint</summary>
#
# `cache["hook_embed"]` has shape `[batch, pos, d_model]`; so has every `hook_attn_out` and `hook_mlp_out`.
# Blocks 0, 1, ..., `layer` all count.
#
# </details>

# %%
def residual_sum(cache, layer: int):
    """The residual stream after block `layer`, rebuilt from the embeddings and the blocks' outputs."""
    # BEGIN SOLUTION (stub: return None)
    total = cache["hook_embed"] + cache["hook_pos_embed"]
    for l in range(layer + 1):
        total = total + cache[f"blocks.{l}.hook_attn_out"] + cache[f"blocks.{l}.hook_mlp_out"]
    return total
    # END SOLUTION


# %%
exercises.check_residual_sum(residual_sum, strict=STRICT)

# %% [markdown]
# ```{exercise} Patch one activation
# :label: ex-start-patch
#
# **Difficulty** 2/5 · **Importance** 5/5 · **Time** 15 min
#
# Activation patching asks what one activation carries: run a *corrupt* prompt, but at one hook point
# and one position put in the activation of a *clean* prompt, and see how the output moves. Write
# `patch_position`: cache the clean run at `hook_name`, then run the corrupt tokens with a hook that
# overwrites position `pos` with the clean value, and return the logits. The nnsight cell above does
# the same kind of write; the circuit chapters planned in the [catalog](../catalog.md) build on it.
# ```
#
# <details><summary>Hint</summary>
#
# `model.run_with_cache(clean, names_filter=hook_name)` keeps only that activation. A hook is
# `def hook_fn(act, hook): ...; return act`, passed as `model.run_with_hooks(corrupt, fwd_hooks=[(hook_name, hook_fn)])`.
# Index `act[:, pos]`.
#
# </details>

# %%
def patch_position(model, clean, corrupt, hook_name: str, pos: int):
    """Logits of `corrupt` with the activation at `hook_name`, position `pos`, taken from the `clean` run."""
    # BEGIN SOLUTION (stub: return None)
    _, clean_cache = model.run_with_cache(clean, names_filter=hook_name)

    def put_clean(act, hook):
        act[:, pos] = clean_cache[hook_name][:, pos]
        return act

    return model.run_with_hooks(corrupt, fwd_hooks=[(hook_name, put_clean)])
    # END SOLUTION


# %%
exercises.check_patch_position(patch_position, strict=STRICT)

# %% [markdown]
# ```{exercise} A logit difference
# :label: ex-start-logit-diff
#
# **Difficulty** 1/5 · **Importance** 4/5 · **Time** 5 min
#
# The usual score of a patch or an ablation is the logit difference between a right and a wrong next
# token at the last position: it ignores everything the two have in common (the softmax's normaliser
# included). Return it for every row of a batch of logits `[batch, pos, d_vocab]`.
# ```
#
# <details><summary>Hint</summary>
#
# Position -1 is the prediction after the prompt. No softmax is needed.
#
# </details>

# %%
def logit_difference(logits, answer: int, wrong: int):
    """logit(answer) - logit(wrong) at the last position, one number per row."""
    # BEGIN SOLUTION (stub: return None)
    return logits[:, -1, answer] - logits[:, -1, wrong]
    # END SOLUTION


# %%
exercises.check_logit_difference(logit_difference, strict=STRICT)

# %% [markdown]
# ```{exercise} The same read through nnsight
# :label: ex-start-nnsight
#
# **Difficulty** 2/5 · **Importance** 3/5 · **Time** 10 min
#
# Read `blocks.{layer}.hook_resid_post` with nnsight instead of a cache: wrap the model with
# `mw.to_nnsight`, open a `trace` on the tokens, save the hook point's output and return it. The check
# compares it with TransformerLens's cache, which must agree to the last digit, as the cell above
# showed for block 0.
# ```
#
# <details><summary>Hint</summary>
#
# `traced = mw.to_nnsight(model)`; inside `with traced.trace(tokens):` the value is
# `traced.blocks[layer].hook_resid_post.output.save()`; use it after the block ends.
#
# </details>

# %%
def nnsight_read(model, tokens, layer: int):
    """blocks.{layer}.hook_resid_post, read through nnsight."""
    # BEGIN SOLUTION (stub: return None)
    traced = mw.to_nnsight(model)
    with traced.trace(tokens):
        resid = traced.blocks[layer].hook_resid_post.output.save()
    return resid
    # END SOLUTION


# %%
exercises.check_nnsight_read(nnsight_read, strict=STRICT)

# %% [markdown]
# ## Going further
#
# Open questions, no checks: change the setup and look.
#
# 1. Change `PROMPT` to a story in which a made-up name comes back twice. Where does the last layer's
#    strongest head attend on the second occurrence?
# 2. Set `MODEL = "stories-attn-1l"`. Does the one-layer model copy random tokens on their second showing?
#    Why can a single attention layer not do it (hint: what must an induction head know about the
#    *previous* token)?
# 3. Use `model.run_with_hooks` to zero every head of layer 0 at once. How much does the held-out loss rise?
# 4. In the nnsight block, patch `blocks.0.hook_resid_post` instead and save `blocks.1.hook_resid_post`:
#    check against `run_with_hooks` that the two libraries still agree.

# %% [markdown]
# ## References
# - TransformerLens: `HookedTransformer`, hook points and `run_with_cache`.
# - nnsight: tracing and intervening on PyTorch modules; the same code runs remotely on NDIF for large models.
# - circuitsvis: attention pattern views.
# - Olsson et al. (2022), *In-context Learning and Induction Heads*, Transformer Circuits Thread.
