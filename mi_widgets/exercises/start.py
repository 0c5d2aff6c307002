"""00_start: the residual stream as a sum, patching one activation, a logit difference, a read through nnsight."""

from __future__ import annotations

from functools import lru_cache

import torch

from mi_widgets.exercises.core import Case, Exercise, register
from mi_widgets.models import load_model
from mi_widgets.patching import patch

PROMPTS = ["Once upon a time, there was a little fox named Tobi. One day, Tobi",
           "Mia had a red ball. She gave the ball to"]


@lru_cache(maxsize=1)
def _setup():
    model = load_model("stories-gelu-2l")
    tokens = model.to_tokens(PROMPTS)  # two rows, the shorter one padded
    _, cache = model.run_with_cache(tokens)
    return model, tokens, cache


def residual_reference(cache, layer: int) -> torch.Tensor:
    """The residual stream after block ``layer``, as the model stored it."""
    return cache[f"blocks.{layer}.hook_resid_post"]


def _residual_cases():
    model, _, cache = _setup()
    return [Case((cache, layer), f"layer {layer}") for layer in range(model.cfg.n_layers)]


def _embeds(cache):
    return cache["hook_embed"] + cache["hook_pos_embed"]


def _blocks(cache, last: int):
    return sum(cache[f"blocks.{l}.hook_attn_out"] + cache[f"blocks.{l}.hook_mlp_out"] for l in range(last + 1))


register(Exercise(
    "start.residual_sum", residual_reference, _residual_cases,
    mistakes=[(lambda cache, layer: _embeds(cache) + _blocks(cache, layer - 1),
               "that is the stream *before* block `layer`: add block `layer`'s own attention and MLP outputs too"),
              (lambda cache, layer: cache["hook_embed"] + _blocks(cache, layer),
               "the position embedding (`hook_pos_embed`) is missing"),
              (lambda cache, layer: _embeds(cache) + sum(cache[f"blocks.{l}.hook_attn_out"] for l in range(layer + 1)),
               "the MLP outputs (`hook_mlp_out`) are missing")],
    atol=1e-3))


def _patch_cases():
    model, _, _ = _setup()
    clean = model.to_tokens("Once upon a time, Tom gave the ball to Lily. Then Lily")
    corrupt = model.to_tokens("Once upon a time, Lily gave the ball to Tom. Then Lily")  # same length
    return [Case((model, clean, corrupt, "blocks.0.hook_resid_post", 6), "blocks.0.hook_resid_post at position 6"),
            Case((model, clean, corrupt, "blocks.1.hook_resid_pre", 11), "blocks.1.hook_resid_pre at position 11")]


register(Exercise(
    "start.patch_position", patch, _patch_cases,
    mistakes=[(lambda model, clean, corrupt, hook_name, pos: model(corrupt),
               "these are the corrupt run's own logits: the hook changed nothing (does it write into `act` "
               "at `pos` and return it?)"),
              (lambda model, clean, corrupt, hook_name, pos: model(clean),
               "these are the clean run's logits: patch only position `pos` of the *corrupt* run (replacing every "
               "position of a residual stream gives the clean run back)")],
    atol=1e-3))


def logit_difference_reference(logits: torch.Tensor, answer: int, wrong: int) -> torch.Tensor:
    """logit(answer) - logit(wrong) at the last position of each row: [batch]."""
    return logits[:, -1, answer] - logits[:, -1, wrong]


def _logit_cases():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 40, generator=gen) * 3
    return [Case((logits, 7, 21), "random logits [3, 5, 40]"), Case((logits[:1], 0, 39), "one row, first and last token")]


register(Exercise(
    "start.logit_difference", logit_difference_reference, _logit_cases,
    mistakes=[(lambda logits, a, w: logits[:, -1].softmax(-1)[:, a] - logits[:, -1].softmax(-1)[:, w],
               "that is a difference of probabilities; the logit difference uses the logits themselves"),
              (lambda logits, a, w: logits[:, 0, a] - logits[:, 0, w],
               "you read the first position; the prediction after the prompt is at the last one (-1)"),
              (lambda logits, a, w: logits[:, -1].log_softmax(-1)[:, a],
               "that is the answer's log-probability alone; subtract the wrong answer's logit")]))


def nnsight_reference(model, tokens, layer: int) -> torch.Tensor:
    """blocks.{layer}.hook_resid_post, from TransformerLens's cache."""
    return model.run_with_cache(tokens, names_filter=f"blocks.{layer}.hook_resid_post")[1][f"blocks.{layer}.hook_resid_post"]


def _nnsight_cases():
    model, tokens, _ = _setup()
    return [Case((model, tokens, layer), f"layer {layer}") for layer in range(model.cfg.n_layers)]


def _nnsight_earlier(model, tokens, layer):
    return model.run_with_cache(tokens)[1][f"blocks.{layer}.hook_resid_pre"]


register(Exercise(
    "start.nnsight_read", nnsight_reference, _nnsight_cases,
    mistakes=[(_nnsight_earlier, "that is the stream *entering* block `layer` (`hook_resid_pre`); read the "
               "block's output, `hook_resid_post`")],
    atol=1e-5))
