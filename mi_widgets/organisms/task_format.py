"""Capability tasks: the file format, a writer, and a loader that checks it.

A task is a JSON-lines file ``data/tasks/<capability>.jsonl``, one item per line::

    {"id": "pronoun-0001", "prompt": "... Lily lost", "answer": " her", "wrong": " his",
     "meta": {"variant": "original", "distance": 40}}

``id``, ``prompt`` and ``answer`` are required; ``wrong`` (one obvious wrong answer) and ``meta`` (flat
metadata; ``variant`` says which red-team variant the item is) are optional. The prompt may be empty;
the answer carries its own leading space.
The files are written by `organisms.make_tasks`; `analysis.task_metrics` scores a model on them.

Introduced in ``notebooks/20_capabilities/20_capabilities.ipynb``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mi_widgets.models import data_dir

REQUIRED = ("id", "prompt", "answer")
OPTIONAL = ("wrong", "meta")


def tasks_dir() -> Path:
    """Where the task files live: ``data/tasks``."""
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
