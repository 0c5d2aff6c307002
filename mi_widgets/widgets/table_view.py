"""A table to sort and filter: static HTML in the book, a sort menu and a filter in JupyterLab.

    view = sortable_table(wiki, sort_by="induction", filter_column="model")
    view            # static: the table, sorted by ``sort_by`` (largest first), every cell escaped
    view.widget()   # JupyterLab: a menu of columns to sort by, ascending or not, and one value to filter on

Numbers are shown with ``precision`` decimals and shaded by their place between the column's smallest and
largest value, so that the high scores stand out. Introduced in ``notebooks/21_heads`` for the head wiki.
"""

from __future__ import annotations

import html

import pandas as pd


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


class SortableTable:
    """A data frame with a static `_repr_html_` and an interactive `widget`."""

    def __init__(self, frame: pd.DataFrame, sort_by: str | None = None, filter_column: str | None = None,
                 precision: int = 2):
        if frame.empty:
            raise ValueError("the table is empty: nothing to show")
        for name in (sort_by, filter_column):
            if name is not None and name not in frame.columns:
                raise ValueError(f"no column {name!r}; the columns are {list(frame.columns)}")
        self.frame, self.sort_by, self.filter_column, self.precision = frame, sort_by, filter_column, precision

    def html(self, sort_by: str | None = None, ascending: bool = False, keep: str | None = None) -> str:
        """The table as escaped HTML, sorted by ``sort_by`` and, if ``keep`` is given, filtered to the rows whose
        ``filter_column`` equals it."""
        frame = self.frame
        if keep is not None and self.filter_column is not None:
            frame = frame[frame[self.filter_column].astype(str) == keep]
        if sort_by is not None:
            frame = frame.sort_values(sort_by, ascending=ascending, kind="stable")
        numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        low, high = self.frame[numeric].min(), self.frame[numeric].max()
        head = "".join(f'<th style="text-align:left;padding:2px 6px">{_esc(c)}</th>' for c in frame.columns)
        body = []
        for _, row in frame.iterrows():
            cells = []
            for c in frame.columns:
                value = row[c]
                if c in numeric and pd.notna(value):
                    span = float(high[c] - low[c]) or 1.0
                    shade = int(255 - 90 * (float(value) - float(low[c])) / span)
                    cells.append(f'<td style="padding:2px 6px;text-align:right;background:rgb({shade},{shade},255)">'
                                 f"{value:.{self.precision}f}</td>")
                else:
                    cells.append(f'<td style="padding:2px 6px;white-space:nowrap">{_esc("" if pd.isna(value) else value)}</td>')
            body.append(f"<tr>{''.join(cells)}</tr>")
        return (f'<div style="overflow-x:auto"><table class="mi-sortable" style="border-collapse:collapse;font-size:12px">'
                f"<tr>{head}</tr>{''.join(body)}</table></div>")  # wide tables scroll sideways

    def _repr_html_(self) -> str:
        return self.html(self.sort_by)

    def widget(self):
        """Sort by any column, either way, and filter on ``filter_column``: an ipywidgets box for JupyterLab."""
        import ipywidgets as w

        sort = w.Dropdown(options=list(self.frame.columns), value=self.sort_by or self.frame.columns[0],
                          description="sort by")
        ascending = w.Checkbox(value=False, description="ascending")
        choices = ["(all)"] + (sorted(self.frame[self.filter_column].astype(str).unique())
                               if self.filter_column else [])
        keep = w.Dropdown(options=choices, value="(all)", description=self.filter_column or "filter",
                          disabled=self.filter_column is None)
        out = w.HTML()

        def draw(*_):
            out.value = self.html(sort.value, ascending.value, None if keep.value == "(all)" else keep.value)

        for control in (sort, ascending, keep):
            control.observe(draw, names="value")
        draw()
        return w.VBox([w.HBox([sort, ascending, keep]), out])


def sortable_table(frame: pd.DataFrame, sort_by: str | None = None, filter_column: str | None = None,
                   precision: int = 2) -> SortableTable:
    """``frame`` as a `SortableTable`: static HTML sorted by ``sort_by`` (largest first), and a `widget`.

        view = sortable_table(wiki, sort_by="induction", filter_column="model")
        view.widget()   # in JupyterLab
    """
    return SortableTable(frame, sort_by, filter_column, precision)
