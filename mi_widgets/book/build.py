"""Execute the workbook's notebooks with papermill and build the Jupyter Book site from the results.

Each notebook is executed once per run: ``make test`` executes them in smoke mode (the tests then
check their records and build the site from those copies), ``make book`` executes them with their
full defaults. The site is built from the executed copies with Jupyter Book's own execution off.

    python -m mi_widgets.book --execute          # full run, as `make book`
    python -m mi_widgets.book --execute --smoke  # seconds per notebook
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from tqdm.auto import tqdm

from mi_widgets.book.plots import plotly_js_path
from mi_widgets.book.sources import LEARNER_SUFFIX, learner_path, write_notebooks

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BUILD = NOTEBOOKS / "_build"
KERNEL = "mi-workbook"
VENDOR = NOTEBOOKS / "_vendor"
# What a page with live ipywidgets or formulas loads, served by the site itself: require.js, the widget
# manager with the font files its stylesheet names, MathJax. Fetched from npm by `make setup`, never
# committed. A wanted name starting with "." is a suffix.
VENDOR_PACKAGES = {  # package: [(folder in its tarball, file names wanted, folder under notebooks/_vendor)]
    "requirejs@2.3.8": [("package/", ("require.js",), "")],
    "@jupyter-widgets/html-manager@1.0.15": [
        ("package/dist/", ("embed-amd.js", ".woff2", ".woff", ".ttf", ".eot", ".svg"), "")],
    # Pages with formulas: MathJax and the fonts its CommonHTML output loads from beside the script.
    "mathjax@3.2.2": [("package/es5/", ("tex-mml-chtml.js",), "mathjax"),
                      ("package/es5/output/chtml/fonts/woff-v2/", (".woff",), "mathjax/output/chtml/fonts/woff-v2")],
}
# The widget manager finds its fonts next to where require.js thinks its modules live; point those
# module names at the vendor folder so the fonts load from the site, not from a path under each page.
WIDGET_PATHS_JS = """(function () {
  var here = new URL(".", document.currentScript.src).href.replace(/\\/$/, "");
  require.config({paths: {"@jupyter-widgets/html-manager/dist": here, "@jupyter-widgets": here}});
})();
"""

# Runs papermill in a child process so that the kernel's peak memory can be read from its rusage.
_RUNNER = """
import json, resource, sys, papermill
src, dst, params, kernel, cwd = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], sys.argv[5]
try:
    papermill.execute_notebook(src, dst, parameters=params, kernel_name=kernel, cwd=cwd,
                               progress_bar=False, request_save_on_cell_execute=False)
finally:
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("MI_PEAK_KB", peak_kb)
"""


class NotebookRun(NamedTuple):
    """One papermill execution: where the executed copy is, how long it took, the kernel's peak RSS."""

    output: Path
    seconds: float
    peak_mb: float
    ok: bool
    log: str


def notebook_paths() -> list[Path]:
    """Every (solution) notebook of the book, in path order: generated from ``notebooks/<ch>/<ch>.py``
    (`sources.write_notebooks`); learner copies, build outputs and checkpoints excluded."""
    skip = {"_build", ".ipynb_checkpoints", "_vendor"}
    return sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if not skip & set(p.relative_to(NOTEBOOKS).parts)
                  and not p.stem.endswith(LEARNER_SUFFIX))


def kernel_name() -> str:
    """The venv's kernel when it is registered (``make setup`` does it), else the default one."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL if KERNEL in KernelSpecManager().find_kernel_specs() else "python3"


def execute_notebook(src: Path, dst: Path, parameters: dict, timeout: float = 1800,
                     env: dict[str, str] | None = None) -> NotebookRun:
    """Execute ``src`` with papermill into ``dst`` (working directory: the notebook's folder); the kernel
    gets ``env`` as its environment (default: this process's).

    The executed copy keeps only the final state of each text progress bar (`final_bar_states`)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-c", _RUNNER, str(src), str(dst), json.dumps(parameters), kernel_name(), str(src.parent)]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    seconds = time.perf_counter() - start
    peak_kb = next((int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("MI_PEAK_KB")), 0)
    if dst.exists():
        dst.write_text(json.dumps(final_bar_states(json.loads(dst.read_text())), indent=1, ensure_ascii=False) + "\n")
    return NotebookRun(dst, seconds, peak_kb / 1024, proc.returncode == 0, proc.stderr[-6000:])


def executed_path(src: Path, mode: str) -> Path:
    """Where the executed copy of a notebook goes for a mode ('smoke' or 'full')."""
    return BUILD / "executed" / mode / src.relative_to(NOTEBOOKS)


def execute_all(smoke: bool, only: list[str] | None = None) -> list[tuple[Path, NotebookRun]]:
    """Execute every notebook (or those whose folder is in ``only``); the run table covers full runs only."""
    mode = "smoke" if smoke else "full"
    paths = [p for p in notebook_paths() if not only or p.parent.name in only]
    if only and len(paths) != len(set(only)):
        known = [p.parent.name for p in notebook_paths()]
        raise ValueError(f"unknown notebook folders in {only}; expected some of {known}")
    runs = []
    for src in tqdm(paths, desc=f"executing notebooks ({mode})"):
        run = execute_notebook(src, executed_path(src, mode), {"SMOKE": smoke, "STRICT": True})
        if not run.ok:
            raise RuntimeError(f"{src.relative_to(NOTEBOOKS)} failed:\n{run.log}")
        runs.append((src, run))
    if not only:
        write_run_table(runs, BUILD / f"notebook_runs_{mode}.md")
    return runs


def write_run_table(runs: list[tuple[Path, NotebookRun]], path: Path) -> None:
    """A Markdown table of runtime and peak memory per notebook."""
    lines = ["| notebook | seconds | peak MB | ok |", "| --- | ---: | ---: | --- |"]
    for src, run in runs:
        lines.append(f"| {src.relative_to(NOTEBOOKS)} | {run.seconds:.1f} | {run.peak_mb:.0f} | {run.ok} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _resolve_returns(text: str) -> str:
    """Text as a terminal shows it: on each line, what follows the last carriage return."""
    lines = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p]
        lines.append(parts[-1] if parts else "")
    return "\n".join(lines)


def final_bar_states(nb: dict) -> dict:
    """Keep only the last state of each progress bar in a notebook's stream outputs.

    A text bar (tqdm) redraws itself with a carriage return, and the kernel sends each redraw as a
    stream output of its own. JupyterLab draws them in place; a static page would show every one. Here,
    as in JupyterLab, consecutive chunks of one stream join into one output, and a chunk that starts with
    a carriage return overwrites the unfinished last line of its stream's previous chunk in the cell (as
    a terminal would), even with other output in between, and a newline that arrives later finishes that
    line; chunks left empty are dropped.
    """
    for cell in nb["cells"]:
        kept, open_line = [], {}  # stream name -> index in kept of a chunk whose last line is unfinished
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                kept.append(out)
                continue
            text, name = "".join(out["text"]) if isinstance(out["text"], list) else out["text"], out["name"]
            if kept and kept[-1].get("output_type") == "stream" and kept[-1]["name"] == name:
                kept[-1]["text"] = _resolve_returns(kept[-1]["text"] + text)
            else:
                if name in open_line and text[:1] in ("\r", "\n"):
                    prev = kept[open_line[name]]
                    if text[0] == "\r":  # a redraw: the unfinished line is overwritten
                        prev["text"] = prev["text"][: prev["text"].rfind("\n") + 1]
                    else:  # the newline that finishes the unfinished line (a bar's last write)
                        prev["text"], text = prev["text"] + "\n", text[1:]
                kept.append({**out, "text": _resolve_returns(text)})
            if kept[-1]["text"].endswith("\n"):
                open_line.pop(name, None)
            else:
                open_line[name] = len(kept) - 1
        if "outputs" in cell:
            cell["outputs"] = [o for o in kept if o.get("output_type") != "stream" or o["text"]]
    return nb


def hide_injected_parameters(nb: dict) -> dict:
    """Tag papermill's injected-parameters cell ``remove-cell`` so the site shows the notebook's own defaults."""
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    return nb


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def freeze_widget_inputs(nb: dict) -> dict:
    """Draw a saved widget's inputs disabled on the static page, with a note saying why.

    The site has no kernel behind it: a text box or slider drawn from the saved state would look live
    and do nothing. Disabled, with the placeholder "needs JupyterLab", it says what it is.
    """
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for model in state.values():
        if "disabled" in model.get("state", {}):
            model["state"]["disabled"] = True
            model["state"]["description_tooltip"] = "needs JupyterLab: no kernel runs behind this page"
            if "placeholder" in model["state"] or model.get("model_name", "").endswith("TextModel"):
                model["state"]["placeholder"] = "needs JupyterLab"
    return nb


def with_learner_link(nb: dict, learner: str) -> dict:
    """Add, under a chapter's title, a link to download its learner notebook (exercises as stubs, no solutions)."""
    link = {"cell_type": "markdown", "id": "learner-link", "metadata": {},
            "source": f"**Learner notebook:** {{download}}`{learner}` (the exercises as stubs, no solutions; "
                      "run it in JupyterLab with `make lab`)."}
    nb["cells"].insert(1, link)
    return nb


def _wanted(member: tarfile.TarInfo, folder: str, names: tuple[str, ...]) -> bool:
    name = member.name[len(folder):] if member.name.startswith(folder) else ""
    return member.isfile() and "/" not in name and any(name == n or (n[0] == "." and name.endswith(n)) for n in names)


def vendor_js() -> list[Path]:
    """Fetch the site's scripts from npm into ``notebooks/_vendor`` (once per package list; needs the registry)."""
    done, wanted = VENDOR / ".done", "\n".join(VENDOR_PACKAGES)
    if not done.exists() or done.read_text() != wanted:
        shutil.rmtree(VENDOR, ignore_errors=True)
        VENDOR.mkdir()
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", *VENDOR_PACKAGES, "--silent", "--pack-destination", tmp],
                           check=True, capture_output=True)
            for tarball in Path(tmp).glob("*.tgz"):
                with tarfile.open(tarball) as tar:
                    for member in tar.getmembers():
                        for folder, names, target in (f for files in VENDOR_PACKAGES.values() for f in files):
                            if _wanted(member, folder, names):
                                out = VENDOR / target / Path(member.name).name
                                out.parent.mkdir(parents=True, exist_ok=True)
                                out.write_bytes(tar.extractfile(member).read())
        done.write_text(wanted)
    return sorted(p for p in VENDOR.rglob("*") if p.is_file() and p.name != ".done")


def build_site(mode: str) -> Path:
    """Build the HTML site from the executed copies of ``mode``; returns the path of index.html."""
    stage = BUILD / "stage"
    if stage.exists():
        shutil.rmtree(stage)
    ignore = shutil.ignore_patterns("_build", "_vendor", ".ipynb_checkpoints", "*.ipynb", "*.py")  # sources: as executed
    shutil.copytree(NOTEBOOKS, stage, ignore=ignore)
    done = VENDOR / ".done"
    if not done.exists() or done.read_text() != "\n".join(VENDOR_PACKAGES):
        raise FileNotFoundError(f"{VENDOR} is missing or out of date: run `make setup` (python -m mi_widgets.book "
                                "--vendor) to fetch the site's scripts from npm")
    # Not under _static: Jupyter Book would load every script there on every page.
    site_vendor = stage / "_site_extra" / "vendor"
    shutil.copytree(VENDOR, site_vendor, ignore=shutil.ignore_patterns(".done"))
    (site_vendor / "widget-paths.js").write_text(WIDGET_PATHS_JS)
    shutil.copy(plotly_js_path(), site_vendor / "plotly.min.js")  # from the installed plotly package
    for src in notebook_paths():
        executed = executed_path(src, mode)
        if not executed.exists():
            raise FileNotFoundError(f"{executed} is missing: execute the notebooks first")
        target = stage / src.relative_to(NOTEBOOKS)
        target.parent.mkdir(parents=True, exist_ok=True)
        page = freeze_widget_inputs(hide_injected_parameters(final_bar_states(json.loads(executed.read_text()))))
        target.write_text(json.dumps(with_learner_link(page, learner_path(src).name)))
        shutil.copy(learner_path(src), target.parent / learner_path(src).name)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jupyter_book), "build", str(stage), "--path-output", str(NOTEBOOKS), "--all", "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    for page in (BUILD / "html").rglob("*.html"):
        dedupe_inline_scripts(page)
    return BUILD / "html" / "index.html"


def dedupe_inline_scripts(page: Path) -> None:
    """Drop repeated identical one-line inline <script> elements from a built page.

    Jupyter Book 1 sets up sphinx-thebe and sphinx-togglebutton twice, so each page declares
    ``const THEBE_JS_URL`` twice and the browser reports a SyntaxError; the first copy is enough.
    """
    seen, kept = set(), []
    for line in page.read_text(encoding="utf-8").splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("<script>") and stripped.endswith("</script>"):
            if stripped in seen:
                continue
            seen.add(stripped)
        kept.append(line)
    page.write_text("".join(kept), encoding="utf-8")


def main() -> None:
    """Command line: ``python -m mi_widgets.book [--execute] [--smoke] [--only ...] [--notebooks] [--vendor]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="execute every notebook before building")
    parser.add_argument("--smoke", action="store_true", help="smoke-mode parameters (seconds per notebook)")
    parser.add_argument("--only", nargs="+", metavar="FOLDER", help="with --execute: only these notebooks "
                        "(folder names, e.g. 01_models); the others keep their last executed copy")
    parser.add_argument("--vendor", action="store_true", help="only fetch the site's JavaScript from npm")
    parser.add_argument("--notebooks", action="store_true", help="only write the solution and learner notebooks "
                        "from their text sources")
    args = parser.parse_args()
    if args.vendor:
        print("\n".join(str(p) for p in vendor_js()))
        return
    written = write_notebooks(NOTEBOOKS)
    if args.notebooks:
        print("\n".join(str(p.relative_to(ROOT)) for p in written))
        return
    mode = "smoke" if args.smoke else "full"
    if args.execute:
        execute_all(args.smoke, args.only)
    index = build_site(mode)
    print(f"built {index}")

