"""The pins in requirements.txt and environment.yml agree, and torch is pinned (an unpinned torch is a CUDA build)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#")[0].strip().lstrip("- ").strip()
        if re.match(r"^[A-Za-z0-9_.\-]+(==[^\s]+)?$", line):
            name, _, version = line.partition("==")
            found[name.lower()] = version
    return found


def test_conda_and_pip_pins_agree():
    pip = _pins((ROOT / "requirements.txt").read_text().splitlines())
    yml = (ROOT / "environment.yml").read_text().split("- pip:")[1]
    conda = _pins(yml.splitlines())
    assert pip == conda


def test_every_requirement_is_pinned():
    pip = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert [name for name, version in pip.items() if not version] == []


def test_torch_is_pinned_first():
    pip = [l for l in (ROOT / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert pip[0] == "torch==2.13.0"
    assert "pip install --quiet torch==2.13.0" in (ROOT / "Makefile").read_text()
