"""21_heads: an induction score, a duplicate-token score, a K-composition score, and mean ablation of one head."""

from __future__ import annotations

from functools import lru_cache

import torch

from mi_widgets.exercises.core import Case, Exercise, register
from mi_widgets.heads import detector_masks, induction_scores, pattern_scores, repeated_random_tokens
from mi_widgets.models import load_model
from mi_widgets.patching import ablate_heads, head_means


@lru_cache(maxsize=1)
def _model():
    return load_model("stories-attn-2l")


@lru_cache(maxsize=1)
def _repeated():
    model = _model()
    tokens = repeated_random_tokens(model, seq_len=12, n_seqs=3, seed=0)
    _, cache = model.run_with_cache(tokens, names_filter="blocks.1.attn.hook_pattern")
    return tokens, cache["blocks.1.attn.hook_pattern"].detach()


def _induction_cases():
    _, pattern = _repeated()
    return [Case((pattern, 12), "layer 1 of stories-attn-2l on random tokens shown twice")]


def _attends_to_the_copy(pattern, seq_len):
    dest = torch.arange(seq_len + 1, 2 * seq_len + 1)
    return pattern[:, :, dest, dest - seq_len].mean(dim=(0, 2))


def _over_every_position(pattern, seq_len):
    dest = torch.arange(1, 2 * seq_len + 1)
    return pattern[:, :, dest, (dest - seq_len + 1).clamp(min=0)].mean(dim=(0, 2))


register(Exercise(
    "heads.prefix_matching_score", induction_scores, _induction_cases,
    mistakes=[(_attends_to_the_copy, "that is attention to the earlier copy itself (a duplicate-token score): an "
               "induction head attends to the token *after* it, seq_len - 1 positions back"),
              (_over_every_position, "average over the second copy only: in the first copy there is nothing to copy")]))


def _duplicate_reference(pattern, tokens):
    return pattern_scores(pattern, detector_masks(tokens)["duplicate token"])


def _duplicate_cases():
    tokens, pattern = _repeated()
    g = torch.Generator().manual_seed(1)
    few = torch.randint(1, 6, (2, 10), generator=g)  # a small vocabulary: many repeats
    rand = torch.rand(2, 3, 10, 10, generator=g).tril()
    return [Case((pattern, tokens), "random tokens shown twice"),
            Case((rand / rand.sum(-1, keepdim=True), few), "random patterns on a row of five token ids")]


def _every_query(pattern, tokens):
    mask = detector_masks(tokens)["duplicate token"]
    return (pattern * mask[:, None]).sum(-1).mean((0, 2))


def _with_self(pattern, tokens):
    mask = (tokens[:, :, None] == tokens[:, None, :]).tril()
    applies = mask.any(-1)
    return ((pattern * mask[:, None]).sum(-1) * applies[:, None]).sum((0, 2)) / applies.sum()


register(Exercise(
    "heads.duplicate_token_score", _duplicate_reference, _duplicate_cases,
    mistakes=[(_every_query, "average over the queries that have an earlier copy only (a query with none has "
               "nothing to attend to)"),
              (_with_self, "leave the query itself out: every token is a copy of itself")]))


def _k_reference(w_v, w_o, w_q, w_k):
    ov, qk = w_v @ w_o, w_q @ w_k.T
    return (ov @ qk.T).norm() / (ov.norm() * qk.T.norm())


def _k_cases():
    model = _model()
    return [Case((model.W_V[0, 3].detach(), model.W_O[0, 3].detach(), model.W_Q[1, 3].detach(), model.W_K[1, 3].detach()),
                 "L0H3 into L1H3 of stories-attn-2l"),
            Case((model.W_V[0, 1].detach(), model.W_O[0, 1].detach(), model.W_Q[1, 0].detach(), model.W_K[1, 0].detach()),
                 "L0H1 into L1H0")]


register(Exercise(
    "heads.k_composition", _k_reference, _k_cases,
    mistakes=[(lambda w_v, w_o, w_q, w_k: ((w_v @ w_o) @ (w_q @ w_k.T)).norm()
               / ((w_v @ w_o).norm() * (w_q @ w_k.T).norm()),
               "that is Q-composition: for K-composition the sender writes into the keys, so use W_QK transposed "
               "(W_K W_Q^T)"),
              (lambda w_v, w_o, w_q, w_k: ((w_v @ w_o) @ (w_q @ w_k.T).T).norm(),
               "divide by the two matrices' norms: the score must not grow with the weights' scale")],
    atol=1e-4))


def _ablate_reference(model, tokens, layer: int, head: int):
    return ablate_heads(model, tokens, [(layer, head)], head_means(model, tokens))


def _ablate_cases():
    model = _model()
    tokens, _ = _repeated()
    return [Case((model, tokens, 0, 3), "the previous-token head L0H3"), Case((model, tokens, 1, 2), "L1H2")]


def _zero(model, tokens, layer, head):
    def hook(z, hook):
        z[:, :, head] = 0.0
        return z

    return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", hook)])


def _mean_over_positions_too(model, tokens, layer, head):
    name = f"blocks.{layer}.attn.hook_z"
    _, cache = model.run_with_cache(tokens, names_filter=name)
    mean = cache[name][:, :, head].mean((0, 1))

    def hook(z, hook):
        z[:, :, head] = mean
        return z

    return model.run_with_hooks(tokens, fwd_hooks=[(name, hook)])


register(Exercise(
    "heads.mean_ablate_head", _ablate_reference, _ablate_cases,
    mistakes=[(_zero, "that is zero ablation: replace the head's output by its mean over the batch, at each position"),
              (_mean_over_positions_too, "keep one mean per position (average over the batch only): the mean over "
               "positions also erases what the head does at every position alike"),
              (lambda model, tokens, layer, head: model(tokens), "these are the clean logits: the hook must write "
               "into `z[:, :, head]` and return `z`")],
    atol=1e-3))
