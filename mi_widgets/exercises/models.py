"""01_models: the induction and previous-token scores of attention heads, next-token losses, the copy ratio."""

from __future__ import annotations

import torch

from mi_widgets.exercises.core import Case, Exercise, register
from mi_widgets.heads import copy_loss_ratio, induction_scores, previous_token_pattern_scores
from mi_widgets.logprobs import next_token_losses


def _patterns(batch: int, heads: int, pos: int, seed: int) -> torch.Tensor:
    """Random causal attention patterns [batch, heads, pos, pos] (rows sum to 1)."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, heads, pos, pos, generator=gen) * 2
    return scores.masked_fill(torch.ones(pos, pos, dtype=torch.bool).triu(1), -torch.inf).softmax(-1)


def _induction_cases():
    return [Case((_patterns(2, 3, 1 + 2 * 6, 0), 6), "patterns [2, 3, 13, 13], seq_len 6"),
            Case((_patterns(1, 4, 1 + 2 * 9, 1), 9), "patterns [1, 4, 19, 19], seq_len 9")]


def _scores_at(pattern, seq_len, back):
    dest = torch.arange(seq_len + 1, 2 * seq_len + 1)
    return pattern[:, :, dest, dest - back].mean(dim=(0, 2))


register(Exercise(
    "models.induction_score", induction_scores, _induction_cases,
    mistakes=[(lambda p, n: _scores_at(p, n, n),
               "you scored attention to the earlier copy of the *current* token; an induction head attends to "
               "the token *after* it (seq_len - 1 back)"),
              (lambda p, n: p[:, :, torch.arange(n + 1, 2 * n + 1), torch.arange(n + 1, 2 * n + 1) - n + 1].mean(dim=(0, 1)),
               "you averaged over the heads; the score is one number per head: average over batch and positions")]))


def _prev_cases():
    return [Case((_patterns(2, 3, 10, 2),), "patterns [2, 3, 10, 10]"), Case((_patterns(1, 1, 3, 3),), "the shortest, pos 3")]


def _diagonal(p, back):
    dest = torch.arange(2, p.shape[-1])
    return p[:, :, dest, dest - back].mean(dim=(0, 2))


register(Exercise(
    "models.previous_token_score", previous_token_pattern_scores, _prev_cases,
    mistakes=[(lambda p: _diagonal(p, 0), "you scored attention to the token itself; a previous-token head looks one back"),
              (lambda p: p[:, :, torch.arange(1, p.shape[-1]), torch.arange(0, p.shape[-1] - 1)].mean(dim=(0, 2)),
               "start at position 2: position 1 can only attend to itself and BOS, so it says little")]))


def _loss_cases():
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 7, 30, generator=gen) * 2
    tokens = torch.randint(0, 30, (2, 7), generator=gen)
    return [Case((logits, tokens), "logits [2, 7, 30]"), Case((logits[:1, :2], tokens[:1, :2]), "two positions")]


register(Exercise(
    "models.next_token_losses", next_token_losses, _loss_cases,
    mistakes=[(lambda lg, t: -lg.log_softmax(-1).gather(-1, t[..., None])[..., 0],
               "each position predicts the *next* token: compare logits[:, :-1] with tokens[:, 1:]"),
              (lambda lg, t: -lg.softmax(-1)[:, :-1].gather(-1, t[:, 1:, None])[..., 0],
               "the loss is minus the *log*-probability (log_softmax), not minus the probability")]))


def _ratio_cases():
    gen = torch.Generator().manual_seed(5)
    first, second = torch.rand(3, 8, generator=gen) * 8 + 2, torch.rand(3, 8, generator=gen)
    losses = torch.cat([torch.full((3, 1), 9.0), first[:, :7], second], dim=1)  # [3, 2 * 8]: BOS->1st .. the end
    return [Case((losses, 8), "losses [3, 16], seq_len 8")]


register(Exercise(
    "models.copy_loss_ratio", copy_loss_ratio, _ratio_cases,
    mistakes=[(lambda losses, n: losses[:, :n].mean() / losses[:, n:].mean(),
               "the ratio is second copy over first: below 1 when the model copies"),
              (lambda losses, n: losses[:, n:].mean() / losses[:, :n].mean(),
               "leave out the first loss (predicting the first random token from BOS) and the loss that predicts "
               "the second copy's first token: neither can be copied")]))
