"""mi_widgets.book.build: which notebooks belong to the book, the run table, and how executed copies are staged."""

from __future__ import annotations

import pytest

from mi_widgets.book.build import (NOTEBOOKS, NotebookRun, final_bar_states, hide_injected_parameters, notebook_paths,
                                   write_run_table)


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
    from mi_widgets.book.build import execute_all

    with pytest.raises(ValueError, match="unknown notebook folders"):
        execute_all(smoke=True, only=["01_models", "no_such_notebook"])


def _bar_chunks(total: int, desc: str) -> list[str]:
    """What a text tqdm bar writes, one chunk per redraw (as the kernel sends them)."""
    import io

    from tqdm import tqdm

    class Chunks(io.StringIO):
        def __init__(self):
            super().__init__()
            self.chunks = []

        def write(self, text):
            self.chunks.append(text)
            return len(text)

    sink = Chunks()
    for _ in tqdm(range(total), desc=desc, file=sink, mininterval=0, miniters=1, ascii=True):
        pass
    return [c for c in sink.chunks if c]


def _stream(name, text):
    return {"output_type": "stream", "name": name, "text": text}


def test_only_the_final_state_of_each_bar_is_kept():
    first, second = _bar_chunks(20, "training"), _bar_chunks(5, "scoring")
    outputs = ([_stream("stdout", "start\n")] + [_stream("stderr", c) for c in first]
               + [_stream("stdout", "between\n")] + [_stream("stderr", c) for c in second]
               + [{"output_type": "display_data", "data": {"text/plain": "x"}, "metadata": {}}])
    nb = {"cells": [{"cell_type": "code", "outputs": outputs, "source": ""}, {"cell_type": "markdown", "source": ""}]}
    kept = final_bar_states(nb)["cells"][0]["outputs"]
    bars = [o["text"] for o in kept if o.get("name") == "stderr"]
    assert len(first) > 20 and len(bars) == 2, bars  # every redraw was its own chunk; one line per bar is left
    assert bars[0].startswith("training: 100%") and "20/20" in bars[0] and bars[0].count("\n") == 1
    assert bars[1].startswith("scoring: 100%") and "5/5" in bars[1]
    assert [o.get("text") for o in kept if o.get("name") == "stdout"] == ["start\n", "between\n"]
    assert kept[-1]["output_type"] == "display_data"
    assert final_bar_states(nb) == nb  # idempotent: the site may tidy a copy that is already tidy


def test_interleaved_output_and_a_bar_left_unfinished():
    chunks = _bar_chunks(10, "harvest")
    cut = chunks[:6]  # the loop broke early: no closing newline
    outputs = [_stream("stderr", c) for c in cut[:3]] + [_stream("stdout", "note\n")] + [_stream("stderr", c) for c in cut[3:]]
    kept = final_bar_states({"cells": [{"cell_type": "code", "outputs": outputs, "source": ""}]})["cells"][0]["outputs"]
    texts = [(o["name"], o["text"]) for o in kept]
    assert [n for n, _ in texts] == ["stdout", "stderr"], texts
    assert "\r" not in texts[1][1] and texts[1][1].count("harvest") == 1


def test_a_bars_closing_newline_after_other_output_joins_the_bar():
    chunks = _bar_chunks(3, "harvest")
    assert chunks[-1].endswith("\n")
    outputs = ([_stream("stderr", c) for c in chunks[:-1]] + [_stream("stderr", chunks[-1].rstrip("\n"))]
               + [_stream("stdout", "table\n"), _stream("stderr", "\n")])
    kept = final_bar_states({"cells": [{"cell_type": "code", "outputs": outputs, "source": ""}]})["cells"][0]["outputs"]
    assert [(o["name"], o["text"].count("\n")) for o in kept] == [("stderr", 1), ("stdout", 1)]
    assert kept[0]["text"].startswith("harvest: 100%")


def test_docstring_examples_become_literal_blocks():
    from mi_widgets.book.docstrings import literal_examples

    lines = ["Harvest activations.", "", "    acts = harvest(model)", "    more = 1", "", "Text again.", "",
             "Already literal::", "", "    x = 1"]
    assert literal_examples(lines) == ["Harvest activations.", "::", "", "    acts = harvest(model)", "    more = 1", "",
                                       "Text again.", "", "Already literal::", "", "    x = 1"]


def test_saved_widget_inputs_are_drawn_disabled_on_the_site():
    from mi_widgets.book.build import WIDGET_STATE, freeze_widget_inputs

    state = {"a": {"model_name": "BoundedIntTextModel", "state": {"disabled": False, "value": 3}},
             "b": {"model_name": "HTMLModel", "state": {"value": "<b>x</b>"}}}
    nb = freeze_widget_inputs({"cells": [], "metadata": {"widgets": {WIDGET_STATE: {"state": state}}}})
    frozen = nb["metadata"]["widgets"][WIDGET_STATE]["state"]
    assert frozen["a"]["state"]["disabled"] is True and "JupyterLab" in frozen["a"]["state"]["placeholder"]
    assert frozen["b"]["state"] == {"value": "<b>x</b>"}, "an output widget is left alone"
    assert freeze_widget_inputs({"cells": []}) == {"cells": []}
