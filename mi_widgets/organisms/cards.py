"""Measure a trained model organism and write its folder: weights, training log and model card.

The card's numbers are measured here, on stories the model never trained on (the validation split,
and the test split whose indirect-object templates and names were held out of training).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from mi_widgets.heads import induction_report
from mi_widgets.models import data_dir, save_model
from mi_widgets.organisms.capability_scores import capability_table, ioi_table
from mi_widgets.organisms.model_training import TrainLog
from mi_widgets.organisms.stories import generate_stories

EVAL_STORIES = 400


def evaluate_model(model, n_stories: int = EVAL_STORIES) -> dict:
    """The card's measurements: induction, per-capability accuracy, IOI by role order and template."""
    report = induction_report(model, seq_len=50, n_seqs=20, seed=123)
    val = list(generate_stories(n_stories, seed=1, split="val"))
    test = list(generate_stories(n_stories, seed=1, split="test"))
    ioi = pd.concat([ioi_table(model, val).assign(split="val"), ioi_table(model, test).assign(split="test")])
    by_group = (ioi.groupby(["split", "held_out", "order"]).agg(items=("correct", "size"), accuracy=("correct", "mean"),
                                                               mean_logprob_diff=("logprob_diff", "mean"))
                .reset_index())
    return {
        "induction": {"loss_first_copy": report.loss_first, "loss_second_copy": report.loss_second,
                      "loss_ratio": report.loss_ratio, "top_heads": report.top_heads(3)},
        "capabilities": capability_table(model, val).to_dict(orient="records"),
        "ioi": by_group.to_dict(orient="records"),
    }


def _table(records: list[dict], floats: str = "{:.3f}") -> str:
    frame = pd.DataFrame(records)
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(floats.format(v) if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def card_text(name: str, summary: str, facts: dict) -> str:
    """The model card in Markdown, from the measured facts."""
    t, e, a = facts["training"], facts["evaluation"], facts["architecture"]
    ind = e["induction"]
    heads = ", ".join(f"{h} ({s:.2f})" for h, s in ind["top_heads"])
    mlps_off = " with the MLPs switched off" if not a["attn_only"] and t["config"].get("attention_only_warmup") else ""
    if t["config"].get("warmup_layers"):
        mlps_off += f" and only the first {t['config']['warmup_layers']} blocks training"
    target = t["config"].get("induction_target")
    warm_lr = (f" ({t['config']['induction_lr']} during the induction warm-up)"
               if t["config"].get("induction_lr") not in (None, t["config"]["lr"]) else "")
    c = t["config"]
    what = ("indirect-object drills (short scenes with two fresh names each, pairing any intro with any action of the "
            "training templates and of drill-only scene halves, never a held-out template)")
    first = (f" (the first {c['ioi_template_steps']} on drills of the training templates' own halves only)"
             if c.get("ioi_template_steps") else "")
    drill_phase = (f" Then {c['ioi_warmup_steps']} steps{first} train on {c['repeat_rows']} rows of {c['repeat_row_len']} "
                   f"tokens of {what} and {c['repeat_rows_with_stories']} repeat rows, every block on."
                   if c.get("ioi_warmup_steps") else "")
    drills = (f" and {c['ioi_rows']} rows of " + ("those drills" if drill_phase else what)) if c.get("ioi_rows") else ""
    schedule = (f"constant, then decaying linearly to a tenth over the last {c['cooldown_frac']:.0%} of the story steps"
                if c.get("cooldown_frac") else "constant")
    stop = (f"; it stops once the second-copy loss is below {target:.0%} of the first, checked every 100 steps"
            if target else "")
    return f"""# {name}

{summary}. A model organism of the Mechanistic Interpretability Workbook, trained on the CPU on
generated TinyStories-style text (`mi_widgets.organisms.stories`) with the shared 2048-token BPE tokenizer.

| | |
| --- | --- |
| layers / d_model / heads x d_head / d_mlp | {a['n_layers']} / {a['d_model']} / {a['n_heads']} x {a['d_head']} / {a['d_mlp'] or 'none'} |
| parameters | {t['parameters']:,} |
| context | {a['n_ctx']} tokens |
| tokens seen | {t['tokens_seen']:,} |
| training time | {t['seconds'] / 60:.1f} min on one CPU thread |
| train loss (last 200 steps) | {t['train_loss']:.3f} |
| validation loss | {t['val_loss']:.3f} |

**Data mix.** Story rows are {a['n_ctx']} tokens cut at random from 24M tokens of generated stories
(about a fifth of the stories repeat a made-up song or list). Repeat rows are BOS and a span of random
tokens (8 to a third of the row) tiled to fill the row, which only copying (induction) can predict. The first {t.get('warmup_steps_run') or t['config']['induction_warmup_steps']} steps train on {t['config']['repeat_rows']}
repeat rows of {t['config']['repeat_row_len']} tokens each{mlps_off}, to make induction heads form{stop} (the section below says whether they did).{drill_phase} After that each
step has {t['config']['batch_size']} story rows, {t['config']['repeat_rows_with_stories']} repeat rows{drills}, all {a['n_ctx']} tokens long.
Optimiser: AdamW, learning rate {t['config']['lr']}{warm_lr} after {t['config']['warmup_steps']} warm-up steps, then
{schedule}; seed {t['config']['seed']}.

## Induction (random tokens repeated twice)
Loss on the first copy {ind['loss_first_copy']:.2f}, on the second {ind['loss_second_copy']:.2f}
(ratio {ind['loss_ratio']:.2f}). Best induction heads (layer.head, score): {heads}.

## Planted capabilities ({EVAL_STORIES} validation stories; top-1 accuracy on the labelled tokens)
{_table(e['capabilities'])}

## Indirect object identification (log P(answer) - log P(other name))
`held_out` marks templates never seen in training (test split, with names from a held-out pool).

{_table(e['ioi'])}

Retrain with `python -m mi_widgets.organisms.suite --models {name}` (`make models` retrains the suite).
"""


def write_model_card(model, name: str, summary: str, log: TrainLog, folder: Path | None = None) -> Path:
    """Save the model with its log, measurements and card in ``data/models/<name>`` (or ``folder``)."""
    folder = Path(folder) if folder is not None else data_dir() / "models" / name
    recent = log.train_loss[-200:]
    training = {"parameters": sum(p.numel() for p in model.parameters()), "tokens_seen": log.tokens_seen,
                "seconds": round(log.seconds, 1), "train_loss": sum(recent) / len(recent),
                "val_loss": log.val_loss[-1], "config": log.config, "warmup_steps_run": log.warmup_steps}
    facts = {"summary": summary, "training": training, "evaluation": evaluate_model(model)}
    save_model(model, folder, extra=facts)
    facts["architecture"] = json.loads((folder / "mi_config.json").read_text())["architecture"]
    (folder / "README.md").write_text(card_text(name, summary, facts))
    (folder / "train_log.json").write_text(json.dumps(asdict(log)) + "\n")
    return folder


def read_facts(name: str, models_dir: Path | None = None) -> dict:
    """The measurements saved with a bundled model (its ``mi_config.json``)."""
    root = Path(models_dir) if models_dir is not None else data_dir() / "models"
    return json.loads((root / name / "mi_config.json").read_text())


def read_train_log(name: str, models_dir: Path | None = None) -> dict:
    """The training log saved with a bundled model (``train_log.json``)."""
    root = Path(models_dir) if models_dir is not None else data_dir() / "models"
    return json.loads((root / name / "train_log.json").read_text())


def suite_table(names: list[str], models_dir: Path | None = None) -> pd.DataFrame:
    """One row per bundled model: size, tokens seen, training minutes, train and validation loss."""
    rows = []
    for name in names:
        facts = read_facts(name, models_dir)
        arch, train = facts["architecture"], facts["training"]
        rows.append(dict(model=name, layers=arch["n_layers"], mlp=not arch["attn_only"], parameters=train["parameters"],
                         tokens=train["tokens_seen"], minutes=round(train["seconds"] / 60, 1),
                         train_loss=round(train["train_loss"], 3), val_loss=round(train["val_loss"], 3)))
    return pd.DataFrame(rows)


def rewrite_cards(names: list[str], models_dir: Path | None = None) -> None:
    """Rewrite the cards of saved models from their saved measurements (after the card text changes)."""
    root = Path(models_dir) if models_dir is not None else data_dir() / "models"
    for name in names:
        facts = read_facts(name, root)
        (root / name / "README.md").write_text(card_text(name, facts["summary"], facts))

