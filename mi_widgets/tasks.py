"""Capability tasks: a file format, a loader that checks it, and the metrics of seed 004.

A task is a JSON-lines file ``data/tasks/<capability>.jsonl``, one item per line::

    {"id": "pronoun-0001", "prompt": "... Lily lost", "answer": " her", "wrong": " his",
     "meta": {"variant": "original", "distance": 40}}

``id``, ``prompt`` and ``answer`` are required; ``wrong`` (one obvious wrong answer) and ``meta`` (flat
metadata; ``variant`` says which red-team variant the item is) are optional. The prompt may be empty;
the answer carries its own leading space. Metrics per item and model (`score_task`):

- ``logprob``/``prob``: log P(answer | prompt), summed over the answer's tokens, and its exponential;
- ``rank``: 1 + the number of tokens the model prefers, at the worst of the answer's tokens (each given
  the ones before it), so ``correct`` (rank 1) means greedy decoding writes the whole answer;
  ``token_accuracy`` is the share of the answer's tokens at rank 1 (the same for one-token answers);
- ``logit_diff``: log P(answer) - log P(wrong); for one-token answers this is exactly the logit difference.

Introduced in ``notebooks/20_capabilities/20_capabilities.ipynb``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mi_widgets.evaluate import token_scores
from mi_widgets.models import data_dir

REQUIRED = ("id", "prompt", "answer")
OPTIONAL = ("wrong", "meta")


def tasks_dir() -> Path:
    return data_dir() / "tasks"


def available_tasks(folder: Path | None = None) -> list[str]:
    """Names of the task files in ``folder`` (default ``data/tasks``)."""
    root = Path(folder) if folder is not None else tasks_dir()
    return sorted(p.stem for p in root.glob("*.jsonl")) if root.is_dir() else []


def _check_item(item, line: int) -> list[str]:
    """What is wrong with one parsed line (empty list: nothing)."""
    if not isinstance(item, dict):
        return [f"line {line}: expected a JSON object, got {type(item).__name__}"]
    problems = [f"line {line}: missing field {f!r}" for f in REQUIRED if f not in item]
    problems += [f"line {line}: unknown field {f!r}" for f in item if f not in REQUIRED + OPTIONAL]
    for field in ("id", "prompt", "answer", "wrong"):
        if field in item and not isinstance(item[field], str):
            problems.append(f"line {line}: {field!r} must be a string")
    if isinstance(item.get("answer"), str) and not item["answer"]:
        problems.append(f"line {line}: empty answer")
    if "wrong" in item and item["wrong"] == item.get("answer"):
        problems.append(f"line {line}: the wrong answer equals the answer")
    if "meta" in item and not (isinstance(item["meta"], dict)
                               and all(isinstance(v, (str, int, float, bool)) for v in item["meta"].values())):
        problems.append(f"line {line}: 'meta' must be an object of plain values (strings, numbers, booleans)")
    return problems


def read_items(path: Path) -> list[dict]:
    """The items of a task file, checked; ValueError names every bad line (up to 10)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no task file {path}; available tasks: {available_tasks(path.parent)}")
    items, problems = [], []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            item = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(f"line {line}: not JSON ({e.msg})")
            continue
        problems += _check_item(item, line)
        items.append(item)
    if not items and not problems:
        raise ValueError(f"task {path.stem!r} ({path}) is empty: it has no items")
    ids = [i.get("id") for i in items]
    problems += [f"duplicate id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1} - {None})]
    if problems:
        raise ValueError(f"task {path.stem!r} ({path}) is not valid:\n  " + "\n  ".join(problems[:10])
                         + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""))
    return items


def write_task(path: Path, items: Iterable[dict]) -> Path:
    """Write ``items`` as a task file after checking them as `read_items` would."""
    items = list(items)
    problems = [p for n, item in enumerate(items, start=1) for p in _check_item(item, n)]
    if problems or not items:
        raise ValueError("refusing to write an invalid task: " + ("; ".join(problems[:5]) or "no items"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def _n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def load_task(task: str | Path, tokenizer=None, *, single_token: bool = False) -> pd.DataFrame:
    """One task as a DataFrame: task, id, prompt, answer, wrong (NaN when absent), then the meta fields.

    ``task`` is a name in ``data/tasks`` or a path. With ``single_token=True`` (needs ``tokenizer``) every
    answer and wrong answer must be one token; the error lists the rows that are not. Otherwise multi-token
    answers are scored by summing their tokens' log-probabilities.
    """
    path = Path(task) if str(task).endswith(".jsonl") else tasks_dir() / f"{task}.jsonl"
    items = read_items(path)
    frame = pd.DataFrame([{"task": path.stem, "id": i["id"], "prompt": i["prompt"], "answer": i["answer"],
                           "wrong": i.get("wrong"), **i.get("meta", {})} for i in items])
    if single_token and tokenizer is None:
        raise ValueError("single_token=True needs the tokenizer that will read the task")
    if tokenizer is not None:
        empty = [i for i, a in zip(frame.id, frame.answer) if _n_tokens(tokenizer, a) == 0]
        if empty:
            raise ValueError(f"task {path.stem!r}: the tokenizer turns the answers of rows {empty[:10]} into no tokens")
    if single_token:
        split = [f"{i} ({field} {text!r}: {_n_tokens(tokenizer, text)} tokens)"
                 for i, a, w in zip(frame.id, frame.answer, frame.wrong)
                 for field, text in (("answer", a), ("wrong", w))
                 if isinstance(text, str) and _n_tokens(tokenizer, text) != 1]
        if split:
            raise ValueError(f"task {path.stem!r} needs one-token answers, but the tokenizer splits {len(split)} rows: "
                             + "; ".join(split[:10]) + ". Load with single_token=False to sum their log-probabilities.")
    return frame


def load_tasks(names: Iterable[str] | None = None, tokenizer=None) -> pd.DataFrame:
    """Several tasks in one frame (default: every task in ``data/tasks``)."""
    names = list(names) if names is not None else available_tasks()
    if not names:
        raise ValueError(f"no tasks to load (looked in {tasks_dir()})")
    return pd.concat([load_task(n, tokenizer) for n in names], ignore_index=True)


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


def uneven(scores: pd.DataFrame, fields: Iterable[str], min_items: int = 10) -> pd.DataFrame:
    """Where performance is not uniform: per task and model, the metadata field whose values differ most in
    accuracy (only values with at least ``min_items`` items), with the best and worst value."""
    rows = []
    for (task, model), part in scores.groupby(["task", "model"], sort=False):
        best = None
        for field in fields:
            if field not in part:
                continue
            values = part[field].dropna()
            labels = values.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
            acc = part.loc[values.index].groupby(labels).correct.agg(["mean", "size"])
            acc = acc[acc["size"] >= min_items]
            if len(acc) >= 2 and (best is None or acc["mean"].max() - acc["mean"].min() > best["spread"]):
                best = dict(field=field, spread=acc["mean"].max() - acc["mean"].min(),
                            best=acc["mean"].idxmax(), best_accuracy=acc["mean"].max(),
                            worst=acc["mean"].idxmin(), worst_accuracy=acc["mean"].min())
        if best:
            rows.append(dict(task=task, model=model, **best))
    return pd.DataFrame(rows, columns=["task", "model", "field", "spread", "best", "best_accuracy", "worst",
                                       "worst_accuracy"])
