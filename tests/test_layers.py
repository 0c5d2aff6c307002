"""Imports run down the layers: base -> organisms -> dictionaries -> analysis -> widgets -> exercises -> book, no cycles.

The layer of a module is the first part of its name under ``mi_widgets``; the base is the modules at the
top (`models`, `activations`, `logprobs`, `heads`, `progress`). A module may import its own layer or a
lower one, never a higher one, and never the facade ``mi_widgets`` itself (that would import every
layer). The facade (``mi_widgets/__init__.py``) is the one module above them all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mi_widgets

PACKAGE = Path(mi_widgets.__file__).parent
LAYERS = ["base", "organisms", "dictionaries", "analysis", "widgets", "exercises", "book"]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    """The layer of a module name, None for the facade; a new top-level subpackage must be placed."""
    parts = module.split(".")
    if parts == [parts[0]]:
        return None
    if parts[1] in LAYERS:
        return parts[1]
    return "base"


def imports_of(path: Path, module: str, root: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of the package's own modules, at any depth in the file."""
    found, top = [], root.name
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == top]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != top:
                continue
            for alias in node.names:  # `from pkg import module` imports the module
                sub = root.parent / f"{base}.{alias.name}".replace(".", "/")
                is_module = sub.with_suffix(".py").exists() or sub.is_dir()
                found.append((node.lineno, f"{base}.{alias.name}" if is_module else base))
    return found


def import_graph(root: Path) -> dict[str, list[tuple[int, str]]]:
    return {module_name(p, root): imports_of(p, module_name(p, root), root) for p in sorted(root.rglob("*.py"))}


def layer_violations(root: Path) -> list[str]:
    """Every import that goes up the layers or to the facade, as readable lines."""
    bad = []
    for module, imported in import_graph(root).items():
        here = layer_of(module)
        if here is None:
            continue
        for line, target in imported:
            there = layer_of(target)
            if there is None:
                bad.append(f"{module}:{line} imports the facade {target} (import the module it needs)")
            elif LAYERS.index(there) > LAYERS.index(here):
                bad.append(f"{module}:{line} imports {target}: {here} may not import the higher layer {there}")
    return bad


def import_cycles(root: Path) -> list[list[str]]:
    """Cycles among the package's modules (a package import counts as an import of its __init__)."""
    graph = {m: sorted({t for _, t in imps if t != m}) for m, imps in import_graph(root).items()}
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    return cycles


def test_imports_run_down_the_layers():
    assert layer_violations(PACKAGE) == []


def test_no_import_cycles():
    assert import_cycles(PACKAGE) == []


def test_every_subpackage_is_a_known_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subpackages <= set(LAYERS), f"place {subpackages - set(LAYERS)} in LAYERS"


def test_every_layer_says_what_it_may_import():
    for layer in LAYERS[1:]:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
        assert "import" in doc, f"mi_widgets/{layer}/__init__.py should say which layers it may import"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "mi_widgets"
    for name, text in {"__init__.py": "", "models.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for layer in ("organisms", "analysis"):
        (root / layer).mkdir(parents=True, exist_ok=True)
        (root / layer / "__init__.py").touch()
    return root


def test_checker_catches_a_back_import(tmp_path):
    """The checks above can fail: a lower layer importing a higher one, lazily or relatively, is caught."""
    root = _tree(tmp_path, {
        "organisms/stories.py": "def f():\n    from mi_widgets.analysis.lens import logit_lens\n",
        "organisms/corpus.py": "from ..analysis import lens\n",
        "organisms/lexicon.py": "import mi_widgets\n",
        "analysis/lens.py": "from mi_widgets.organisms import stories\nfrom mi_widgets.models import x\n",
    })
    bad = layer_violations(root)
    assert len(bad) == 3, bad
    assert any("organisms.stories:2 imports mi_widgets.analysis.lens" in b for b in bad), bad
    assert any("organisms.corpus:1" in b and "mi_widgets.analysis.lens" in b for b in bad), bad
    assert any("facade" in b for b in bad), bad


def test_checker_catches_a_cycle_within_a_layer(tmp_path):
    root = _tree(tmp_path, {
        "organisms/cards.py": "from mi_widgets.organisms.suite import SUITE\n",
        "organisms/suite.py": "def main():\n    from mi_widgets.organisms import cards\n",
    })
    assert layer_violations(root) == []
    assert [sorted(set(c)) for c in import_cycles(root)] == [["mi_widgets.organisms.cards", "mi_widgets.organisms.suite"]]
