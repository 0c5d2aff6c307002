"""Notebooks on a TransformerLens model that is not bundled: each chapter that supports it runs end to end in
smoke mode on both hub-model stand-ins (tests/standins.py: published configurations, random weights), with
papermill injecting ``MODEL``, and records every key it records on its bundled model. The bundled models'
claims (tests/expectations.py) are not checked here: random weights make meaningless numbers, and the
chapter's findings, written from its records, must not claim a result for them (each says so in its
findings code)."""

from __future__ import annotations

import ast
import json
import re

import pytest
from notebook_runs import POOL, Run, plans_runs, smoke_run
from standins import STANDINS

from mi_widgets.book.build import BUILD, NOTEBOOKS, execute_notebook
from mi_widgets.book.records import read_records

ANY_MODEL = sorted(str(p.relative_to(NOTEBOOKS)) for p in NOTEBOOKS.glob("[0-9]*/[0-9]*[0-9a-z].ipynb")
                   if not p.stem.endswith("_learner"))
# A chapter that compares a suite of models runs on a suite of the two stand-ins, so that its comparisons run too.
SUITES = {"20_capabilities/20_capabilities.ipynb": list(STANDINS), "21_heads/21_heads.ipynb": list(STANDINS)}
# Keys named after a model ("confident_share_gelu_4l"): compared with the model's name left out.
MODEL_IN_KEY = re.compile("|".join(["attn_1l", "attn_2l", "gelu_2l", "gelu_4l"]
                                   + [re.sub(r"\W", "_", s) for s in STANDINS]))
# Keys named after a layer ("r_lens_L2", "ablatable_fraction_resid2_w512"): a model with other layers
# records the same quantity for its own.
LAYER_IN_KEY = re.compile(r"(?<=_L)\d+|(?<=resid)\d+|(?<=block)\d+")


def key_shapes(records: dict) -> set[str]:
    return {LAYER_IN_KEY.sub("<layer>", MODEL_IN_KEY.sub("<model>", key)) for key in records}


def standin_run(rel: str, standin: str) -> Run:
    """The chapter in smoke mode on a stand-in; the kernel gets the stand-ins' HF_HOME and the session's
    dictionary cache (shared by the chapters, never ~/.cache)."""
    params = {"SMOKE": True, "STRICT": True, "MODEL": standin, **({"SUITE": SUITES[rel]} if rel in SUITES else {})}
    return Run(NOTEBOOKS / rel, BUILD / "executed" / f"smoke-{standin}" / rel, json.dumps(params), standins=True)


@pytest.mark.notebook
@pytest.mark.parametrize("standin", STANDINS)
@pytest.mark.parametrize("rel", ANY_MODEL)
@plans_runs(lambda params: [standin_run(params["rel"], params["standin"])])
def test_notebook_runs_on_a_hub_model_and_records_every_key(rel, standin):
    run = POOL.result(standin_run(rel, standin))
    assert run.ok, f"{rel} on {standin} failed under papermill:\n{run.log}"
    bundled_run = smoke_run(NOTEBOOKS / rel)
    POOL.ensure(bundled_run)  # the bundled-model run to compare with (made here when this test runs alone)
    missing = sorted(key_shapes(read_records(str(bundled_run.dst))) - key_shapes(read_records(str(run.output))))
    assert not missing, f"{rel} on {standin} did not record {missing}"


def test_every_chapter_passes_device_to_every_model_it_loads():
    """DEVICE (default "cpu") is a parameter of every chapter, and every load_model call there receives it."""
    for rel in ANY_MODEL:
        source = (NOTEBOOKS / rel).with_suffix(".py").read_text()
        assert re.search(r'^DEVICE = "cpu"', source, re.M), f"{rel} has no DEVICE parameter"
        calls = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
                 and getattr(node.func, "attr", getattr(node.func, "id", None)) == "load_model"]
        assert calls, rel
        for call in calls:
            device = {k.arg: k.value for k in call.keywords}.get("device")
            assert isinstance(device, ast.Name) and device.id == "DEVICE", \
                f"{rel} line {call.lineno}: load_model without device=DEVICE"


@pytest.mark.notebook
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU: DEVICE='cuda' would run")
def test_a_missing_gpu_stops_a_chapter_at_once_with_one_clear_error(tmp_path):
    """DEVICE goes to load_model: "cuda" on a machine without one stops the notebook at once, saying why."""
    run = execute_notebook(NOTEBOOKS / ANY_MODEL[-1], tmp_path / "out.ipynb", {"SMOKE": True, "DEVICE": "cuda"})
    assert not run.ok
    assert "asks for a CUDA GPU, but torch sees none" in run.log and "set DEVICE = 'cpu'" in run.log


# The chapters whose nnsight traces can run on NDIF (the README says so too).
REMOTE_CHAPTERS = ["00_start/00_start.ipynb", "40_lens/40_lens.ipynb"]


@pytest.mark.notebook
@pytest.mark.parametrize(("rel", "key"), [(REMOTE_CHAPTERS[0], None), (REMOTE_CHAPTERS[1], "a-key")])
def test_remote_offline_stops_the_notebook_at_once_naming_the_key_and_the_network(rel, key, hf_home, tmp_path,
                                                                                   monkeypatch):
    """REMOTE = True on this offline machine: the notebook stops in its first code cells, before any model
    work, with one error that names NDIF_API_KEY (no key) or says it needs the network (a key, no route).
    The run's timeout is short: a connection that hung would fail the test, not stall it."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("HF_HOME", str(hf_home))
    if key:
        monkeypatch.setenv("NDIF_API_KEY", key)
    else:
        monkeypatch.delenv("NDIF_API_KEY", raising=False)
    run = execute_notebook(NOTEBOOKS / rel, tmp_path / "out.ipynb", {"SMOKE": True, "REMOTE": True, "MODEL": "gpt2"},
                           timeout=90)
    assert not run.ok and "RemoteUnavailable" in run.log
    assert ("NDIF_API_KEY" in run.log) if not key else ("needs the network" in run.log)
    failed = next(c for c in json.loads(run.output.read_text())["cells"]
                  if any(o.get("output_type") == "error" for o in c.get("outputs", [])))
    before = "".join(failed["source"]).split("language_model(MODEL, remote=REMOTE)")
    assert len(before) == 2 and "load_model" not in before[0]  # it stopped there, before the model loads
