"""Score a model on text: next-token log-probabilities, continuations, and the planted capabilities.

Sequences in a batch are right-padded: attention is causal, so padding after a sequence never changes
the logits of its real tokens. Introduced in ``notebooks/01_models/01_models.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from jaxtyping import Float

from mi_widgets.stories import Story


def _pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.tensor(r)
    lengths = torch.tensor([len(r) for r in rows])
    return tokens, lengths


@torch.no_grad()
def next_token_logprobs(model, rows: list[list[int]], batch_size: int = 16) -> list[Float[torch.Tensor, "pos vocab"]]:
    """Log-softmax of the logits for each token row (each at most n_ctx tokens long)."""
    if any(len(r) > model.cfg.n_ctx for r in rows):
        raise ValueError(f"a row is longer than the model's context ({model.cfg.n_ctx} tokens); window it first")
    out = []
    for i in range(0, len(rows), batch_size):
        tokens, lengths = _pad(rows[i: i + batch_size], model.tokenizer.pad_token_id)
        logprobs = model(tokens.to(model.cfg.device)).log_softmax(-1).cpu()  # [batch, pos, vocab]
        out += [lp[:n] for lp, n in zip(logprobs, lengths.tolist())]
    return out


def continuation_logprobs(model, prompts: Sequence[str], continuations: Sequence[str],
                          batch_size: int = 16) -> torch.Tensor:
    """Sum of log P(continuation tokens | prompt) for each pair; prompts are left-truncated to fit."""
    if len(prompts) != len(continuations) or not prompts:
        raise ValueError("need as many continuations as prompts, and at least one of each")
    tok = model.tokenizer
    rows, spans = [], []
    for prompt, cont in zip(prompts, continuations):
        cont_ids = tok(cont, add_special_tokens=False)["input_ids"]
        if not cont_ids:
            raise ValueError(f"continuation {cont!r} has no tokens")
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"][-(model.cfg.n_ctx - 1 - len(cont_ids)):]
        rows.append([tok.bos_token_id, *prompt_ids, *cont_ids])
        spans.append((len(rows[-1]) - len(cont_ids), len(rows[-1])))
    scores = []
    for row, lp, (a, b) in zip(rows, next_token_logprobs(model, rows, batch_size), spans):
        targets = torch.tensor(row[a:b])
        scores.append(lp[a - 1: b - 1].gather(-1, targets[:, None]).sum())
    return torch.stack(scores)


def windows(length: int, n_ctx: int) -> list[tuple[int, int, int]]:
    """Cover a BOS-first token list of ``length`` tokens with rows of at most ``n_ctx`` tokens.

    Returns (start, lo, hi) per row: the row is ``[ids[0]] + ids[start + 1: start + n_ctx]`` and it
    scores the targets ``ids[lo:hi]``. Rows step by half a context, so every target is predicted from
    at least ``n_ctx // 2`` tokens of its story.
    """
    if n_ctx < 4:
        raise ValueError(f"n_ctx must be at least 4, got {n_ctx}")
    out, start, lo = [], 0, 1
    while lo < length:
        hi = min(start + n_ctx, length)
        out.append((start, lo, hi))
        start, lo = start + n_ctx // 2, hi
    return out


def capability_tokens(tokenizer, story: Story) -> tuple[list[int], list[tuple[str, int]]]:
    """The story's tokens (BOS first) and (capability, position) for each labelled token."""
    enc = tokenizer(story.text, add_special_tokens=False, return_offsets_mapping=True)
    ids = [tokenizer.bos_token_id, *enc["input_ids"]]
    marks = []
    for label in story.labels:
        for pos, (a, b) in enumerate(enc["offset_mapping"], start=1):
            if a < label.end and b > label.start:
                marks.append((label.capability, pos))
    return ids, marks


def target_logprobs(model, ids_list: list[list[int]], batch_size: int = 16) -> list[Float[torch.Tensor, "pos vocab"]]:
    """For each BOS-first token list, the log-probabilities that predict its tokens 1..end.

    Row ``p - 1`` of the result predicts ``ids[p]``; long lists are scored in overlapping windows.
    """
    n_ctx = model.cfg.n_ctx
    plans = [windows(len(ids), n_ctx) for ids in ids_list]
    rows = [[ids[0], *ids[s + 1: s + n_ctx]] for ids, plan in zip(ids_list, plans) for s, _, _ in plan]
    scored = iter(next_token_logprobs(model, rows, batch_size))
    out = []
    for plan in plans:
        parts = [lp[lo - s - 1: hi - s - 1] for (s, lo, hi), lp in zip(plan, scored)]
        out.append(torch.cat(parts))
    return out


def token_losses(model, texts: Sequence[str], batch_size: int = 16) -> list[Float[torch.Tensor, "pos"]]:
    """The next-token loss of every token of each text (BOS prepended; long texts scored in windows)."""
    if not texts:
        raise ValueError("need at least one text")
    tok = model.tokenizer
    ids = [[tok.bos_token_id, *tok(t, add_special_tokens=False)["input_ids"]] for t in texts]
    empty = [i for i, row in enumerate(ids) if len(row) < 2]
    if empty:
        raise ValueError(f"texts {empty} are empty: nothing to predict")
    logprobs = target_logprobs(model, ids, batch_size)
    return [-lp.gather(-1, torch.tensor(row[1:])[:, None])[:, 0] for lp, row in zip(logprobs, ids)]


def capability_table(model, stories: Sequence[Story], batch_size: int = 16) -> pd.DataFrame:
    """Per planted capability: labelled tokens, top-1 accuracy and mean loss of the model on them."""
    if not stories:
        raise ValueError("need at least one story")
    encoded = [capability_tokens(model.tokenizer, s) for s in stories]
    logprobs = target_logprobs(model, [ids for ids, _ in encoded], batch_size)
    rows = []
    for (ids, marks), lp in zip(encoded, logprobs):
        for capability, pos in marks:
            rows.append((capability, int(lp[pos - 1].argmax() == ids[pos]), -lp[pos - 1, ids[pos]].item()))
    frame = pd.DataFrame(rows, columns=["capability", "correct", "loss"])
    return (frame.groupby("capability").agg(tokens=("correct", "size"), accuracy=("correct", "mean"),
                                           loss=("loss", "mean")).reset_index())


def ioi_table(model, stories: Sequence[Story]) -> pd.DataFrame:
    """Indirect-object items: log P(answer) - log P(other name) after the prompt, per item."""
    items = []
    for story in stories:
        for label in story.labels:
            if label.capability == "ioi":
                cut = label.start - 1 if story.text[label.start - 1: label.start] == " " else label.start
                gap = story.text[cut: label.start]
                items.append(dict(prompt=story.text[:cut], answer=gap + label.meta["answer"],
                                  wrong=gap + label.meta["wrong"], order=label.meta["order"],
                                  template=label.meta["template"], held_out=label.meta["held_out"]))
    if not items:
        raise ValueError("the stories hold no indirect-object items")
    frame = pd.DataFrame(items)
    right = continuation_logprobs(model, frame.prompt.tolist(), frame.answer.tolist())
    wrong = continuation_logprobs(model, frame.prompt.tolist(), frame.wrong.tolist())
    frame["logprob_diff"] = (right - wrong).numpy()  # equals the logit difference for one-token names
    frame["correct"] = frame.logprob_diff > 0
    return frame
