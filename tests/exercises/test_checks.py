"""Every exercise check: the reference passes, an untouched stub is "not attempted", every known mistake fails
with its own diagnosis, and strict mode raises. A check that a stub could pass would be a defect."""

from __future__ import annotations

import pytest
import torch

from mi_widgets import exercises
from mi_widgets.book.build import notebook_paths
from mi_widgets.exercises.core import FAILED, NOT_ATTEMPTED, PASSED, compare

NAMES = sorted(exercises.EXERCISES)


def test_every_chapter_has_at_least_four_exercises():
    chapters = {}
    for name in NAMES:
        chapters.setdefault(name.split(".")[0], []).append(name)
    assert len(chapters) == len(notebook_paths()) and min(len(v) for v in chapters.values()) >= 4, chapters


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_stub_is_not_attempted_and_mistakes_fail(name, capsys):
    ex = exercises.EXERCISES[name]
    assert ex.run(ex.reference).status == PASSED
    assert ex.run(lambda *args: None).status == NOT_ATTEMPTED
    assert ex.run(lambda *args: ...).status == NOT_ATTEMPTED
    exercises.check(name, lambda *args: None)
    exercises.check(name, ex.reference, strict=True)  # passes: no raise
    out = capsys.readouterr().out
    assert f"[{name}] not attempted yet" in out and f"[{name}] PASSED" in out
    assert ex.mistakes, f"{name} lists no mistakes: nothing shows that its check can fail"
    for wrong, diagnosis in ex.mistakes:
        verdict = ex.run(wrong)
        assert verdict.status == FAILED and diagnosis in verdict.message, (name, diagnosis, verdict)


@pytest.mark.parametrize("name", NAMES)
def test_strict_mode_raises_on_a_stub_and_a_crash(name):
    with pytest.raises(exercises.ExerciseFailed, match="not attempted"):
        exercises.check(name, lambda *args: None, strict=True)
    exercises.check(name, lambda *args: 1 / 0)  # learner mode: reported, not raised
    verdict = exercises.EXERCISES[name].run(lambda *args: 1 / 0)
    assert verdict.status == FAILED and "ZeroDivisionError" in verdict.message


def test_compare_names_the_common_mistakes():
    want = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert compare(want.clone(), want) is None
    assert "transposed" in compare(want.T, want)
    assert "sign is flipped" in compare(-want, want)
    assert "constant factor of 2" in compare(2 * want, want)
    assert "constant 0.5" in compare(want + 0.5, want)
    assert "NaN" in compare(torch.full_like(want, float("nan")), want)
    assert "shape" in compare(want[0], want)
    assert "returned a str" in compare("x", want)
    rolled = torch.arange(8.0)
    assert "shifted by +1" in compare(torch.roll(rolled ** 2, 1), rolled ** 2)
    assert "instead of" in compare(torch.tensor(3.0), torch.tensor(2.5))


def test_every_exercise_has_its_check_helper(capsys):
    assert len(exercises.HELPERS) == len(NAMES)  # short names are unique
    for name in NAMES:
        helper = getattr(exercises, f"check_{name.split('.')[1]}")
        helper(lambda *args: None)
        assert f"[{name}] not attempted yet" in capsys.readouterr().out
        with pytest.raises(exercises.ExerciseFailed):
            helper(lambda *args: None, strict=True)


def test_unknown_exercise_and_non_function_answers():
    with pytest.raises(KeyError, match="no exercise"):
        exercises.check("nope", print)
    assert exercises.EXERCISES["lens.kl_divergence"].run(3.0).status == FAILED
