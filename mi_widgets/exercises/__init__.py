"""Checks for the workbook's exercises: a learner's function against the package's reference.

    from mi_widgets import exercises
    exercises.check_fvu(fvu)                # PASSED, FAILED: <diagnosis>, or not attempted yet
    exercises.check_fvu(fvu, strict=True)   # a failure raises (tests run solutions this way)
    exercises.check("dictionaries.fvu", fvu)  # the same, by the exercise's full name

Each exercise (`Exercise`, registered in `EXERCISES` by the chapter modules ``start``, ``models``, ...)
names the reference it is checked against (the package's own implementation wherever one exists), the
inputs it is tried on (edge cases included), and the mistakes learners make, each with the diagnosis to
print when a learner's answer matches it. A stub that returns None (or ``...``) is "not attempted yet";
in learner mode a check never raises, so a learner notebook runs from top to bottom.
"""

from mi_widgets.exercises.core import EXERCISES, Exercise, ExerciseFailed, Verdict, check
from mi_widgets.exercises import (capabilities, circuits, dictionaries, geometry, heads, layernorm,  # noqa: F401
                                  lens, models, patching, splitting, start, superposition, training_dynamics,
                                  whole_model)



def _helper(name: str):
    def check_one(answer, strict: bool = False) -> None:
        check(name, answer, strict)

    check_one.__name__ = check_one.__qualname__ = f"check_{name.split('.')[1]}"
    check_one.__doc__ = f"Check an answer to the exercise ``{name}`` (see `check`)."
    return check_one


# One check_<name> helper per exercise (the names are unique across chapters).
HELPERS = {f"check_{name.split('.')[1]}": _helper(name) for name in EXERCISES}
globals().update(HELPERS)

__all__ = ["EXERCISES", "Exercise", "ExerciseFailed", "Verdict", "check", *HELPERS]
