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
from notebook_runs import POOL, smoke_run

from mi_widgets.book.build import build_site, notebook_paths
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
        POOL.ensure(smoke_run(src))
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
MAX_BAR_LINES = 5  # a handful of finished bars; a page that shows every redraw has hundreds


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
    # No kernel runs behind the page: its input is drawn disabled, not as a box that does nothing.
    assert page.locator(".jupyter-widgets input").evaluate_all("els => els.every(e => e.disabled)")
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
                 "mi_widgets.dictionaries.dictionary.Dictionary", "mi_widgets.patching.patch"):
        assert f'id="{name}"' in api, f"the API reference lacks {name}"
    assert api.count('class="highlight') >= 5, "docstring examples should render as code blocks"
    glossary = (site.parent / "glossary.html").read_text(encoding="utf-8")
    assert all(term in glossary for term in ("Residual stream", "Smoke mode", "Model organism", "Hook point"))


CHAPTER_OPENING = ("You will learn to", "You need:", "Time:")


def test_every_chapter_opens_with_objectives_prerequisites_and_times(site, browser):
    for path in sorted(site.parent.glob("[0-9]*/*.html")):
        page = _visit(browser, path.as_uri())["page"]
        opening = page.locator("article blockquote").first.inner_text()
        assert all(part in opening for part in CHAPTER_OPENING), f"{path.name} opens with {opening[:200]!r}"
        assert page.locator("article blockquote").first.evaluate(
            "q => q.compareDocumentPosition(document.querySelector('article section h2')) & 4"), \
            f"{path.name}: the objectives come after the first section"
        page.close()


def test_chapter_times_agree_with_the_course_page(site):
    """The run times under each chapter's title are the ones the course page gives (one measurement, two places)."""
    course = (site.parent.parent.parent / "course.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"\| \[[^]]+\]\((\d\d_\w+)/\S+\) \|.*\| ([\d.]+) min \|$", course, re.M))
    assert len(table) == len(notebook_paths()), table
    readme = (site.parent.parent.parent.parent / "README.md").read_text(encoding="utf-8")
    for src in notebook_paths():
        header = src.with_suffix(".py").read_text(encoding="utf-8")[:2000]
        assert f"the full run takes about {table[src.stem]} min" in header, src.stem
        assert re.search(rf"\(`{src.stem}`\) \|.*\| {re.escape(table[src.stem])} min \|$", readme, re.M), src.stem


def test_every_internal_link_resolves(site):
    """Every relative link of every page names a file of the site and, with a #fragment, an id in it."""
    broken = []
    for path in _pages(site):
        text = path.read_text(encoding="utf-8")
        for href in re.findall(r'<a [^>]*href="([^"]+)"', text):
            if href.startswith(("http:", "https:", "mailto:", "javascript:")) or href.startswith("#") and len(href) == 1:
                continue
            target, _, fragment = href.partition("#")
            file = (path.parent / target).resolve() if target else path
            if not file.exists():
                broken.append(f"{path.name}: {href} (no such file)")
            elif fragment and file.suffix == ".html" and f'id="{fragment}"' not in file.read_text(encoding="utf-8"):
                broken.append(f"{path.name}: {href} (no id {fragment!r})")
    assert not broken, "\n".join(sorted(set(broken))[:30])


OVERFLOW_JS = """() => {
  const out = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push('the page scrolls sideways');
  const article = document.querySelector('article');
  const edge = article.getBoundingClientRect().right + 1;
  for (const el of article.querySelectorAll('pre')) {
    if (el.scrollWidth > el.clientWidth + 1) out.push('code cut off: ' + el.textContent.slice(0, 60));
  }
  for (const el of article.querySelectorAll('table, img, .mi-dashboard, .mi-attention')) {
    if (el.getBoundingClientRect().right > edge) out.push(el.tagName + ' past the column: ' + el.textContent.slice(0, 40));
  }
  return out;
}"""


@pytest.mark.parametrize("width", [1280, 900])
def test_no_page_overflows_its_column(site, browser, width):
    """Code wraps inside the column and wide tables scroll inside it; nothing runs off the page's edge."""
    problems = []
    for path in _pages(site):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_selector("article")  # index.html redirects to intro.html: measure the page it lands on
        page.wait_for_timeout(300)
        problems += [f"{path.relative_to(site.parent)}: {p}" for p in page.evaluate(OVERFLOW_JS)]
        page.close()
    assert not problems, "\n".join(problems[:30])


def test_served_pages_request_nothing_missing(site, browser):
    """Over HTTP (as a reader's browser sees the site), no request fails: the favicon included."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        failed = []
        for rel in ("index.html", "00_start/00_start.html", "glossary.html"):
            page = browser.new_page()
            page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
            page.goto(f"http://127.0.0.1:{server.server_port}/{rel}", wait_until="load")
            page.wait_for_timeout(800)  # the favicon is fetched after load
            assert page.evaluate("document.querySelector('link[rel~=icon]') !== null"), f"{rel} names no favicon"
            page.close()
        assert not failed, failed
    finally:
        server.shutdown()


def test_attention_view_labels_are_small_and_apart(site, browser):
    """circuitsvis's head labels do not overlap their neighbours, and its title is not drawn as a section heading."""
    page = _visit(browser, (site.parent / "00_start" / "00_start.html").as_uri())["page"]
    boxes = page.locator(".mi-attention h4").evaluate_all("els => els.map(e => e.getBoundingClientRect().toJSON())")
    assert len(boxes) >= 2
    tiles = [b for b in boxes if b["height"] < 40]
    overlaps = [(a, b) for a, b in zip(tiles, tiles[1:]) if a["right"] > b["left"] + 1 and abs(a["top"] - b["top"]) < 5]
    assert not overlaps, overlaps
    title = page.locator(".mi-attention h3").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert title <= 16, f"the head selector's title is {title}px, drawn like a section heading"
    page.close()


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

