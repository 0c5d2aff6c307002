"""Layer 5, book: executing the notebooks, building the site, and what a notebook shows and records.

`records` (the numbers a notebook claims), `plots` (plotly figures that work offline) and `build`
(papermill runs and the Jupyter Book site; ``python -m mi_widgets.book``). May import every layer below.
"""
