"""Notebooks on a TransformerLens model that is not bundled: each chapter that supports it runs end to end in
smoke mode on both hub-model stand-ins (tests/standins.py: published configurations, random weights), with
papermill injecting ``MODEL``, and records every key it records on its bundled model. The bundled models'
claims (tests/expectations.py) are not checked here: random weights make meaningless numbers, and the
chapter's findings, written from its records, must not claim a result for them (each says so in its
findings code)."""

from __future__ import annotations

import re

import pytest
from standins import STANDINS

from mi_widgets.book.build import BUILD, NOTEBOOKS, execute_notebook, executed_path
from mi_widgets.book.records import read_records

# The chapters that take a TransformerLens name in MODEL so far. The others read the planted labels, the
# bundled tokenizer or shipped dictionaries throughout (issue 19 moves them over one by one).
ANY_MODEL = ["00_start/00_start.ipynb", "10_dictionaries/10_dictionaries.ipynb", "20_capabilities/20_capabilities.ipynb"]
# A chapter that compares a suite of models runs on a suite of the two stand-ins, so that its comparisons run too.
SUITES = {"20_capabilities/20_capabilities.ipynb": list(STANDINS)}
# Keys named after a model ("confident_share_gelu_4l"): compared with the model's name left out.
MODEL_IN_KEY = re.compile("|".join(["attn_1l", "attn_2l", "gelu_2l", "gelu_4l"]
                                   + [re.sub(r"\W", "_", s) for s in STANDINS]))


def key_shapes(records: dict) -> set[str]:
    return {MODEL_IN_KEY.sub("<model>", key) for key in records}


@pytest.mark.notebook
@pytest.mark.parametrize("standin", STANDINS)
@pytest.mark.parametrize("rel", ANY_MODEL)
def test_notebook_runs_on_a_hub_model_and_records_every_key(rel, standin, hf_home, monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("HF_HOME", str(hf_home))  # the kernel papermill starts inherits it
    path = NOTEBOOKS / rel
    params = {"SMOKE": True, "STRICT": True, "MODEL": standin, **({"SUITE": SUITES[rel]} if rel in SUITES else {})}
    run = execute_notebook(path, BUILD / "executed" / f"smoke-{standin}" / rel, params)
    assert run.ok, f"{rel} on {standin} failed under papermill:\n{run.log}"
    bundled_run = executed_path(path, "smoke")
    if not bundled_run.exists():  # run alone: make the bundled-model run to compare with
        assert execute_notebook(path, bundled_run, {"SMOKE": True, "STRICT": True}).ok
    missing = sorted(key_shapes(read_records(str(bundled_run))) - key_shapes(read_records(str(run.output))))
    assert not missing, f"{rel} on {standin} did not record {missing}"


@pytest.mark.notebook
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU: DEVICE='cuda' would run")
@pytest.mark.parametrize("rel", ANY_MODEL)
def test_device_reaches_the_model_and_a_missing_gpu_is_one_clear_error(rel, tmp_path):
    """DEVICE goes to load_model: "cuda" on a machine without one stops the notebook at once, saying why."""
    run = execute_notebook(NOTEBOOKS / rel, tmp_path / "out.ipynb", {"SMOKE": True, "DEVICE": "cuda"})
    assert not run.ok
    assert "asks for a CUDA GPU, but torch sees none" in run.log and "set DEVICE = 'cpu'" in run.log
