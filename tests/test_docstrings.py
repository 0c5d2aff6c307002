"""Every public module, class, function and method of mi_widgets says what it does (the API reference page is
built from these docstrings)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

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
