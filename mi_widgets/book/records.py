"""Recorded results: the numbers a notebook claims, kept where tests can check them.

`record(name, value)` shows the value in the notebook (one folded table per cell) and attaches it to
the cell's output metadata under the key ``mi_widgets.record``. Papermill keeps that metadata in the executed notebook, so the
tests read every claim back from the output file (see ``tests/expectations.py``) and the book shows
the same numbers the tests checked. Introduced in ``notebooks/00_start/00_start.ipynb``.
"""

from __future__ import annotations

import html
import json
import math
import uuid
from numbers import Number
from typing import Any

METADATA_KEY = "mi_widgets.record"

_RECORDS: dict[str, Any] = {}


def _plain(value: Any) -> Any:
    """Turn numpy/torch scalars and arrays into JSON values; refuse what has no JSON form."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Number):
        value = float(value) if not isinstance(value, int) else value
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"refusing to record a non-finite number ({value}); a claim must be a real value")
        return value
    raise TypeError(f"cannot record a value of type {type(value).__name__}; use numbers, strings, lists or dicts")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(value)
    return text if len(text) <= 200 else text[:197] + "..."


def record(name: str, value: Any) -> None:
    """Record a key result of this notebook under ``name``.

    It returns nothing, so a cell that ends with a record shows the folded table and no echo of the value.

    The value must be JSON-like (numbers, strings, bools, lists, dicts; numpy and torch values are
    converted); a NaN or infinite number is refused. Recording the same name twice keeps the last value.
    In a notebook, the records of one cell show as one folded table under it.

        record("validation_loss", losses.mean().item())
        record("induction_heads", ["1.2", "1.3"])
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"record name must be a Python identifier such as 'induction_score', got {name!r}")
    plain = _plain(value)
    _RECORDS[name] = plain
    _display(name, plain)


_CELL: dict[str, Any] = {"key": None, "display_id": None, "entries": [], "shown": False}  # the records of the running cell


def _display(name: str, plain: Any) -> None:
    """Show the running cell's records as one folded table, updated in place as each one arrives.

    Each cell gets one output with a display id; a later record in the same cell updates it, so a page
    shows one compact block per cell rather than a line per number. The output's metadata carries every
    record of the cell, which is what `read_records` reads back.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display, update_display
    except ImportError:  # plain Python: the in-memory record is enough
        return
    shell = get_ipython()
    if shell is None:
        return
    key = (id(shell), shell.execution_count)
    if _CELL["key"] != key:
        _CELL.update(key=key, display_id=f"mi-records-{uuid.uuid4().hex}", entries=[], shown=False)
    entries = [e for e in _CELL["entries"] if e["name"] != name] + [{"name": name, "value": plain}]
    _CELL["entries"] = entries
    rows = "".join(f"<tr><td><code>{html.escape(e['name'])}</code></td><td><b>{html.escape(_format(e['value']))}</b></td></tr>"
                   for e in entries)
    label = "1 recorded result" if len(entries) == 1 else f"{len(entries)} recorded results"
    bundle = {
        "text/plain": "recorded: " + ", ".join(f"{e['name']} = {_format(e['value'])}" for e in entries),
        "text/html": f'<details class="mi-records"><summary>{label}</summary><table>{rows}</table></details>',
    }
    show = update_display if _CELL["shown"] else display
    _CELL["shown"] = True
    show(bundle, raw=True, metadata={METADATA_KEY: entries}, display_id=_CELL["display_id"])


def findings(*sentences: str) -> None:
    """Show a notebook's findings, written from its records, as a bulleted list.

    For example:

        r = records()
        findings(f"The loss is {r['validation_loss']:.2f} nats per token.")
    """
    try:
        from IPython.display import Markdown, display
    except ImportError:
        print("\n".join(f"- {s}" for s in sentences))
        return
    display(Markdown("\n".join(f"- {s}" for s in sentences)))


def untrained_finding(model_name: str, loss: float, d_vocab: int, about: str) -> str:
    """The one findings sentence for a model that is no better than chance (see `mi_widgets.logprobs.is_trained`).

    A notebook states it in place of everything it would find about that model:

        if not is_trained(loss, model.cfg.d_vocab):    # mi_widgets.logprobs.is_trained
            found = [untrained_finding(MODEL, loss, model.cfg.d_vocab, "its features")]
    """
    return (f"{model_name}'s held-out loss, {loss:.2f} nats per token, is not under half a uniform guess's "
            f"({math.log(d_vocab):.2f} over its {d_vocab:,} tokens): an untrained model, so this run states no finding "
            f"about {about}.")


def records() -> dict[str, Any]:
    """All values recorded in this process so far (a copy), by name.

    For example:

        record("score", 0.9)
        records()["score"]   # 0.9
    """
    return dict(_RECORDS)


def read_records(notebook_path: str) -> dict[str, Any]:
    """Read the records of an executed notebook file (the inverse of `record`, used by the tests)."""
    with open(notebook_path, encoding="utf-8") as f:
        nb = json.load(f)
    found: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            entries = output.get("metadata", {}).get(METADATA_KEY)
            for entry in entries or []:
                found[entry["name"]] = entry["value"]
    return found
