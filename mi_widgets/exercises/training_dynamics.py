"""60_training_dynamics: checkpoints that are copies, an in-context-learning score, the step of fastest change, and
the correlation of changes."""

from __future__ import annotations

import numpy as np
import torch

from mi_widgets.analysis.training_dynamics import fastest_change_step, icl_score
from mi_widgets.exercises.core import Case, Exercise, register


def _losses() -> torch.Tensor:
    """Per-token losses [batch, pos - 1] that fall along the row, with noise: later tokens are easier."""
    g = torch.Generator().manual_seed(0)
    return 4.0 - 0.03 * torch.arange(63.0) + 0.5 * torch.rand(16, 63, generator=g)


def _icl_reference(losses, early, late):
    return icl_score(losses, early, late, width=0)


def _icl_cases():
    flat = torch.full((4, 20), 2.0)
    flat[:, 9] = 5.0  # the loss of predicting token 10
    return [Case((_losses(), 6, 60), "losses that fall along 64-token rows (tokens 6 and 60)"),
            Case((flat, 10, 15), "a row whose token 10 alone is hard: only the loss at index 9 is")]


register(Exercise(
    "training_dynamics.icl_score", _icl_reference, _icl_cases,
    mistakes=[(lambda losses, early, late: float(losses[:, late].mean() - losses[:, early].mean()),
               "off by one: losses[:, p - 1] is the loss of predicting token p (position 0 is never predicted)"),
              (lambda losses, early, late: float(losses[:, early - 1].mean() - losses[:, late - 1].mean()),
               "the sign is reversed: late minus early, so that in-context learning makes the score negative")]))


def _curve(shift: int) -> tuple[np.ndarray, np.ndarray]:
    steps = np.arange(0, 525, 25)
    values = 1 / (1 + np.exp(-(steps - 300 - shift) / 20.0))  # a sigmoid rise around step 300 + shift
    return steps, values + 0.3 * np.exp(-steps / 40.0)  # with an early fall before it


def _fastest_cases():
    steps, rise = _curve(0)
    _, late = _curve(100)
    return [Case((steps, rise, 1), "a curve that falls early, then rises fastest at step 300"),
            Case((steps, rise, -1), "the same curve, asked for its fastest fall"),
            Case((steps[::2], late[::2], 1), "checkpoints every 50 steps, rising at step 400")]


def _index_not_step(steps, values, direction):
    moves = direction * (np.asarray(values)[2:] - np.asarray(values)[:-2])
    return int(np.argmax(moves)) + 1


def _either_way(steps, values, direction):
    moves = np.abs(np.asarray(values)[2:] - np.asarray(values)[:-2])
    return int(np.asarray(steps)[int(np.argmax(moves)) + 1])


def _window_end(steps, values, direction):
    moves = direction * (np.asarray(values)[2:] - np.asarray(values)[:-2])
    return int(np.asarray(steps)[int(np.argmax(moves)) + 2])


register(Exercise(
    "training_dynamics.fastest_change_step", fastest_change_step, _fastest_cases,
    mistakes=[(_index_not_step, "that is the checkpoint's index: return steps[...] at that index"),
              (_either_way, "only moves in `direction` count (multiply the change by it): a fall is not a rise"),
              (_window_end, "return the window's middle checkpoint, not its end (index + span // 2)")]))


def _changes_reference(a, b):
    return float(np.corrcoef(np.diff(a), np.diff(b))[0, 1])


def _changes_cases():
    rng = np.random.default_rng(0)
    steps, rise = _curve(0)
    _, late = _curve(100)
    return [Case((rise, 2 - 3 * rise + 0.01 * rng.standard_normal(len(rise))), "a falling copy of a rising curve"),
            Case((rise, late), "two curves that rise 100 steps apart"),
            Case((np.cumsum(rng.standard_normal(30)), np.cumsum(rng.standard_normal(30))), "two random walks")]


register(Exercise(
    "training_dynamics.correlation_of_changes", _changes_reference, _changes_cases,
    mistakes=[(lambda a, b: float(np.corrcoef(a, b)[0, 1]),
               "that correlates the curves' values: any two curves that trend over training correlate so; "
               "correlate their changes between checkpoints (np.diff)"),
              (lambda a, b: abs(float(np.corrcoef(np.diff(a), np.diff(b))[0, 1])),
               "keep the sign: a curve that falls while the other rises correlates negatively")]))


def _keep_reference(weights, updates, every):
    kept = [weights.clone()]
    for step, update in enumerate(updates, start=1):
        weights += update  # in place, as an optimizer step is
        if step % every == 0:
            kept.append(weights.clone())
    return torch.stack(kept)


def _keep_cases():
    g = torch.Generator().manual_seed(0)
    return [Case((torch.randn(3, 4, generator=g), torch.randn(6, 3, 4, generator=g), 2), "6 steps, every 2"),
            Case((torch.zeros(5), torch.ones(9, 5), 3), "9 steps of +1, every 3")]


def _aliased(weights, updates, every):
    kept = [weights]
    for step, update in enumerate(updates, start=1):
        weights += update
        if step % every == 0:
            kept.append(weights)
    return torch.stack(kept)


def _without_start(weights, updates, every):
    return _keep_reference(weights, updates, every)[1:]


register(Exercise(
    "training_dynamics.keep_checkpoints", _keep_reference, _keep_cases,
    mistakes=[(_aliased, "every checkpoint equals the final weights: appending `weights` keeps a reference to the "
               "tensor the optimizer keeps changing; keep `weights.clone()`"),
              (_without_start, "keep the initialisation too (step 0): the curves start from it")]))
