"""The catalog of seed ideas: its counts match its tables, and every notebook it links exists and is in the book."""

from __future__ import annotations

import re
from collections import Counter

from mi_widgets.book.build import NOTEBOOKS, notebook_paths

CATALOG = NOTEBOOKS / "catalog.md"
STATUSES = ("notebook", "planned", "out of scope")


def _rows_by_seed() -> dict[str, list[str]]:
    """Status cell of every table row, per seed section ('001' .. '004')."""
    rows: dict[str, list[str]] = {}
    seed = None
    for line in CATALOG.read_text().splitlines():
        if m := re.match(r"## (\d{3}):", line):
            seed = m.group(1)
        elif line.startswith("## "):
            seed = None
        elif seed and line.startswith("|") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            status = next((c for c in cells if c.startswith(STATUSES)), None)
            if status is not None:
                rows.setdefault(seed, []).append(status)
    return rows


def _count(statuses: list[str]) -> Counter:
    return Counter(next(s for s in STATUSES if status.startswith(s)) for status in statuses)


def test_counts_section_matches_the_tables():
    rows = _rows_by_seed()
    assert sorted(rows) == ["001", "002", "003", "004"]
    counts = dict(re.findall(r"- \*\*(\d{3})\*\* \(([^\n]*)", CATALOG.read_text()))
    for seed, statuses in rows.items():
        n = _count(statuses)
        line = counts[seed]
        numbers = [int(x) for x in re.findall(r"(\d+) (?:notebook|planned|out)", line)]
        assert numbers == [n["notebook"], n["planned"], n["out of scope"]], (seed, line, n)


def test_every_linked_notebook_exists_and_every_notebook_is_linked():
    text = CATALOG.read_text()
    linked = set(re.findall(r"\]\(([\w/]+\.ipynb)\)", text))
    missing = [p for p in linked if not (NOTEBOOKS / p).exists()]
    assert not missing, f"the catalog links notebooks that do not exist: {missing}"
    book = {str(p.relative_to(NOTEBOOKS)) for p in notebook_paths()} - {"00_start/00_start.ipynb"}
    assert book <= linked, f"notebooks the catalog never links: {sorted(book - linked)}"
