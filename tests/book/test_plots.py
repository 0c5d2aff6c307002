"""Plotly figures: one bundle for JupyterLab (plotly JSON) and the book (HTML loading the site's plotly.js)."""

import plotly.graph_objects as go

from mi_widgets.book.plots import PLOTLY_JS, figure_bundle, plotly_js_path

HOSTILE = ["</script><script>window.__pwned=1</script>", "<img src=x onerror=alert(1)>"]


def test_bundle_has_both_forms_and_loads_plotly_from_the_site():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], text=["a", "b"]))
    fig.update_layout(title="t")
    bundle = figure_bundle(fig)
    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["x"] == [1, 2]
    html = bundle["text/html"]
    assert f'<script src="{PLOTLY_JS}"></script>' in html and "Plotly.newPlot" in html
    assert "http" not in html, "no CDN or other remote address in the figure's HTML"
    assert plotly_js_path().stat().st_size > 1_000_000


def test_labels_stay_text():
    html = figure_bundle(go.Figure(go.Scatter(x=[1, 2], y=[1, 2], text=HOSTILE)))["text/html"]
    assert not any(h in html for h in HOSTILE)
    assert "\\u003c\\u002fscript\\u003e" in html
