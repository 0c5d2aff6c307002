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


def test_record_returns_its_value():
    value = {"a": 1}
    assert record("returned", value) is value


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
    outputs = [{"output_type": "display_data", "data": {}, "metadata": {METADATA_KEY: {"name": "x", "value": 3}}},
               {"output_type": "stream", "name": "stdout", "text": "hi"}]
    nb = {"cells": [{"cell_type": "code", "outputs": outputs}, {"cell_type": "markdown"}]}
    path = tmp_path / "run.ipynb"
    path.write_text(json.dumps(nb))
    assert read_records(str(path)) == {"x": 3}
