"""One text source per notebook: a jupytext percent file in, a solution and a learner notebook out.

    python -m mi_widgets.book --notebooks   # notebooks/<ch>/<ch>.py -> <ch>.ipynb and <ch>_learner.ipynb

The source ``notebooks/<ch>/<ch>.py`` is the only copy in git. In it, an exercise is a Markdown cell
with an ``{exercise}`` block (sphinx-exercise) and, below it, the code cell that answers it, with the
answer between two marker lines::

    def fvu(x, x_hat):
        # BEGIN SOLUTION (stub: return None)
        return ((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
        # END SOLUTION

The **solution notebook** (which the book executes and renders) keeps the answer, drops the markers and
wraps the cell in sphinx-exercise's ``solution-start`` / ``solution-end`` blocks, so that on the site the
answer sits in a closed dropdown. The **learner notebook** puts the stub in the answer's place at its
indentation (a stub never raises, so the notebook runs top to bottom), turns each ``{exercise}`` block
into a plain heading that reads well in JupyterLab, and holds no solution code. Neither stores outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat

LEARNER_SUFFIX = "_learner"
_BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION \(stub: (?P<stub>.+)\)\s*$")
_END = re.compile(r"^\s*# END SOLUTION\s*$")
_EXERCISE = re.compile(r"```\{exercise\}\s*(?P<title>[^\n]*)\n(?P<options>(?::[\w-]+:[^\n]*\n)*)(?P<body>.*?)\n```",
                       re.DOTALL)
_LABEL = re.compile(r":label:\s*(\S+)")
KERNELSPEC = {"name": "mi-workbook", "display_name": "MI Workbook (.venv)", "language": "python"}


def split_solution(code: str, where: str = "cell") -> tuple[str, str] | None:
    """(solution, learner) versions of a code cell, or None when it holds no solution markers."""
    solution, learner, open_at = [], [], None
    for n, line in enumerate(code.splitlines(), 1):
        begin = _BEGIN.match(line)
        if begin:
            if open_at is not None:
                raise ValueError(f"{where}, line {n}: BEGIN SOLUTION inside the solution opened on line {open_at}")
            open_at = n
            learner.append(f"{begin['indent']}{begin['stub'].strip()}  # your code here")
        elif _END.match(line):
            if open_at is None:
                raise ValueError(f"{where}, line {n}: END SOLUTION without a BEGIN SOLUTION (stub: ...) line")
            open_at = None
        else:
            solution.append(line)
            if open_at is None:
                learner.append(line)
        if "SOLUTION" in line and not (begin or _END.match(line)):
            raise ValueError(f"{where}, line {n}: a solution marker must read '# BEGIN SOLUTION (stub: <code>)' "
                             f"or '# END SOLUTION', got {line.strip()!r}")
    if open_at is not None:
        raise ValueError(f"{where}: the solution opened on line {open_at} is never closed (# END SOLUTION)")
    if len(solution) == len(learner) and solution == learner:
        return None
    return "\n".join(solution), "\n".join(learner)


def learner_markdown(text: str) -> str:
    """An ``{exercise}`` block as a plain heading and its body (JupyterLab does not render MyST directives)."""
    return _EXERCISE.sub(lambda m: f"### Exercise: {m['title'].strip()}\n\n{m['body'].strip()}", text)


def _fence(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text, metadata={"tags": ["solution"]})


def build_pair(source: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The solution and learner notebooks of one source file."""
    nb = jupytext.read(source)
    solution, learner, label = [], [], None
    for i, cell in enumerate(nb.cells):
        meta = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if "hide-input" in meta.get("tags", []):  # the site folds it behind a toggle; JupyterLab collapses it
            meta["jupyter"] = {"source_hidden": True}
        if cell.cell_type == "markdown":
            found = [_LABEL.search(m["options"]) for m in _EXERCISE.finditer(cell.source)]
            if any(f is None for f in found):
                raise ValueError(f"{source.name}, cell {i}: every {{exercise}} block needs a :label:")
            label = found[-1].group(1) if found else label
            solution.append(nbformat.v4.new_markdown_cell(cell.source, metadata=meta))
            learner.append(nbformat.v4.new_markdown_cell(learner_markdown(cell.source), metadata=meta))
            continue
        split = split_solution(cell.source, f"{source.name}, cell {i}")
        if split is None:
            solution.append(nbformat.v4.new_code_cell(cell.source, metadata=meta))
            learner.append(nbformat.v4.new_code_cell(cell.source, metadata=meta))
            continue
        if label is None:
            raise ValueError(f"{source.name}, cell {i}: a solution before any {{exercise}} block")
        tags = {"tags": sorted({*meta.get("tags", []), "solution"})}
        solution += [_fence(f"```{{solution-start}} {label}\n:class: dropdown\n```"),
                     nbformat.v4.new_code_cell(split[0], metadata=tags),
                     _fence("```{solution-end}\n```")]
        learner.append(nbformat.v4.new_code_cell(split[1], metadata=meta))
    out = []
    for cells in (solution, learner):
        notebook = nbformat.v4.new_notebook(cells=cells)
        notebook.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
        out.append(notebook)
    return out[0], out[1]


def source_paths(root: Path) -> list[Path]:
    """Every notebook source: ``<root>/<folder>/<folder>.py``."""
    return sorted(p for p in root.glob("*/*.py") if p.stem == p.parent.name)


def learner_path(solution: Path) -> Path:
    """Where the learner copy of a solution notebook goes: ``<ch>_learner.ipynb`` beside it."""
    return solution.with_name(solution.stem + LEARNER_SUFFIX + ".ipynb")


def write_notebooks(root: Path) -> list[Path]:
    """Write both notebooks of every source under ``root`` (only when they changed); returns their paths."""
    written = []
    for source in source_paths(root):
        pair = build_pair(source)
        for notebook, path in zip(pair, (source.with_suffix(".ipynb"), learner_path(source.with_suffix(".ipynb")))):
            for n, cell in enumerate(notebook.cells):
                cell["id"] = f"{source.stem[:3]}{n:03d}"  # stable ids: regenerating changes nothing
            text = nbformat.writes(notebook) + "\n"
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
            written.append(path)
    return written
