"""organisms.task_format: the loader's checks and the shipped task files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import make_tiny_model

from mi_widgets.organisms.stories import CAPABILITIES
from mi_widgets.organisms.task_format import available_tasks, load_task, load_tasks, read_items, write_task


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tok"))


def _write(path, lines):
    path.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines))
    return path


ITEMS = [
    {"id": "a", "prompt": "Once upon a", "answer": " time", "wrong": " cat", "meta": {"variant": "original"}},
    {"id": "b", "prompt": "a cat named", "answer": " Bolin found", "wrong": " red ball", "meta": {"variant": "names"}},
    {"id": "c", "prompt": "", "answer": "Once"},
]


def test_load_task_reads_fields_and_meta(tmp_path):
    frame = load_task(_write(tmp_path / "demo.jsonl", ITEMS))
    assert list(frame.columns[:5]) == ["task", "id", "prompt", "answer", "wrong"]
    assert frame.task.unique().tolist() == ["demo"] and frame.variant.tolist()[:2] == ["original", "names"]
    assert pd.isna(frame.wrong.iloc[2])


@pytest.mark.parametrize("lines, message", [
    ([], "is empty"),
    ([{"id": "a", "prompt": "x"}], "line 1: missing field 'answer'"),
    (['{"id": "a", "prompt": "x", "answer": " y"}', "{not json"], "line 2: not JSON"),
    ([{"id": "a", "prompt": "x", "answer": ""}], "empty answer"),
    ([{"id": "a", "prompt": "x", "answer": " y", "wrong": " y"}], "equals the answer"),
    ([{"id": "a", "prompt": "x", "answer": " y"}, {"id": "a", "prompt": "z", "answer": " y"}], "duplicate id 'a'"),
    ([{"id": "a", "prompt": 3, "answer": " y"}], "'prompt' must be a string"),
    ([{"id": "a", "prompt": "x", "answer": " y", "meta": {"k": [1]}}], "plain values"),
    ([{"id": "a", "prompt": "x", "answer": " y", "extra": 1}], "unknown field 'extra'"),
])
def test_loader_refuses_bad_tasks_with_a_clear_message(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        load_task(_write(tmp_path / "bad.jsonl", lines))


def test_missing_task_names_the_available_ones(tmp_path):
    _write(tmp_path / "here.jsonl", ITEMS)
    with pytest.raises(ValueError, match=r"available tasks: \['here'\]"):
        read_items(tmp_path / "gone.jsonl")
    with pytest.raises(ValueError, match="refusing"):
        write_task(tmp_path / "x.jsonl", [{"id": "a"}])


def test_single_token_mode_names_the_rows_it_refuses(tmp_path, model):
    path = _write(tmp_path / "t.jsonl", ITEMS)
    with pytest.raises(ValueError, match=r"splits \d+ rows: b \(answer ' Bolin found'"):
        load_task(path, model.tokenizer, single_token=True)
    with pytest.raises(ValueError, match="needs the tokenizer"):
        load_task(path, single_token=True)
    assert len(load_task(path, model.tokenizer)) == 3  # summing is the default


def test_shipped_tasks_have_every_capability_and_variant():
    assert set(available_tasks()) >= set(CAPABILITIES)
    frame = load_tasks(CAPABILITIES)
    originals = frame[frame.variant == "original"].groupby("task").size()
    assert originals.min() >= 100 and len(originals) == len(CAPABILITIES)
    variants = frame.groupby("task").variant.nunique()
    assert (variants == 6).all()
    with_wrong = frame[frame.wrong.notna()].task.unique()
    assert {"pronoun", "ioi", "plural_singular", "quote_close", "induction_name"} <= set(with_wrong)
