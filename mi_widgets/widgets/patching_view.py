"""Patching heat map: rows (layers, or heads), columns (the prompt's tokens), each cell a patch's score.

Static escaped HTML, the same in JupyterLab and in the built book; hover a cell for its value.
`PatchingView.widget` adds a menu over several results (hook types, template families). Made from the
outputs of `mi_widgets.patching.patch_scan` and `attribution_patch`; used in ``notebooks/41_patching``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mi_widgets.widgets.tokens import _colour


@dataclass
class PatchGrid:
    """One result: ``values`` [row, column] with a label for every row and column."""

    values: torch.Tensor
    rows: Sequence[str]
    columns: Sequence[str]

    def __post_init__(self):
        if self.values.ndim != 2 or tuple(self.values.shape) != (len(self.rows), len(self.columns)):
            raise ValueError(f"values must be [rows, columns] = [{len(self.rows)}, {len(self.columns)}], "
                             f"got {tuple(self.values.shape)}")
        if not torch.isfinite(self.values).all():
            raise ValueError("the patching scores hold NaN or inf: the metric's clean and corrupt values may be equal")


class PatchingView:
    """Several `PatchGrid` results under names; ``.html(name)`` renders one, ``.widget()`` picks among them."""

    def __init__(self, grids: dict[str, PatchGrid], caption: str = ""):
        if not grids:
            raise ValueError("give at least one grid")
        self.grids, self.caption = grids, caption

    def html(self, name: str | None = None) -> str:
        """The grid ``name`` (default: the first) as a table, colour scaled to its largest absolute value."""
        name = name or next(iter(self.grids))
        if name not in self.grids:
            raise KeyError(f"no grid {name!r}; there are {list(self.grids)}")
        grid = self.grids[name]
        scale = float(grid.values.abs().max()) or 1.0
        head = "".join(f'<th style="font-weight:normal;padding:2px 3px;white-space:pre;writing-mode:vertical-rl;'
                       f'transform:rotate(180deg)">{html.escape(str(c))}</th>' for c in grid.columns)
        body = []
        for r, label in enumerate(grid.rows):
            cells = "".join(
                f'<td title="{html.escape(str(label))} at {html.escape(str(c))}: {v:+.3f}" style="background:'
                f'{_colour(v, scale, True)};width:22px;height:18px;border:1px solid #fff"></td>'
                for c, v in zip(grid.columns, grid.values[r].tolist()))
            body.append(f'<tr><th style="text-align:right;padding-right:6px;font-weight:normal;white-space:pre">'
                        f'{html.escape(str(label))}</th>{cells}</tr>')
        return (f'<div class="mi-patching" style="font-size:11px;overflow-x:auto">'
                f'<div style="font-family:sans-serif;color:#555">{html.escape(name)}'
                f'{": " + html.escape(self.caption) if self.caption else ""} (orange: restores the clean answer, '
                f'blue: works against it; largest |score| {scale:.2f}; hover for values)</div>'
                f'<table style="border-collapse:collapse"><tr><th></th>{head}</tr>{"".join(body)}</table></div>')

    def _repr_html_(self) -> str:
        return self.html()

    def widget(self):
        """A menu of the grids; redraws on change (needs a running kernel)."""
        import ipywidgets as widgets

        menu = widgets.Dropdown(options=list(self.grids), description="result")
        out = widgets.HTML(self.html())
        menu.observe(lambda change: setattr(out, "value", self.html(change["new"])), names="value")
        return widgets.VBox([menu, out])


def patching_view(grids: dict[str, PatchGrid], caption: str = "") -> PatchingView:
    """A heat map of patching scores, one grid per name (see `PatchingView`)."""
    return PatchingView(grids, caption)
