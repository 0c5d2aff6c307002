"""Execute every notebook with papermill in smoke mode and hold it to its claims (tests/expectations.py): the
solution notebook in strict mode (every exercise check must pass), the learner notebook as a learner gets it
(it runs to the end, every check says "not attempted yet", and it holds no solution code)."""

from __future__ import annotations

import json
import re

import pytest
from expectations import EXPECTATIONS
from notebook_runs import POOL, learner_run, plans_runs, smoke_run

from mi_widgets.book.build import BUILD, NOTEBOOKS, executed_path, notebook_paths, write_run_table
from mi_widgets.book.records import read_records
from mi_widgets.book.sources import learner_path
from mi_widgets.exercises.core import NOT_ATTEMPTED

PATHS = notebook_paths()
IDS = [str(p.relative_to(NOTEBOOKS)) for p in PATHS]
REQUIRED_PARAMETERS = ("SMOKE", "SEED", "MODEL")


def _cells(path):
    return json.loads(path.read_text())["cells"]


@pytest.fixture(scope="module")
def run_table():
    runs = []
    yield runs
    if runs:
        write_run_table(runs, BUILD / "notebook_runs_smoke.md")
        print("\n" + (BUILD / "notebook_runs_smoke.md").read_text())


def test_every_notebook_has_expectations():
    assert PATHS, "the book has no notebooks"
    assert sorted(EXPECTATIONS) == sorted(IDS), "tests/expectations.py and notebooks/ must name the same notebooks"
    assert all(EXPECTATIONS[i] for i in IDS), "every notebook claims at least one recorded result"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_notebook_is_stored_clean(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        f"{path.name} is stored with outputs; clear them (the book build executes it)"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one code cell must be tagged 'parameters'"
    source = "".join(tagged[0]["source"])
    missing = [p for p in REQUIRED_PARAMETERS if f"{p} =" not in source]
    assert not missing, f"the parameters cell lacks {missing}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", PATHS, ids=IDS)
@plans_runs(lambda params: [smoke_run(params["path"])])
def test_notebook_runs_and_holds_its_claims(path, run_table):
    rel = str(path.relative_to(NOTEBOOKS))
    run = POOL.result(smoke_run(path))
    run_table.append((path, run))
    assert run.ok, f"{rel} failed under papermill:\n{run.log}"
    found = read_records(str(run.output))
    failures = [msg for claim in EXPECTATIONS[rel] if (msg := claim.check(found, smoke=True))]
    assert not failures, f"{rel} does not hold its claims: {failures}"
    warnings = [line for line in _stream_lines(run.output) if WARNING.search(line)]
    assert not warnings, f"{rel} prints warnings into its page: {warnings[:3]}"
    verdicts = [line for line in _stream_lines(run.output) if VERDICT.match(line)]
    assert len(verdicts) >= 4 and all("] PASSED" in v for v in verdicts), (rel, verdicts)


VERDICT = re.compile(r"^\[\w+\.\w+\] ")


def _solution_lines(source) -> tuple[set[str], set[str]]:
    """Lines of a notebook source inside solution markers, and lines outside them."""
    inside, outside, is_in = set(), set(), False
    for line in source.read_text().splitlines():
        if "# BEGIN SOLUTION" in line or "# END SOLUTION" in line:
            is_in = "BEGIN" in line
            continue
        (inside if is_in else outside).add(line.strip())
    return inside, outside


def test_learner_notebooks_hold_no_solution_code():
    for path in PATHS:
        inside, outside = _solution_lines(path.with_suffix(".py"))
        secret = {line for line in inside - outside if line}  # lines that exist only in solutions
        learner = {line.strip() for c in _cells(learner_path(path)) for line in "".join(c["source"]).splitlines()}
        solution = {line.strip() for c in _cells(path) for line in "".join(c["source"]).splitlines()}
        assert len(secret) >= 4 and secret <= solution, f"{path.name}: the solutions are missing"
        assert not secret & learner, f"{learner_path(path).name} leaks solution lines: {sorted(secret & learner)[:3]}"
        assert not any("solution-start" in line or "solution-end" in line for line in learner)


@pytest.mark.notebook
@pytest.mark.parametrize("path", PATHS, ids=IDS)
@plans_runs(lambda params: [learner_run(params["path"])])
def test_learner_notebook_runs_with_every_check_not_attempted(path):
    learner = learner_path(path)
    run = POOL.result(learner_run(path))
    assert run.ok, f"{learner.name} failed under papermill:\n{run.log}"
    verdicts = [line for line in _stream_lines(run.output) if VERDICT.match(line)]
    assert len(verdicts) >= 4 and all(NOT_ATTEMPTED in v for v in verdicts), (learner.name, verdicts)


WARNING = re.compile(r"\b\w*(Warning|Deprecation)\w*:")


def _stream_lines(executed) -> list[str]:
    return [line for c in _cells(executed) for o in c.get("outputs", []) if o.get("output_type") == "stream"
            for line in "".join(o["text"]).splitlines()]


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_full_run_holds_its_claims(path):
    """The copy `make book` executed with full parameters holds the full (not smoke) bounds."""
    rel = str(path.relative_to(NOTEBOOKS))
    full = executed_path(path, "full")
    if not full.exists() or full.stat().st_mtime < path.with_suffix(".py").stat().st_mtime:
        pytest.skip(f"no full run of {rel} newer than the notebook: run `make book` first")
    found = read_records(str(full))
    failures = [msg for claim in EXPECTATIONS[rel] if (msg := claim.check(found, smoke=False))]
    assert not failures, f"{rel} (full run) does not hold its claims: {failures}"
