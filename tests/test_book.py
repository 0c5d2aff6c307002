"""mi_widgets.book: which notebooks belong to the book, the run table, and how executed copies are staged."""

from __future__ import annotations

import pytest

from mi_widgets.book import NOTEBOOKS, NotebookRun, hide_injected_parameters, notebook_paths, write_run_table


def test_notebook_paths_skip_build_outputs_and_checkpoints():
    paths = notebook_paths()
    assert paths == sorted(paths)
    assert all("_build" not in p.parts and ".ipynb_checkpoints" not in p.parts for p in paths)
    assert NOTEBOOKS / "00_start" / "00_start.ipynb" in paths


def test_every_notebook_is_in_the_table_of_contents():
    toc = (NOTEBOOKS / "_toc.yml").read_text()
    missing = [str(p.relative_to(NOTEBOOKS).with_suffix("")) for p in notebook_paths()
               if f"file: {p.relative_to(NOTEBOOKS).with_suffix('')}" not in toc]
    assert not missing, f"add these notebooks to notebooks/_toc.yml: {missing}"


def test_run_table(tmp_path):
    path = tmp_path / "runs.md"
    run = NotebookRun(tmp_path / "out.ipynb", 12.34, 456.7, True, "")
    write_run_table([(NOTEBOOKS / "00_start" / "00_start.ipynb", run)], path)
    assert "| 00_start/00_start.ipynb | 12.3 | 457 | True |" in path.read_text()


def test_injected_parameters_are_hidden_in_the_site():
    nb = {"cells": [{"metadata": {"tags": ["injected-parameters"]}}, {"metadata": {"tags": ["parameters"]}}]}
    out = hide_injected_parameters(nb)
    assert out["cells"][0]["metadata"]["tags"] == ["injected-parameters", "remove-cell"]
    assert out["cells"][1]["metadata"]["tags"] == ["parameters"]


def test_execute_only_names_known_notebooks():
    from mi_widgets.book import execute_all

    with pytest.raises(ValueError, match="unknown notebook folders"):
        execute_all(smoke=True, only=["01_models", "no_such_notebook"])
