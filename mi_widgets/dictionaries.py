"""The dictionaries shipped in ``data/dictionaries/<model>/``: list and load them.

``python -m mi_widgets.train_dictionaries`` (part of ``make models``) trains them; the notebook
``notebooks/10_dictionaries`` shows what they are and how good.
"""

from __future__ import annotations

from pathlib import Path

from mi_widgets.models import data_dir
from mi_widgets.sae import Dictionary

MODEL = "stories-gelu-4l"
"""The bundled model the shipped dictionaries belong to."""


def dictionaries_dir(model: str = MODEL) -> Path:
    """Where ``model``'s dictionaries are kept."""
    return data_dir() / "dictionaries" / model


def bundled_dictionaries(model: str = MODEL) -> list[str]:
    """Names of the dictionaries shipped for ``model``."""
    root = dictionaries_dir(model)
    return sorted(p.name for p in root.iterdir() if (p / "config.json").exists()) if root.exists() else []


def load_dictionary(name: str, model: str = MODEL) -> Dictionary:
    """A shipped dictionary by name (e.g. ``"resid2"``, ``"final"``, ``"mlp1-tc"``)."""
    names = bundled_dictionaries(model)
    if name not in names:
        raise KeyError(f"no dictionary {name!r} for {model!r}; shipped: {', '.join(names) or 'none (run make models)'}")
    return Dictionary.load(dictionaries_dir(model) / name)
