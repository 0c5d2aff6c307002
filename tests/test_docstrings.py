"""Every public module, class, function and method of mi_widgets says what it does (the API reference page is
built from these docstrings)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import mi_widgets


def public_objects():
    for info in pkgutil.walk_packages(mi_widgets.__path__, "mi_widgets."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        yield info.name, module
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{info.name}.{name}", obj
                if inspect.isclass(obj):
                    for attr, value in vars(obj).items():
                        if not attr.startswith("_") and inspect.isfunction(value):
                            yield f"{info.name}.{name}.{attr}", value


def test_every_public_name_has_a_docstring():
    names = [name for name, _ in public_objects()]
    missing = [name for name, obj in public_objects() if not (inspect.getdoc(obj) or "").strip()
               or (inspect.isclass(obj) and obj.__doc__ is None)]
    assert len(names) > 200, "the walk found too few names: has the package layout changed?"
    assert not missing, f"{len(missing)} public names without a docstring: {missing[:10]}"


SUBSTITUTION = re.compile(r"(?<![|\w])\|[^|\s`][^|\n`]*\|(?![|\w])")
"""``|text|`` outside literals: reStructuredText reads it as a substitution, and the API page gets a dangling link."""


def test_no_docstring_holds_a_stray_substitution():
    """``|x|`` for an absolute value is a substitution to reST (write "absolute value", or put it in ``literals``);
    this was caught twice only by the site's link check, after a full build."""
    found = []
    for name, obj in public_objects():
        doc = re.sub(r"``.*?``", "", inspect.getdoc(obj) or "", flags=re.S)  # literals are safe
        found += [f"{name}: {m.group()}" for m in SUBSTITUTION.finditer(doc)]
    assert not found, f"reST substitutions in docstrings: {found}"
    assert SUBSTITUTION.search("sum(|eigenvalues|)") and not SUBSTITUTION.search("a || b, x | y")


def has_example(doc: str) -> bool:
    """An indented block of two or more lines after a blank line: the two-line usage example."""
    blocks = [b.split("\n") for b in doc.split("\n\n")]
    return any(len(b) >= 2 and all(line.startswith("    ") for line in b) for b in blocks)


def public_face():
    """The names ``import mi_widgets as mw`` gives, and the public methods of its classes."""
    for name in mi_widgets.__all__:
        obj = getattr(mi_widgets, name)
        yield name, obj
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if not attr.startswith("_") and inspect.isfunction(value) or isinstance(value, classmethod):
                    yield f"{name}.{attr}", getattr(obj, attr)


def test_the_public_face_has_usage_examples():
    """Every name of ``mw.*`` (and its classes' methods) shows how it is called, as the API page shows it."""
    names = [name for name, _ in public_face()]
    assert len(names) > 20
    missing = [name for name, obj in public_face() if not has_example(inspect.getdoc(obj) or "")]
    assert not missing, f"no indented usage example in the docstrings of: {missing}"


def test_the_configuration_fields_are_documented():
    """DictConfig's and TrainSettings' fields each carry a docstring (autodoc shows them on the API page)."""
    from dataclasses import fields

    from sphinx.pycode import ModuleAnalyzer

    for cls in (mi_widgets.DictConfig, mi_widgets.TrainSettings):
        documented = {attr for (owner, attr) in ModuleAnalyzer.for_module(cls.__module__).find_attr_docs()
                      if owner == cls.__name__}
        missing = [f.name for f in fields(cls) if f.name not in documented]
        assert not missing, f"{cls.__name__} fields without a docstring: {missing}"


def test_the_example_detector_needs_an_indented_block():
    assert has_example("Do a thing.\n\n    x = f(1)\n    x.shape   # [3]")
    assert not has_example("Do a thing.\n\nArgs:\n    x: a number.")
    assert not has_example("Do a thing.\n\n    only_one_line()")


def test_every_chapter_method_module_is_on_the_api_page():
    """A module of mi_widgets.analysis holds a chapter's method: the API reference page must show it."""
    from mi_widgets.book.build import NOTEBOOKS

    page = (NOTEBOOKS / "api.md").read_text()
    modules = [info.name for info in pkgutil.iter_modules(importlib.import_module("mi_widgets.analysis").__path__,
                                                          "mi_widgets.analysis.")]
    assert modules, "mi_widgets.analysis has no modules: has the package layout changed?"
    missing = [m for m in modules if f".. automodule:: {m}\n" not in page]
    assert not missing, f"notebooks/api.md does not show {missing}"
