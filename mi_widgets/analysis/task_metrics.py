"""The metrics of the TinyStories capability proposal for a task (`organisms.task_format`), per item and model.

Per item and model (`score_task`):

- ``logprob``/``prob``: log P(answer | prompt), summed over the answer's tokens, and its exponential;
- ``rank``: 1 + the number of tokens the model prefers, at the worst of the answer's tokens (each given
  the ones before it), so ``correct`` (rank 1) means greedy decoding writes the whole answer;
  ``token_accuracy`` is the share of the answer's tokens at rank 1 (the same for one-token answers);
- ``logit_diff``: log P(answer) - log P(wrong); for one-token answers this is exactly the logit difference.

Introduced in ``notebooks/20_capabilities/20_capabilities.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from mi_widgets.logprobs import next_token_logits, token_scores


def _row(tokenizer, bos: int, prompt: str, answer: str, n_ctx: int) -> tuple[list[int], int]:
    """BOS + the prompt's last tokens + the answer's tokens, and where the answer starts."""
    ans = tokenizer(answer, add_special_tokens=False)["input_ids"]
    keep = n_ctx - 1 - len(ans)
    if keep < 0:
        raise ValueError(f"answer {answer!r} has {len(ans)} tokens, more than the context holds")
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    row = [bos, *(ids[-keep:] if keep else [])]
    return row + ans, len(row)


def score_task(model, task: pd.DataFrame, model_name: str = "", batch_size: int = 64,
               context_tokens: int = 24) -> pd.DataFrame:
    """The metrics of every item for one model: one row per item (the task's columns plus the metrics).

    A one-token wrong answer is read from the answer's own forward pass; a longer one gets a row of its
    own. ``context_tokens`` > 0 also keeps the last prompt tokens and the answer's tokens with each
    token's loss (columns ``tokens``, ``losses``, ``answer_start``) for the eval browser.
    """
    if len(task) == 0:
        raise ValueError("the task has no items")
    tok, n_ctx, bos = model.tokenizer, model.cfg.n_ctx, model.tokenizer.bos_token_id
    rows, starts, also, wrong_rows = [], [], [], {}  # wrong_rows: item -> (row index, answer start)
    for i, (prompt, answer, wrong) in enumerate(zip(task.prompt, task.answer, task.wrong)):
        row, start = _row(tok, bos, prompt, answer, n_ctx)
        rows.append(row)
        starts.append(start)
        wrong_ids = tok(wrong, add_special_tokens=False)["input_ids"] if isinstance(wrong, str) else []
        also.append([(start - 1, wrong_ids[0])] if len(wrong_ids) == 1 else [])
        if len(wrong_ids) > 1:
            wrong_rows[i] = _row(tok, bos, prompt, wrong, n_ctx)
    first = [max(0, s - 1 - context_tokens) for s in starts]  # positions whose scores we read
    for i, (row, start) in wrong_rows.items():
        wrong_rows[i] = (len(rows), start)
        rows.append(row)
        also.append([])
        first.append(start - 1)
    scores = token_scores(model, rows, batch_size, also, first)
    logprob, rank, token_acc, wrong_lp, kept = [], [], [], [], []
    for i, start in enumerate(starts):
        sc = scores[i]
        logprob.append(sc.logprobs[start - 1:].sum().item())
        rank.append(int(sc.ranks[start - 1:].max()))
        token_acc.append((sc.ranks[start - 1:] == 1).float().mean().item())
        if i in wrong_rows:
            j, wrong_start = wrong_rows[i]
            wrong_lp.append(scores[j].logprobs[wrong_start - 1:].sum().item())
        else:
            wrong_lp.append(sc.also[0].item() if len(sc.also) else math.nan)
        if context_tokens:
            lo = max(1, start - context_tokens)
            kept.append((tuple(tok.decode([t]) for t in rows[i][lo:]),
                         tuple(round(-v, 4) for v in sc.logprobs[lo - 1:].tolist()), start - lo))
    out = task.copy()
    out.insert(1, "model", model_name)
    out["answer_tokens"] = [len(rows[i]) - s for i, s in enumerate(starts)]
    out["logprob"] = logprob
    out["prob"] = [math.exp(v) for v in logprob]
    out["rank"] = rank
    out["correct"] = out["rank"] == 1
    out["token_accuracy"] = token_acc
    out["logit_diff"] = [a - w for a, w in zip(logprob, wrong_lp)]
    if context_tokens:
        out["tokens"], out["losses"], out["answer_start"] = zip(*kept)
    return out


def rival_probs(model, task: pd.DataFrame, rivals: Sequence[str], batch_size: int = 64) -> pd.DataFrame:
    """At the position that predicts each item's answer: P(the answer's first token), the summed P of
    one-token ``rivals`` that fit there too (the pronouns after "Every day,"), and the model's top token.

    A "wrong" top prediction that is a rival is a reading the prompt allows, not a failure to copy.
    """
    if len(task) == 0:
        raise ValueError("the task has no items")
    tok, bos = model.tokenizer, model.tokenizer.bos_token_id
    rival_ids = []
    for rival in rivals:
        ids = tok(rival, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"rival {rival!r} is {len(ids)} tokens; each rival must be exactly one token")
        rival_ids.append(ids[0])
    if not rival_ids:
        raise ValueError("need at least one rival")
    rows, firsts = [], []
    for prompt, answer in zip(task.prompt, task.answer):
        row, start = _row(tok, bos, prompt, answer, model.cfg.n_ctx)
        rows.append(row[:start])
        firsts.append(row[start])
    probs = next_token_logits(model, rows, batch_size).softmax(-1)  # [items, d_vocab]
    rival_p = probs[:, rival_ids]
    answer_p = probs[torch.arange(len(rows)), torch.tensor(firsts)]
    top_p, top = probs.max(-1)
    return pd.DataFrame({"id": list(task["id"]) if "id" in task else range(len(task)),
                         "p_answer": answer_p.numpy(), "p_rivals": rival_p.sum(-1).numpy(),
                         "top_rival": [rivals[i] for i in rival_p.argmax(-1).tolist()],
                         "rival_wins": (rival_p.sum(-1) > answer_p).numpy(),
                         "top": [tok.decode([t]) for t in top.tolist()], "p_top": top_p.numpy()})


def summarize(scores: pd.DataFrame, by: Iterable[str] = ("task", "model")) -> pd.DataFrame:
    """Per group: items, accuracy (rank 1), token accuracy, mean probability, median rank, mean logit difference
    and the share of items whose answer beats the wrong answer (NaN where the task has no wrong answers)."""
    by = list(by)
    return (scores.assign(beats_wrong=scores.logit_diff.gt(0).where(scores.logit_diff.notna()))
            .groupby(by, sort=False)
            .agg(items=("correct", "size"), accuracy=("correct", "mean"), token_accuracy=("token_accuracy", "mean"),
                 prob=("prob", "mean"), median_rank=("rank", "median"), logit_diff=("logit_diff", "mean"),
                 beats_wrong=("beats_wrong", "mean"))
            .reset_index())


def accuracy_spread(correct: Sequence[bool], labels: Sequence, min_items: int) -> float:
    """Best minus worst accuracy over the values of ``labels`` with at least ``min_items`` items (0 when
    fewer than two values have that many): the statistic `uneven` maximises over fields."""
    table = pd.Series(np.asarray(correct, dtype=float)).groupby(np.asarray(labels)).agg(["mean", "size"])
    table = table[table["size"] >= min_items]
    return float(table["mean"].max() - table["mean"].min()) if len(table) >= 2 else 0.0


def _max_spread(correct: np.ndarray, groupings: list[np.ndarray]) -> np.ndarray:
    """The largest accuracy spread over the groupings, for each row of ``correct`` ([draws, items]).

    A grouping is an [items, values] 0/1 matrix (items whose value has too few items are all-zero rows).
    """
    spreads = []
    for onehot in groupings:
        means = correct @ onehot / onehot.sum(0)  # [draws, values]
        spreads.append(means.max(1) - means.min(1))
    return np.max(spreads, axis=0)


def uneven(scores: pd.DataFrame, fields: Iterable[str], min_items: int = 10, permutations: int = 0,
           seed: int = 0) -> pd.DataFrame:
    """Where performance is not uniform: per task and model, the metadata field whose values differ most in
    accuracy (only values with at least ``min_items`` items), with the best and worst value.

    Taking the largest spread over several fields and values favours large spreads even when accuracy
    does not depend on any field. With ``permutations`` > 0 each row gets ``p``: the share of shufflings
    of ``correct`` among the items (every field tried again on each) whose largest spread is at least
    the observed one.
    """
    fields = list(fields)
    rng = np.random.default_rng(seed)
    rows = []
    for (task, model), part in scores.groupby(["task", "model"], sort=False):
        best, groupings = None, []
        for field in fields:
            if field not in part:
                continue
            values = part[field].dropna()
            labels = values.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
            acc = part.loc[values.index].groupby(labels).correct.agg(["mean", "size"])
            acc = acc[acc["size"] >= min_items]
            if len(acc) < 2:
                continue
            full = pd.Series(np.nan, index=part.index, dtype=object)
            full.loc[values.index] = labels
            groupings.append((full.to_numpy()[:, None] == acc.index.to_numpy()[None, :]).astype(float))
            if best is None or acc["mean"].max() - acc["mean"].min() > best["spread"]:
                best = dict(field=field, spread=acc["mean"].max() - acc["mean"].min(),
                            best=acc["mean"].idxmax(), best_accuracy=acc["mean"].max(),
                            worst=acc["mean"].idxmin(), worst_accuracy=acc["mean"].min())
        if best:
            if permutations:
                correct = part.correct.to_numpy(float)
                shuffled = np.stack([rng.permutation(correct) for _ in range(permutations)])
                null = _max_spread(shuffled, groupings)
                best["p"] = (1 + int((null >= best["spread"] - 1e-12).sum())) / (permutations + 1)
            rows.append(dict(task=task, model=model, **best))
    columns = ["task", "model", "field", "spread", "best", "best_accuracy", "worst", "worst_accuracy"]
    return pd.DataFrame(rows, columns=columns + (["p"] if permutations else []))
