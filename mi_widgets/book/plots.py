"""Interactive plotly figures that work in JupyterLab and in the built book, with no CDN.

`show(fig)` displays a figure in two forms. JupyterLab draws plotly's own MIME type with the plotly
extension that ships in the plotly package. The book shows the HTML form, which loads plotly.js from
the site's ``vendor/`` folder: `mi_widgets.book.build` copies it there from the installed plotly package at
build time, so no page asks a CDN. Introduced in ``notebooks/30_geometry/30_geometry.ipynb``.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

PLOTLY_JS = "../vendor/plotly.min.js"
"""Where a notebook page (``<folder>/<notebook>.html``) finds plotly.js in the built site."""


def plotly_js_path() -> Path:
    """The plotly.js bundle of the installed plotly package (the book copies it into ``vendor/``)."""
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


def figure_bundle(fig) -> dict[str, object]:
    """MIME bundle of a plotly figure: plotly JSON for JupyterLab, HTML for the book, text otherwise.

    Plotly writes the figure's data as JSON inside a script and escapes ``<``, ``>`` and ``&`` there,
    so a label such as ``</script>`` stays text (tested).
    """
    div = fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
    title = fig.layout.title.text or "plotly figure"
    return {"application/vnd.plotly.v1+json": json.loads(fig.to_json()),
            "text/html": f'<div class="mi-plotly"><script src="{PLOTLY_JS}"></script>{div}</div>',
            "text/plain": f"<{title}: interactive in JupyterLab and in the book>"}


def show(fig) -> None:
    """Display a plotly figure so that JupyterLab and the built book both draw it."""
    from IPython.display import display

    display(figure_bundle(fig), raw=True)
