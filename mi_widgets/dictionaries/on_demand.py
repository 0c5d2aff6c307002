"""Dictionaries for any model: the shipped one when there is one, else the same recipe trained on the model's
own activations and cached.

    sae = dictionary_for(model, "resid2")               # shipped for stories-gelu-4l; trained for others
    sae = dictionary_for(model, "mlp1-tc", smoke=True)  # a small budget: seconds, for a quick look

A bundled model with shipped dictionaries always gets those. Any other model (a TransformerLens name
such as ``tiny-stories-1M``, or another bundled model) gets the shipped recipe of that name
(`spec_from_name`, as `mi_widgets.dictionaries.shipped.shipped_specs` trained them): the same hook point, kind, k, learning rate and seed,
a width scaled with ``d_model`` (16 latents per dimension, as shipped), trained on the book's generated
stories tokenised by the model's own tokenizer. The result is cached in a user folder keyed by the
model's name, a hash of its weights and the recipe, so the next run reuses it; an entry whose weights
no longer match their checksum is retrained, never used. Introduced for ``notebooks/10_dictionaries``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import asdict, fields
from pathlib import Path

from mi_widgets.dictionaries.dictionary import Dictionary
from mi_widgets.dictionaries.shipped import (
    HARVEST_TOKENS,
    TRAIN_TOKENS,
    DictSpec,
    bundled_dictionaries,
    fit,
    load_dictionary,
)
from mi_widgets.models import file_sha256, weights_digest
from mi_widgets.organisms.corpus import row_length

SHIPPED_D_MODEL = 128
"""``d_model`` of the model the shipped widths were chosen for; a recipe's width scales from it."""
SMOKE_HARVEST_TOKENS, SMOKE_TRAIN_TOKENS = 4_096, 20_000
EVAL_ROWS, SMOKE_EVAL_ROWS = 8, 2
"""Held-out rows of ``n_ctx`` tokens behind a trained dictionary's metrics, its spliced-in loss included."""
RECIPE_FORMAT = 2
"""Bump when the recipe changes meaning, so that old cache entries are not reused."""


def cache_root() -> Path:
    """Where trained dictionaries are cached: ``$MI_WIDGETS_CACHE``, else ``$XDG_CACHE_HOME/mi_widgets``
    (``~/.cache/mi_widgets``), with a ``dictionaries/`` folder inside."""
    if os.environ.get("MI_WIDGETS_CACHE"):
        return Path(os.environ["MI_WIDGETS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mi_widgets"


def model_name(model) -> str:
    """A bundled model's name, else TransformerLens's ``cfg.model_name``."""
    return getattr(model, "bundled_name", None) or model.cfg.model_name


def spec_from_name(name: str) -> DictSpec:
    """The recipe a dictionary's name stands for, as the shipped names spell it.

    ``resid{l}`` (TopK SAE on ``blocks.{l}.hook_resid_post``, width 2048), ``resid{l}-w{width}`` and
    ``resid{l}-w{width}-seed{s}``, ``final`` (``ln_final.hook_normalized``, width 4096) and ``mlp{l}-tc``
    (a transcoder from ``blocks.{l}.ln2.hook_normalized`` to ``blocks.{l}.hook_mlp_out`` with a skip path).
    Every shipped name parses to the spec it was trained with (a test checks).

        spec_from_name("resid2-w512").width   # 512
    """
    if name == "final":
        return DictSpec("final", "ln_final.hook_normalized", width=4096)
    if m := re.fullmatch(r"resid(\d+)(?:-w(\d+))?(?:-seed(\d+))?", name):
        return DictSpec(name, f"blocks.{m[1]}.hook_resid_post", width=int(m[2] or 2048), seed=int(m[3] or 0))
    if m := re.fullmatch(r"mlp(\d+)-tc", name):
        return DictSpec(name, f"blocks.{m[1]}.ln2.hook_normalized", f"blocks.{m[1]}.hook_mlp_out", skip=True)
    raise KeyError(f"no dictionary recipe {name!r}: names are resid<layer>, resid<layer>-w<width>, "
                   "resid<layer>-w<width>-seed<seed>, final and mlp<layer>-tc")


def recipe(model, name: str, smoke: bool = False) -> dict:
    """What training dictionary ``name`` for ``model`` means: hook points, sizes, budget, text (JSON-able).

    Raises ``KeyError`` for a name no recipe has, and a clear ``ValueError`` for a layer the model does
    not have or a hook point its architecture lacks.

        recipe(model, "resid1")["hook_in"]   # 'blocks.1.hook_resid_post'
    """
    spec = spec_from_name(name)
    layer = re.search(r"blocks\.(\d+)\.", spec.hook_in)
    if layer and int(layer[1]) >= model.cfg.n_layers:
        raise ValueError(f"{model_name(model)} has {model.cfg.n_layers} layers (0..{model.cfg.n_layers - 1}), "
                         f"so it has no layer {layer[1]} for {name!r}")
    for hook in (spec.hook_in, spec.hook_out):
        if hook and hook not in model.hook_dict:
            raise ValueError(f"{model_name(model)} has no hook point {hook!r}, which recipe {name!r} reads "
                             "(its architecture differs: an attention-only model, for one, has no MLP hooks)")
    width = spec.width * model.cfg.d_model // SHIPPED_D_MODEL
    if name == "final":  # the k and learning rate the shipped final's sweep chose (the sweep is not rerun)
        chosen = load_dictionary("final")
        spec.k, spec.lr = chosen.cfg.k, chosen.meta["metrics"]["lr"]
    return {"format": RECIPE_FORMAT, **asdict(spec), "width": width,
            "harvest_tokens": SMOKE_HARVEST_TOKENS if smoke else HARVEST_TOKENS,
            "train_tokens": SMOKE_TRAIN_TOKENS if smoke else TRAIN_TOKENS,
            "eval_rows": SMOKE_EVAL_ROWS if smoke else EVAL_ROWS,
            "n_ctx": row_length(model), "text": "generated stories, train split, seed 1"}


def cache_folder(model, name: str, rec: dict, root: Path | None = None) -> Path:
    """The cache entry of one recipe for one model: named by the model, the recipe, a hash of both and of the weights."""
    key = hashlib.sha256(json.dumps([weights_digest(model), rec], sort_keys=True).encode()).hexdigest()[:20]
    safe = re.sub(r"[^\w.-]", "_", model_name(model))
    return (root or cache_root()) / "dictionaries" / safe / f"{name}-{key}"


def _checksum_ok(folder: Path) -> bool:
    """Whether ``folder`` holds a whole entry: weights that match the checksum written after them."""
    try:
        check = json.loads((folder / "checksum.json").read_text())["sha256"]
        return check == file_sha256(folder / "dictionary.safetensors")
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _read_entry(folder: Path) -> Dictionary | None:
    """The cached dictionary, or None if there is none; a damaged entry is reported and ignored."""
    if not (folder / "checksum.json").exists():
        return None
    try:
        if not _checksum_ok(folder):
            raise ValueError("the weights do not match their checksum")
        return Dictionary.load(folder)
    except Exception as e:  # a truncated, edited or half-written entry: never use it
        warnings.warn(f"the cached dictionary in {folder} is damaged ({e}); training it again", stacklevel=3)
        return None


def _write_entry(folder: Path, sae: Dictionary, extra: dict) -> None:
    """Save ``sae`` as the cache entry ``folder``, all at once: written beside it, then renamed into place, so
    that a notebook reading the cache meanwhile (another kernel) never sees half an entry. If another
    kernel finished the same entry first, its copy stays (the recipe and the weights are the same)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    sae.save(staging, extra=extra)
    (staging / "checksum.json").write_text(json.dumps({"sha256": file_sha256(staging / "dictionary.safetensors")}))
    if folder.exists() and not _checksum_ok(folder):
        shutil.rmtree(folder)  # the damaged entry this one replaces
    try:
        staging.rename(folder)
    except OSError:  # the other kernel's entry is in place
        shutil.rmtree(staging, ignore_errors=True)


def train_from_recipe(model, rec: dict, progress: bool = True) -> tuple[Dictionary, dict]:
    """Harvest the recipe's activations from ``model`` and train its dictionary; returns it and its metrics."""
    from mi_widgets.activations import harvest_activations
    from mi_widgets.organisms.corpus import story_rows

    n_ctx = rec["n_ctx"]
    rows = story_rows(model.tokenizer, rec["harvest_tokens"] // (n_ctx - 1) + 1, n_ctx, seed=1, split="train")
    held_out = story_rows(model.tokenizer, rec["eval_rows"], n_ctx, seed=2, split="val")
    hooks = [h for h in (rec["hook_in"], rec["hook_out"]) if h]
    acts = harvest_activations(model, hooks, rows, progress=progress)
    spec = DictSpec(**{f.name: rec[f.name] for f in fields(DictSpec)})
    return fit(spec, acts, model, harvest_activations(model, hooks, held_out, progress=False), held_out,
               rec["train_tokens"], model_name=model_name(model),
               settings={"batch_size": min(4096, len(acts[rec["hook_in"]])), "progress": progress},
               device=model.cfg.device)  # on the model's device (a GPU when DEVICE is one)


def dictionary_for(model, name: str, *, smoke: bool = False, cache_dir: str | Path | None = None,
                   progress: bool = True) -> Dictionary:
    """Dictionary ``name`` for ``model``: shipped if it ships for this bundled model, else trained and cached.

    Args:
        model: a loaded HookedTransformer (``mw.load_model``).
        name: a shipped name such as ``"resid2"``, ``"final"`` or ``"mlp1-tc"``; for another model the
            layer in the name must exist in it.
        smoke: train on a small budget (seconds), as a notebook's smoke mode does; the shipped ones
            are used whatever ``smoke`` says.
        cache_dir: where trained dictionaries are kept (default `cache_root`).

    The returned dictionary's ``meta["on_demand"]`` says whether it was trained now or read from the
    cache, and holds the recipe.

        sae = dictionary_for(mw.load_model("tiny-stories-1M"), "resid1")   # trained once, then cached
        sae.cfg.hook_in                                                    # 'blocks.1.hook_resid_post'
    """
    bundled = getattr(model, "bundled_name", None)
    if bundled and name in bundled_dictionaries(bundled):
        sae = load_dictionary(name, bundled)
        if sae.cfg.d_in != model.cfg.d_model and sae.cfg.hook_in.endswith("resid_post"):
            raise ValueError(f"the shipped {name!r} reads width {sae.cfg.d_in}, but {bundled} has d_model "
                             f"{model.cfg.d_model}: the files in data/ do not belong together")
        return sae
    rec = recipe(model, name, smoke)
    folder = cache_folder(model, name, rec, Path(cache_dir) if cache_dir else None)
    sae = _read_entry(folder)
    if sae is not None:
        sae.meta["on_demand"] = {"trained_now": False, "recipe": rec, "folder": str(folder)}
        return sae
    print(f"{name} is not shipped for {model_name(model)}: training it with the shipped recipe "
          f"({rec['harvest_tokens']:,} tokens harvested, {rec['train_tokens']:,} trained on, width {rec['width']}); "
          f"it is cached in {folder}")
    sae, metrics = train_from_recipe(model, rec, progress)
    _write_entry(folder, sae, {"metrics": metrics, "recipe": rec})
    sae = Dictionary.load(folder)
    sae.meta["on_demand"] = {"trained_now": True, "recipe": rec, "folder": str(folder)}
    return sae

