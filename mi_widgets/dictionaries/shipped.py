"""The dictionaries shipped in ``data/dictionaries/<model>/``: what ships, how to load them, how to retrain them.

::

    load_dictionary("resid2")                                   # a shipped dictionary by name
    python -m mi_widgets.dictionaries.shipped                   # retrain every one (part of ``make models``)
    python -m mi_widgets.dictionaries.shipped --scale 0.05      # a quick run with 5% of the tokens
    python -m mi_widgets.dictionaries.shipped --remeasure       # only the spliced-in losses and the cards

What ships, in ``data/dictionaries/<model>/<name>/`` (weights, config with metrics, card):

- ``resid0`` .. ``resid3``: TopK SAEs (width 2048, k 16) on the residual stream after each block;
- ``resid2-w512`` and ``resid2-w4096``: the same site at two more widths, for feature splitting, and
  ``resid2-w512-seed1``, the narrow one from another seed (how much splitting is training noise);
- ``final``: an SAE on the normalised residual right before the unembedding, its k and learning
  rate chosen by a sweep on the spliced-in loss, the quantity that matters right before the logits
  (on the shipped sweep FVU ranks the runs almost the same way: notebooks/40_lens); the sweep is saved with it;
- ``mlp0-tc`` .. ``mlp3-tc``: TopK transcoders (MLP input -> MLP output) with a linear skip path.

Plus ``frontier.json``: L0 and FVU over k for ``resid2`` (the frontier the cards report).
The notebook ``notebooks/10_dictionaries`` shows what they are and how good.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mi_widgets.dictionaries.dictionary import Dictionary
from mi_widgets.models import data_dir

MODEL = "stories-gelu-4l"
"""The bundled model the shipped dictionaries belong to."""

HARVEST_TOKENS = 1_000_000
TRAIN_TOKENS = 2_000_000
EVAL_ROWS = 64
"""Held-out rows for the spliced-in loss."""
DEAD_ROWS = 1024
"""Held-out rows (261k tokens) for FVU, L0 and dead latents. On 65k tokens, 74% of the transcoder
mlp1-tc's "dead" latents (18.5% of all) fired on training text: rare, not dead. A latent counts as
dead if it never fires on these tokens."""
FRONTIER_KS = (4, 8, 16, 32, 64)
FINAL_SWEEP = [dict(k=k, lr=lr) for k in (8, 16, 32) for lr in (1e-3, 3e-3)]


def dictionaries_dir(model: str = MODEL) -> Path:
    """Where ``model``'s dictionaries are kept."""
    return data_dir() / "dictionaries" / model


def bundled_dictionaries(model: str = MODEL) -> list[str]:
    """Names of the dictionaries shipped for ``model`` (a bundled model's name).

    For example:

        bundled_dictionaries()   # ['final', 'mlp1-tc', 'resid0', ...] for stories-gelu-4l
        sae = load_dictionary(bundled_dictionaries()[0])
    """
    root = dictionaries_dir(model)
    return sorted(p.name for p in root.iterdir() if (p / "config.json").exists()) if root.exists() else []


def load_dictionary(name: str, model: str = MODEL) -> Dictionary:
    """A shipped dictionary by name (e.g. ``"resid2"``, ``"final"``, ``"mlp1-tc"``), for the bundled ``model``.

    Its ``cfg`` names the hook points it reads (``hook_in``) and, for a transcoder, writes
    (``hook_out``); ``meta["metrics"]`` holds the numbers on its card (FVU, L0, dead latents, loss).
    An unknown name raises ``KeyError`` listing the shipped ones.

        sae = load_dictionary("resid2")   # a TopK SAE on blocks.2.hook_resid_post
        codes = sae.encode(acts)          # acts [n, d_model] -> codes [n, width]
    """
    names = bundled_dictionaries(model)
    if name in names:
        return Dictionary.load(dictionaries_dir(model) / name)
    if names:
        raise KeyError(f"no dictionary {name!r} for {model!r}; shipped for it: {', '.join(names)}")
    root = data_dir() / "dictionaries"
    shipped = sorted(p.name for p in root.iterdir() if bundled_dictionaries(p.name)) if root.exists() else []
    raise KeyError(
        f"no dictionaries are shipped for {model!r}; they ship for {', '.join(shipped) or 'no model'} "
        f"(`mw.bundled_dictionaries({MODEL!r})` lists them). To make one for {model!r}, harvest its "
        "activations with `mw.harvest_activations` and fit a `mw.Dictionary` with `mw.train_dictionary` "
        "(notebooks/10_dictionaries shows how).")


@dataclass
class DictSpec:
    """One shipped dictionary: where it reads, how big it is, how it trains."""

    name: str
    hook_in: str
    hook_out: str = ""
    width: int = 2048
    k: int = 16
    lr: float = 2e-3
    skip: bool = False
    seed: int = 0
    settings: dict = field(default_factory=dict)
    """Overrides of `TrainSettings` for this dictionary."""


def shipped_specs(n_layers: int) -> list[DictSpec]:
    """The dictionaries `make models` trains (the final-site SAE's k and lr come from its sweep)."""
    mid = n_layers // 2
    specs = [DictSpec(f"resid{l}", f"blocks.{l}.hook_resid_post") for l in range(n_layers)]
    specs += [DictSpec(f"resid{mid}-w512", f"blocks.{mid}.hook_resid_post", width=512)]
    # The widest is 4096 (4.4% dead on the 65k held-out tokens). At 8192, 19-23% of the latents never
    # fired there, whatever the revival: the auxiliary loss (dead after 1M or 200k tokens), restarts on
    # badly explained rows, or 3M distinct training tokens (15% dead even on 255k tokens).
    specs += [DictSpec(f"resid{mid}-w4096", f"blocks.{mid}.hook_resid_post", width=4096)]
    # The narrow width again from another seed: splitting that also shows between two seeds of one
    # width is training noise (notebooks/31_splitting).
    specs += [DictSpec(f"resid{mid}-w512-seed1", f"blocks.{mid}.hook_resid_post", width=512, seed=1)]
    specs += [DictSpec("final", "ln_final.hook_normalized", width=4096)]
    specs += [DictSpec(f"mlp{l}-tc", f"blocks.{l}.ln2.hook_normalized", f"blocks.{l}.hook_mlp_out", skip=True)
              for l in range(n_layers)]
    return specs


def fit(spec: DictSpec, acts: dict, model, eval_acts: dict, eval_tokens, tokens: int, seed: int | None = None,
        width: int | None = None, k: int | None = None, lr: float | None = None, model_name: str = MODEL,
        settings: dict | None = None, device: str = "cpu"):
    """Train one dictionary on harvested activations; returns it with its measured metrics.

    ``eval_tokens`` None skips the spliced-in loss; ``settings`` overrides `TrainSettings` fields
    (after the spec's own overrides). The dictionary trains on ``device`` and comes back on the CPU.
    """
    from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
    from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_dictionary
    from mi_widgets.dictionaries.metrics import reconstruction_stats, splice_stats

    x = acts[spec.hook_in]
    y = acts[spec.hook_out] if spec.hook_out else None
    cfg = DictConfig(d_in=x.shape[1], width=width or spec.width, k=k or spec.k,
                     d_out=None if y is None else y.shape[1], skip=spec.skip, hook_in=spec.hook_in,
                     hook_out=spec.hook_out, model=model_name)
    seed = spec.seed if seed is None else seed
    sae = Dictionary(cfg, seed=seed).to(device)  # initialised on the CPU: the same start on any device
    train = TrainSettings(**{"tokens": tokens, "lr": lr or spec.lr, "seed": seed, **spec.settings, **(settings or {})})
    result = train_dictionary(sae, x, train, y)
    recon = reconstruction_stats(sae, eval_acts[spec.hook_in], eval_acts[spec.hook_out] if spec.hook_out else None)
    splice = splice_stats(model, sae, eval_tokens).as_dict() if eval_tokens is not None else {}
    metrics = {**recon.as_dict(), **splice, "train_tokens": result.tokens,
               "train_seconds": round(result.seconds, 1), "tokens_per_second": round(result.tokens_per_second),
               "lr": train.lr}
    return sae.cpu(), metrics


def card_text(name: str, sae, metrics: dict, note: str = "") -> str:
    """The Markdown model card of a shipped dictionary: what it reads, its size and its measured metrics."""
    cfg = sae.cfg
    kind = "transcoder (MLP input -> MLP output" + (", with a linear skip path)" if cfg.skip else ")") \
        if cfg.is_transcoder else "sparse autoencoder"
    rows = [("model", cfg.model), ("reads", f"`{cfg.hook_in}`"), ("writes", f"`{cfg.hook_out or cfg.hook_in}`"),
            ("width / k", f"{cfg.width} / {cfg.k}"), ("FVU", f"{metrics['fvu']:.3f}"), ("L0", f"{metrics['l0']:.1f}"),
            ("dead latents", f"{metrics['dead_fraction']:.1%}"), ("dense latents (>10% of tokens)",
                                                                  f"{metrics['dense_fraction']:.1%}"),
            ("loss clean / spliced", f"{metrics['loss_clean']:.3f} / {metrics['loss_spliced']:.3f}"),
            ("loss increase spliced in", f"{metrics['loss_increase']:.3f} nats, {metrics['relative_increase']:.1%} "
                                         "of the clean loss"),
            ("loss mean- / zero-ablated", f"{metrics['loss_mean']:.3f} / {metrics['loss_zero']:.3f}"),
            ("loss recovered against mean / zero ablation",
             f"{metrics['loss_recovered_mean']:.1%} / {metrics['loss_recovered']:.1%}"),
            ("training", f"{metrics['train_tokens']:,} tokens, {metrics['train_seconds']:.0f} s, lr {metrics['lr']}")]
    table = "\n".join(f"| {a} | {b} |" for a, b in rows)
    return f"""# {name}

A TopK {kind} shipped with the Mechanistic Interpretability Workbook. Metrics are measured on
held-out validation stories ({metrics['n_tokens']:,} tokens for FVU, L0 and dead latents, which never fire on any of them; {EVAL_ROWS} rows of 256 tokens
for the spliced-in loss, BOS position left untouched). Zero- or mean-ablating a whole residual stream costs
more than a uniform guess over the vocabulary, so loss recovered against either stays high even for a
poor dictionary: the loss increase is the number to compare. (For a transcoder, which stands in for one
MLP's output, mean ablation is a fairer baseline.)

| | |
| --- | --- |
{table}
{note}
Load it with `mi_widgets.load_dictionary({name!r})`; retrain with `python -m mi_widgets.dictionaries.shipped`.
"""


def sweep_note(sweep: list[dict]) -> str:
    """The card's note on how ``final``'s k and learning rate were chosen."""
    return (f"\nk and learning rate were chosen by a sweep ({len(sweep)} runs at half the tokens, "
            f"k in {sorted({p['k'] for p in sweep})}, lr in {sorted({p['lr'] for p in sweep})}) "
            "for the lowest spliced-in loss among runs with under 5% dead latents; the sweep is "
            "in config.json.\n")


def remeasure(names: list[str] | None = None) -> None:
    """Measure the spliced-in losses of the shipped dictionaries again, on the same held-out rows as at
    training, and rewrite their metrics and cards (after the loss metrics change; weights untouched)."""
    from mi_widgets.dictionaries.metrics import splice_stats
    from mi_widgets.models import load_model
    from mi_widgets.organisms.corpus import story_rows

    model = load_model(MODEL)
    eval_tokens = story_rows(model.tokenizer, DEAD_ROWS, model.cfg.n_ctx, seed=2, split="val")[:EVAL_ROWS]
    for name in names or bundled_dictionaries():
        folder = dictionaries_dir() / name
        meta = json.loads((folder / "config.json").read_text())
        sae = Dictionary.load(folder)
        meta["metrics"].update(splice_stats(model, sae, eval_tokens).as_dict())
        (folder / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        note = sweep_note(meta["sweep"]) if "sweep" in meta else ""
        (folder / "README.md").write_text(card_text(name, sae, meta["metrics"], note))
        print(name, {k: round(meta["metrics"][k], 4) for k in ("loss_increase", "loss_recovered_mean")})


def save(name: str, sae, metrics: dict, extra: dict | None = None, note: str = "") -> Path:
    """Write a dictionary, its metrics and its card to ``data/dictionaries/<model>/<name>/``."""
    folder = dictionaries_dir(sae.cfg.model) / name
    sae.save(folder, extra={"metrics": metrics, **(extra or {})})
    (folder / "README.md").write_text(card_text(name, sae, metrics, note))
    return folder


def main() -> None:
    """Command line: retrain (or ``--remeasure``) the shipped dictionaries."""
    from mi_widgets.activations import harvest_activations
    from mi_widgets.models import load_model
    from mi_widgets.organisms.corpus import story_rows

    parser = argparse.ArgumentParser(description="Train the shipped dictionaries.")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply harvest and training tokens")
    parser.add_argument("--only", nargs="*", help="names to train (default: all)")
    parser.add_argument("--remeasure", action="store_true", help="only measure the spliced-in losses again")
    args = parser.parse_args()
    if args.remeasure:
        remeasure(args.only)
        return
    torch.manual_seed(0)
    model = load_model(MODEL)
    n_ctx, tokenizer = model.cfg.n_ctx, model.tokenizer
    # Stories of the training split with another seed than the models' (fresh text), and validation
    # stories for every metric.
    train_rows = story_rows(tokenizer, int(HARVEST_TOKENS * args.scale) // (n_ctx - 1) + 1, n_ctx, seed=1, split="train")
    eval_rows = story_rows(tokenizer, DEAD_ROWS, n_ctx, seed=2, split="val")
    eval_tokens = eval_rows[:EVAL_ROWS]
    tokens = int(TRAIN_TOKENS * args.scale)
    specs = [s for s in shipped_specs(model.cfg.n_layers) if not args.only or s.name in args.only]
    start = time.perf_counter()
    # Two groups, so only one group's activations are in memory at a time.
    for group in ([s for s in specs if not s.hook_out], [s for s in specs if s.hook_out]):
        hooks = sorted({h for s in group for h in (s.hook_in, s.hook_out) if h})
        if not hooks:
            continue
        acts = harvest_activations(model, hooks, train_rows)
        eval_acts = harvest_activations(model, hooks, eval_rows, progress=False)
        for spec in group:
            if spec.name == "final":
                sweep = []
                for point in FINAL_SWEEP:
                    _, m = fit(spec, acts, model, eval_acts, eval_tokens, tokens // 2, **point)
                    sweep.append({**point, **{key: m[key] for key in ("fvu", "l0", "dead_fraction", "loss_increase",
                                                                      "loss_recovered")}})
                    print(json.dumps(sweep[-1]))
                ok = [p for p in sweep if p["dead_fraction"] < 0.05] or sweep
                best = min(ok, key=lambda p: p["loss_increase"])
                sae, metrics = fit(spec, acts, model, eval_acts, eval_tokens, tokens, k=best["k"], lr=best["lr"])
                save(spec.name, sae, metrics, {"sweep": sweep}, sweep_note(sweep))
            else:
                sae, metrics = fit(spec, acts, model, eval_acts, eval_tokens, tokens)
                save(spec.name, sae, metrics)
            print(spec.name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}))
            if spec.name == f"resid{model.cfg.n_layers // 2}" and not args.only:
                frontier = []
                for k in FRONTIER_KS:
                    _, m = fit(spec, acts, model, eval_acts, eval_tokens, tokens // 2, k=k)
                    frontier.append({"k": k, **{key: m[key] for key in ("fvu", "l0", "dead_fraction", "loss_recovered")}})
                (dictionaries_dir() / "frontier.json").write_text(
                    json.dumps({"site": spec.hook_in, "width": spec.width, "tokens": tokens // 2,
                                "points": frontier}, indent=2) + "\n")
        del acts, eval_acts
    print(f"done in {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
