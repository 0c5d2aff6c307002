"""The built book in a real browser: every page loads offline, with no console error and no external request.

The site is built from the notebooks that test_notebooks.py executed in smoke mode (Jupyter Book with its
own execution off), so each notebook runs once per test session. Headless Chromium is Debian's
(`/usr/bin/chromium`), driven by Playwright; `make test` installs it where it can.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from mi_widgets.book.build import build_site, execute_notebook, executed_path, notebook_paths
from mi_widgets.organisms.stories import Label, Story
from mi_widgets.widgets import attention_view, story_view

CHROMIUM = os.environ.get("MI_CHROMIUM", "/usr/bin/chromium")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
# Each would set window.__pwned if the page ran it as code instead of showing it as text.
HOSTILE = ['<img src=x onerror="window.__pwned=1">', "</script><script>window.__pwned=2</script>",
           "<svg onload=window.__pwned=3>", "&lt;b&gt;", '" onmouseover="window.__pwned=4']

pytestmark = pytest.mark.browser


def _chromium_or_skip() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: make test installs Debian's chromium before the tests")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def site() -> Path:
    """index.html of the site built from the smoke-executed notebooks (executing any that are missing)."""
    for src in notebook_paths():
        out = executed_path(src, "smoke")
        if not out.exists() or out.stat().st_mtime < src.with_suffix(".py").stat().st_mtime:
            run = execute_notebook(src, out, {"SMOKE": True, "STRICT": True})
            assert run.ok, run.log
    return build_site("smoke")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = _chromium_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _visit(browser, url: str) -> dict:
    """Open ``url``; return console errors, page errors, non-local requests and the page."""
    page = browser.new_page()
    seen = {"console": [], "errors": [], "external": [], "page": page}
    page.on("console", lambda m: m.type == "error" and seen["console"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: r.url.startswith(LOCAL_SCHEMES) or seen["external"].append(r.url))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(500)  # let module scripts (circuitsvis) render
    return seen


def _pages(index: Path) -> list[Path]:
    html = index.parent
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and p.name not in ("genindex.html", "search.html"))


BAR_LINE = re.compile(r"\d+%\|[^|\n]*\| *\d+/\d+")  # a tqdm bar: "train:  40%|####  | 4/10 [...]"
MAX_BAR_LINES = 12  # a few finished bars; a page that shows every redraw has hundreds


def test_pages_show_few_progress_bar_lines(site):
    counts = {p.name: len(BAR_LINE.findall(p.read_text(encoding="utf-8"))) for p in _pages(site)}
    assert sum(counts.values()) > 0, "no bar found at all: has the bar format changed?"
    flooded = {name: n for name, n in counts.items() if n > MAX_BAR_LINES}
    assert not flooded, f"pages that show more than {MAX_BAR_LINES} progress-bar lines: {flooded}"


def test_every_page_loads_offline_without_errors(site, browser):
    problems = []
    for path in _pages(site):
        seen = _visit(browser, path.as_uri())
        rel = path.relative_to(site.parent)
        problems += [f"{rel}: console error {m}" for m in seen["console"]]
        problems += [f"{rel}: script error {m}" for m in seen["errors"]]
        problems += [f"{rel}: external request {u}" for u in seen["external"]]
        # Every figure and widget rendering on the page has drawn something.
        empty_images = seen["page"].eval_on_selector_all("article img", "els => els.filter(e => !(e.naturalWidth > 0)).length")
        empty_views = seen["page"].eval_on_selector_all(
            ".mi-attention, .mi-story, .mi-tokens, .mi-dashboard, .mi-lens, .mi-plotly", "els => els.filter(e => e.getBoundingClientRect().height < 5 || !e.innerHTML.trim()).length")
        problems += [f"{rel}: {empty_images} images failed to load"] if empty_images else []
        problems += [f"{rel}: {empty_views} widget renderings are empty"] if empty_views else []
        seen["page"].close()
    assert not problems, "\n".join(problems)


def test_notebook_pages_show_their_figures_and_widgets(site, browser):
    page = _visit(browser, (site.parent / "01_models" / "01_models.html").as_uri())["page"]
    assert page.locator("article img").count() >= 2, "loss curves and the capability heatmap"
    assert page.locator(".mi-story mark").count() > 10
    page.close()
    page = _visit(browser, (site.parent / "00_start" / "00_start.html").as_uri())["page"]
    assert page.locator(".mi-attention").count() == 1
    assert page.locator(".mi-attention *").count() > 5, "circuitsvis drew the attention view"
    page.close()
    # A live ipywidget: the vendored widget manager (no CDN) draws its saved state, dashboard included.
    page = _visit(browser, (site.parent / "10_dictionaries" / "10_dictionaries.html").as_uri())["page"]
    assert page.locator(".mi-dashboard").count() >= 3, "the static dashboards"
    page.wait_for_selector(".jupyter-widgets input", timeout=10_000)
    assert page.locator(".jupyter-widgets .mi-dashboard").count() == 1, "the widget manager drew the live dashboard"
    page.close()
    # A plotly figure: plotly.js comes from the site's vendor folder and draws the figure.
    page = _visit(browser, (site.parent / "30_geometry" / "30_geometry.html").as_uri())["page"]
    page.wait_for_selector(".mi-plotly .main-svg", timeout=10_000)
    points = page.locator(".mi-plotly .scatterlayer .point").count()
    labels = page.locator(".mi-plotly .scatterlayer .textpoint").count()
    assert points >= 3 and points == labels, "one labelled point per month word the data holds"
    page.close()


def test_exercises_show_as_numbered_blocks_with_closed_solutions(site, browser):
    for path in sorted(site.parent.glob("[0-9]*/*.html")):
        page = _visit(browser, path.as_uri())["page"]
        blocks, solutions = page.locator(".exercise"), page.locator(".solution")
        assert blocks.count() >= 4 and solutions.count() == blocks.count(), (path.name, blocks.count(), solutions.count())
        assert "Exercise" in blocks.first.inner_text() and "Difficulty" in blocks.first.inner_text()
        code = solutions.first.locator("div.cell")
        assert code.count() >= 1 and not code.first.is_visible(), f"{path.name}: the solution is open before a click"
        solutions.first.locator("summary, .toggle-button, button").first.click()
        page.wait_for_timeout(300)
        assert code.first.is_visible(), f"{path.name}: a click does not open the solution"
        assert page.locator("a[href$='_learner.ipynb']").count() == 1, f"{path.name}: no learner notebook link"
        page.close()
    downloads = list(site.parent.glob("_downloads/*/*_learner.ipynb"))
    assert len(downloads) == len(notebook_paths()), downloads


def test_start_here_leads_and_the_reference_pages_are_there(site, browser):
    page = _visit(browser, site.as_uri())["page"]
    captions = page.locator("nav.bd-links p.caption").all_inner_texts()
    assert captions and captions[0].strip().lower().startswith("start here"), captions
    assert captions[-1].strip().lower() == "about", captions
    page.close()
    api = (site.parent / "api.html").read_text(encoding="utf-8")
    for name in ("mi_widgets.activations.harvest_activations", "mi_widgets.models.load_model",
                 "mi_widgets.dictionaries.dictionary.Dictionary", "mi_widgets.patching.patch_activation"):
        assert f'id="{name}"' in api, f"the API reference lacks {name}"
    assert api.count('class="highlight') >= 5, "docstring examples should render as code blocks"
    glossary = (site.parent / "glossary.html").read_text(encoding="utf-8")
    assert all(term in glossary for term in ("Residual stream", "Smoke mode", "Model organism", "Hook point"))


def test_hostile_tokens_are_shown_as_text_and_run_nothing(browser, tmp_path):
    n = len(HOSTILE)
    story = Story(" ".join(HOSTILE), (Label(0, len(HOSTILE[0]), "ioi", {}),))
    views = [attention_view(HOSTILE, torch.ones(1, n, n).tril() / torch.arange(1, n + 1)[:, None]), story_view(story)]
    page_file = tmp_path / "hostile.html"
    page_file.write_text("<!doctype html><meta charset=utf-8><body>" + "".join(v._repr_html_() for v in views))
    seen = _visit(browser, page_file.as_uri())
    page = seen["page"]
    assert page.evaluate("window.__pwned") is None, "a hostile token ran as script"
    assert HOSTILE[0] in page.locator(".mi-story").inner_text(), "the token text is shown as text"
    assert page.locator(".mi-attention *").count() > 5, "the attention view still renders"
    assert not seen["external"] and not seen["errors"]
    page.close()

