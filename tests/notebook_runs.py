"""The notebook runs of a test session, executed ahead of the tests that check them, two at a time.

A papermill run spends much of its time in one thread (starting a kernel, importing, small tensors), so
on a 2-core machine two runs side by side, one thread each, take far less than twice one. After collection, each selected
test that executes notebooks names its runs (`plans_runs`); the pool executes them in test order, and a
test waits only for its own. The report, the order of the tests and their messages stay as they were
with one run at a time. ``MI_TEST_WORKERS`` sets the pool's width (1: one run at a time).

    @plans_runs(lambda params: [smoke_run(params["path"])])
    def test_something(path):
        run = POOL.result(smoke_run(path))
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mi_widgets.book.build import BUILD, NOTEBOOKS, NotebookRun, execute_notebook, executed_path
from mi_widgets.book.sources import learner_path


@dataclass(frozen=True)
class Run:
    """One papermill execution a test asks for; equal runs are executed once per session."""

    src: Path
    dst: Path
    params: str  # JSON text, so that a run can be a dictionary key
    standins: bool = False  # the kernel reads the hub-model stand-ins (HF_HOME) and a dictionary cache


def smoke_run(src: Path) -> Run:
    """The solution notebook in smoke mode with strict checks: the copy the claims and the site are read from."""
    return Run(src, executed_path(src, "smoke"), json.dumps({"SMOKE": True, "STRICT": True}))


def learner_run(src: Path) -> Run:
    """The learner copy of a notebook in smoke mode, as a learner opens it."""
    learner = learner_path(src)
    return Run(learner, BUILD / "executed" / "learner" / learner.relative_to(NOTEBOOKS), json.dumps({"SMOKE": True}))


def plans_runs(planner: Callable[[dict], list[Run]]):
    """Mark a test that executes notebooks: ``planner(its parameters)`` lists the runs it will ask for."""
    def mark(test):
        test.notebook_runs = planner
        return test
    return mark


class NotebookPool:
    """Executes planned runs in the background, in the order planned; ``result`` waits for one."""

    def __init__(self) -> None:
        self.workers = int(os.environ.get("MI_TEST_WORKERS", min(2, os.cpu_count() or 1)))
        self._futures: dict[Run, Future] = {}
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        self._env = dict(os.environ)  # taken before any test can change the environment
        # Kernels side by side, each with the machine's threads, spin against each other: a share each (measured
        # on 2 cores: 59 s for 00_start's four runs this way, 88 s with 2 threads each, 97 s one at a time).
        self._env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // self.workers)))
        self._scratch: Path | None = None

    def plan(self, runs: list[Run]) -> None:
        """Queue ``runs`` (in this order, each once)."""
        with self._lock:
            if self._executor is None and runs:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="notebook")
            for run in runs:
                if run not in self._futures:
                    self._futures[run] = self._executor.submit(self._execute, run)

    def planned(self, run: Run) -> bool:
        return run in self._futures

    def result(self, run: Run) -> NotebookRun:
        """The finished run: waited for if planned, else executed now (not behind the queue)."""
        if self.planned(run):
            return self._futures[run].result()
        return self._execute(run)

    def ensure(self, run: Run) -> None:
        """Make sure ``run``'s output is there and newer than its notebook's source: waits for it if planned,
        else executes it only when missing or stale (so a test run alone reuses the last session's copy)."""
        source = run.src.with_suffix(".py")
        if not self.planned(run) and run.dst.exists() and run.dst.stat().st_mtime >= source.stat().st_mtime:
            return
        done = self.result(run)
        assert done.ok, f"{run.src.name} failed under papermill:\n{done.log}"

    def scratch(self) -> Path:
        """A folder for this session, removed at its end."""
        with self._lock:
            if self._scratch is None:
                self._scratch = Path(tempfile.mkdtemp(prefix="mi-tests-"))
            return self._scratch

    def standin_env(self) -> dict[str, str]:
        """HF_HOME holding the hub-model stand-ins (made on first use) and a dictionary cache for the session."""
        from standins import make_hf_home

        with self._lock:
            home, cache = self.scratch() / "hf-home", self.scratch() / "dictionary-cache"
            if not (home / ".done").exists():
                make_hf_home(home)
                cache.mkdir()
                (home / ".done").touch()
        return {"HF_HOME": str(home), "MI_WIDGETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1"}

    def _execute(self, run: Run) -> NotebookRun:
        env = {**self._env, **(self.standin_env() if run.standins else {})}
        return execute_notebook(run.src, run.dst, json.loads(run.params), env=env)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


POOL = NotebookPool()
