"""mi_widgets.book.records: what a notebook claims, and how the tests read it back."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mi_widgets.book.records import METADATA_KEY, read_records, record, records


def test_record_converts_numpy_and_torch_values():
    record("score_np", np.float32(0.25))
    record("score_torch", torch.tensor([1, 2]))
    assert records()["score_np"] == 0.25
    assert records()["score_torch"] == [1, 2]


def test_record_returns_nothing_so_a_cell_ending_in_one_echoes_nothing():
    assert record("returned", {"a": 1}) is None
    assert records()["returned"] == {"a": 1}


@pytest.mark.parametrize("bad", [math.nan, math.inf, [1.0, float("nan")]])
def test_record_refuses_non_finite_numbers(bad):
    with pytest.raises(ValueError, match="non-finite"):
        record("bad", bad)


@pytest.mark.parametrize("name", ["has space", "", "1st", None])
def test_record_refuses_bad_names(name):
    with pytest.raises(ValueError, match="identifier"):
        record(name, 1)


def test_record_refuses_objects_without_json_form():
    with pytest.raises(TypeError, match="cannot record"):
        record("obj", object())


def test_read_records_from_an_executed_notebook(tmp_path):
    outputs = [{"output_type": "display_data", "data": {}, "metadata": {METADATA_KEY: [{"name": "x", "value": 3}, {"name": "y", "value": [1]}]}},
               {"output_type": "stream", "name": "stdout", "text": "hi"}]
    nb = {"cells": [{"cell_type": "code", "outputs": outputs}, {"cell_type": "markdown"}]}
    path = tmp_path / "run.ipynb"
    path.write_text(json.dumps(nb))
    assert read_records(str(path)) == {"x": 3, "y": [1]}


def test_records_of_one_cell_share_one_folded_output(tmp_path):
    """Three records in a cell make one output listing all three; the next cell starts a new one."""
    from mi_widgets.book.build import execute_notebook

    src = tmp_path / "nb.ipynb"
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "SMOKE = True", "outputs": [],
         "execution_count": None},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "import mi_widgets as mw\nmw.record('a', 1)\nprint('between')\nmw.record('b', 2.5)\nmw.record('a', 3)"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "mw.record('c', 'x')"},
    ]
    src.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    out = tmp_path / "out.ipynb"
    assert execute_notebook(src, out, {}).ok
    nb = json.loads(out.read_text())
    shown = [[o for o in cell["outputs"] if METADATA_KEY in o.get("metadata", {})] for cell in nb["cells"][-2:]]
    assert [len(s) for s in shown] == [1, 1]
    assert [e["name"] for e in shown[0][0]["metadata"][METADATA_KEY]] == ["b", "a"]
    assert "2 recorded results" in "".join(shown[0][0]["data"]["text/html"])
    assert read_records(str(out)) == {"a": 3, "b": 2.5, "c": "x"}
