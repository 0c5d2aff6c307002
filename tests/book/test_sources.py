"""book.sources: one percent source makes a solution notebook and a learner notebook that holds no solution."""

from __future__ import annotations

import pytest

from mi_widgets.book.sources import build_pair, learner_markdown, learner_path, split_solution, write_notebooks

SOURCE = '''# %% tags=["parameters"]
SMOKE = False

# %% [markdown]
# ```{exercise} Add one
# :label: ex-add
#
# **Difficulty** 1/5
#
# Return x + 1.
# ```

# %%
def add_one(x):
    """x + 1."""
    # BEGIN SOLUTION (stub: return None)
    y = x + 1
    return y
    # END SOLUTION


# %%
print(add_one(1))
'''


def test_split_solution_keeps_the_answer_or_the_stub():
    solution, learner = split_solution("def f(x):\n    # BEGIN SOLUTION (stub: return None)\n    return x\n    # END SOLUTION")
    assert solution == "def f(x):\n    return x"
    assert learner == "def f(x):\n    return None  # your code here"
    assert split_solution("x = 1") is None
    with pytest.raises(ValueError, match="never closed"):
        split_solution("# BEGIN SOLUTION (stub: ...)\nx = 1")
    with pytest.raises(ValueError, match="without a BEGIN"):
        split_solution("x = 1\n# END SOLUTION")
    with pytest.raises(ValueError, match="must read"):
        split_solution("# BEGIN SOLUTION\nx = 1\n# END SOLUTION")


def test_learner_markdown_turns_the_block_into_a_heading():
    text = "```{exercise} Add one\n:label: ex-add\n\nReturn x + 1.\n```\n\nmore"
    assert learner_markdown(text) == "### Exercise: Add one\n\nReturn x + 1.\n\nmore"


def test_pair_wraps_the_solution_and_strips_it_from_the_learner(tmp_path):
    source = tmp_path / "ch" / "ch.py"
    source.parent.mkdir()
    source.write_text(SOURCE)
    solution, learner = build_pair(source)
    texts = [c.source for c in solution.cells]
    start = next(i for i, t in enumerate(texts) if t.startswith("```{solution-start} ex-add"))
    assert "y = x + 1" in texts[start + 1] and "SOLUTION" not in texts[start + 1]
    assert texts[start + 2].startswith("```{solution-end}")
    assert "solution" in solution.cells[start + 1].metadata["tags"]
    learner_text = "\n".join(c.source for c in learner.cells)
    assert "y = x + 1" not in learner_text and "solution-start" not in learner_text
    assert "return None  # your code here" in learner_text and "### Exercise: Add one" in learner_text
    assert [c.metadata.get("tags") for c in learner.cells if c.cell_type == "code"][0] == ["parameters"]
    written = write_notebooks(tmp_path)
    assert written == [source.with_suffix(".ipynb"), learner_path(source.with_suffix(".ipynb"))]
    before = [p.read_text() for p in written]
    write_notebooks(tmp_path)
    assert [p.read_text() for p in written] == before  # stable: regenerating changes nothing


def test_a_solution_needs_an_exercise_above_it(tmp_path):
    source = tmp_path / "ch" / "ch.py"
    source.parent.mkdir()
    source.write_text("# %%\ndef f():\n    # BEGIN SOLUTION (stub: return None)\n    return 1\n    # END SOLUTION\n")
    with pytest.raises(ValueError, match="before any"):
        build_pair(source)


def test_folded_plotting_cells_are_collapsed_in_jupyterlab_too(tmp_path):
    source = tmp_path / "ch" / "ch.py"
    source.parent.mkdir()
    source.write_text('# %% tags=["hide-input"]\nprint("a plot")\n\n# %%\nprint("the method")\n')
    for nb in build_pair(source):
        folded, shown = nb.cells
        assert folded.metadata["tags"] == ["hide-input"] and folded.metadata["jupyter"] == {"source_hidden": True}
        assert "jupyter" not in shown.metadata
