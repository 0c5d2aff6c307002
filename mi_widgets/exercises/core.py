"""The machinery of a checked exercise: run the learner's function on each case, compare, diagnose, report."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

PASSED, FAILED, NOT_ATTEMPTED = "PASSED", "FAILED", "not attempted yet"


class Verdict(NamedTuple):
    status: str
    """PASSED, FAILED or "not attempted yet"."""
    message: str

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.message else self.status


class ExerciseFailed(AssertionError):
    """Raised by a check in strict mode when the answer is wrong or missing."""


class Case(NamedTuple):
    """One input to try: positional arguments and what it tests (shown when the learner's answer fails it)."""

    args: tuple
    about: str = ""


@dataclass
class Exercise:
    """A checked exercise: ``reference(*case.args)`` is the right answer for every case."""

    name: str
    reference: Callable[..., Any]
    cases: Callable[[], Sequence[Case]]
    """Built when a check runs (some need a model), so importing the checks costs nothing."""
    mistakes: list[tuple[Callable[..., Any], str]] = field(default_factory=list)
    """Wrong answers learners write, with the diagnosis to print when the learner's output matches one."""
    atol: float = 1e-4
    rtol: float = 1e-4

    def run(self, answer: Callable[..., Any]) -> Verdict:
        """The verdict on ``answer``, without printing or raising (`check` does both)."""
        if not callable(answer):
            return Verdict(FAILED, f"expected a function, got {type(answer).__name__}")
        cases = list(self.cases())
        outputs = []
        for case in cases:
            try:
                outputs.append(answer(*_copy(case.args)))
            except Exception as err:  # the learner's code: report, never crash the notebook
                where = f" on {case.about}" if case.about else ""
                return Verdict(FAILED, f"your function raised {type(err).__name__}{where}: {err}")
        if all(o is None or o is Ellipsis for o in outputs):
            return Verdict(NOT_ATTEMPTED, "the stub still returns None; fill it in and run this cell again")
        for case, got in zip(cases, outputs):
            want = self.reference(*_copy(case.args))
            problem = compare(got, want, self.atol, self.rtol)
            if problem is None:
                continue
            for wrong, diagnosis in self.mistakes:
                if compare(got, wrong(*_copy(case.args)), self.atol, self.rtol) is None:
                    return Verdict(FAILED, diagnosis + (f" (on {case.about})" if case.about else ""))
            return Verdict(FAILED, problem + (f" on {case.about}" if case.about else ""))
        return Verdict(PASSED, f"matches the reference on all {len(cases)} cases")


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to `EXERCISES` under its name (each name once)."""
    if exercise.name in EXERCISES:
        raise ValueError(f"exercise {exercise.name!r} is registered twice")
    EXERCISES[exercise.name] = exercise
    return exercise


def check(name: str, answer: Callable[..., Any], strict: bool = False) -> None:
    """Check ``answer`` against the exercise ``name`` and print the verdict; strict mode raises unless it passed.

    Nothing is returned, so a notebook cell shows the printed line only (``EXERCISES[name].run(answer)``
    gives the `Verdict` itself)."""
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; known: {', '.join(sorted(EXERCISES))}")
    verdict = EXERCISES[name].run(answer)
    print(f"[{name}] {verdict}")
    if strict and verdict.status != PASSED:
        raise ExerciseFailed(f"[{name}] {verdict}")


def _copy(args: tuple) -> tuple:
    """Fresh copies of tensor arguments, so an answer that edits its inputs in place cannot spoil the reference."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def _as_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x.detach().double().cpu()
    if isinstance(x, (int, float, bool, np.number, np.ndarray)) or (isinstance(x, (list, tuple)) and x and
                                                                    all(isinstance(v, (int, float)) for v in x)):
        return torch.as_tensor(np.asarray(x, dtype=float))
    return None


def compare(got: Any, want: Any, atol: float = 1e-4, rtol: float = 1e-4) -> str | None:
    """None when ``got`` matches ``want``; otherwise what is wrong, in words a learner can act on."""
    if got is None or got is Ellipsis:
        return "returned None"
    if isinstance(want, (tuple, list)) and not all(isinstance(v, (int, float)) for v in want):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"expected a tuple of {len(want)} values, got {type(got).__name__}"
        for i, (g, w) in enumerate(zip(got, want)):
            problem = compare(g, w, atol, rtol)
            if problem:
                return f"item {i}: {problem}"
        return None
    w, g = _as_tensor(want), _as_tensor(got)
    if w is None:
        return None if got == want else f"got {got!r}, expected {want!r}"
    if g is None:
        return f"returned a {type(got).__name__}; expected a {'number' if w.ndim == 0 else 'tensor'}"
    if g.shape != w.shape:
        if g.numel() == w.numel() and w.ndim == 2 and g.shape == w.shape[::-1]:
            return f"shape {tuple(g.shape)}, expected {tuple(w.shape)}: transposed?"
        return f"shape {tuple(g.shape)}, expected {tuple(w.shape)}"
    if torch.isnan(g).any() and not torch.isnan(w).any():
        return "the result contains NaN (a division by zero, or the log of zero?)"
    if torch.allclose(g, w, atol=atol, rtol=rtol, equal_nan=True):
        return None
    if w.abs().max() > atol and torch.allclose(g, -w, atol=atol, rtol=rtol):
        return "the sign is flipped"
    nz = w.abs() > atol
    if nz.sum() > 1:  # one number has a ratio to any other: say only how far off it is
        ratio = g[nz] / w[nz]
        if torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-3) and not math.isclose(ratio[0], 1, rel_tol=1e-3):
            return f"off by a constant factor of {float(ratio[0]):.4g} (a missing or extra normalisation?)"
    if w.numel() > 1:
        diff = g - w
        if torch.allclose(diff, diff.flatten()[0].expand_as(diff), atol=atol) and abs(float(diff.flatten()[0])) > atol:
            return f"off by a constant {float(diff.flatten()[0]):.4g} everywhere (an offset or a missing centring?)"
    if w.ndim >= 1 and w.shape[-1] > 2:
        for shift in (1, -1):
            if torch.allclose(g[..., 1:-1], torch.roll(w, shift, -1)[..., 1:-1], atol=atol, rtol=rtol):
                return f"shifted by {shift:+d} position along the last axis (an off-by-one?)"
    where = int((g - w).abs().argmax())
    index = tuple(int(i) for i in np.unravel_index(where, tuple(w.shape))) if w.ndim else ()
    return (f"differs from the reference by up to {float((g - w).abs().max()):.4g}"
            + (f" (at index {index}: {float(g.flatten()[where]):.4g} instead of {float(w.flatten()[where]):.4g})"
               if index else f" ({float(g):.4g} instead of {float(w):.4g})"))
