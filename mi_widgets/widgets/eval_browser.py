"""Eval browser: the scored items of capability tasks, filtered by capability, model and correctness.

    scores = score_task(model, load_task("pronoun"), "stories-gelu-4l")   # mi_widgets.organisms.task_format
    eval_browser(scores)            # static HTML: a few items per (capability, model, right/wrong)
    eval_browser(scores).widget()   # JupyterLab: dropdowns over every item

Each row shows the end of the prompt coloured by the model's loss on each token (the answer's tokens
underlined; open the row for the whole prompt), the answer and wrong answer, probability, rank and logit
difference. The static rendering filters with radio buttons and CSS alone (no script), so it works in the
built book; all text is escaped. Introduced in ``notebooks/20_capabilities/20_capabilities.ipynb``.
"""

from __future__ import annotations

import html
import math
import re
from uuid import uuid4

import pandas as pd

from mi_widgets.widgets.tokens import token_spans

NEEDED = ("task", "model", "prompt", "answer", "prob", "rank", "logit_diff", "correct")
_ID = re.compile(r"[A-Za-z][\w-]*")
_HEAD = ("capability", "model", "variant", "prompt (loss per token; open for all)", "answer", "wrong", "prob",
         "rank", "logit diff", "")


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _prompt_cell(row) -> str:
    tail = _esc(row.prompt[-90:])
    if isinstance(getattr(row, "tokens", None), tuple) and row.tokens:
        cut = row.answer_start
        scale = max(4.0, max(row.losses))
        tail = (token_spans(row.tokens[:cut], row.losses[:cut], scale=scale, diverging=False, label="loss")
                + '<u>' + token_spans(row.tokens[cut:], row.losses[cut:], scale=scale, diverging=False, label="loss")
                + "</u>")
    return (f'<details><summary style="font-family:monospace">{tail}</summary>'
            f'<div style="white-space:pre-wrap;font-family:monospace;color:#444;max-width:48em">{_esc(row.prompt)}'
            f'<u>{_esc(row.answer)}</u></div></details>')


def row_html(row, classes: str = "") -> str:
    """One scored item as a table row (``row``: an itertuples row of a score frame)."""
    wrong = getattr(row, "wrong", None)
    diff = "" if row.logit_diff is None or math.isnan(row.logit_diff) else f"{row.logit_diff:+.2f}"
    cells = (_esc(row.task), _esc(row.model), _esc(getattr(row, "variant", "")), _prompt_cell(row),
             f"<code style='white-space:pre'>{_esc(row.answer)}</code>",
             f"<code style='white-space:pre'>{_esc(wrong)}</code>" if isinstance(wrong, str) else "",
             f"{row.prob:.3f}", str(int(row.rank)), diff, "&#10003;" if row.correct else "&#10007;")
    tds = "".join(f'<td style="padding:2px 6px;vertical-align:top">{c}</td>' for c in cells)
    return f'<tr class="{classes}">{tds}</tr>'


def _table(rows: str) -> str:
    head = "".join(f'<th style="text-align:left;padding:2px 6px">{h}</th>' for h in _HEAD)
    return (f'<table class="mi-eval-rows" style="border-collapse:collapse;font-size:12px">'
            f"<tr>{head}</tr>{rows}</table>")


class EvalBrowser:
    """Scored task items; `_repr_html_` is the static page, `widget` the interactive one."""

    def __init__(self, scores: pd.DataFrame, per_group: int = 3, element_id: str | None = None):
        self.scores, self.per_group = scores, per_group
        self.element_id = element_id or f"mi-evals-{uuid4().hex[:12]}"

    def sample(self) -> pd.DataFrame:
        """Up to ``per_group`` items per (task, model, correct), spread over the range of probabilities."""
        parts = []
        for _, part in self.scores.groupby(["task", "model", "correct"], sort=False):
            part = part.sort_values("prob")
            step = max(1, len(part) // self.per_group)
            parts.append(part.iloc[::step].head(self.per_group))
        return pd.concat(parts)

    def _radios(self, key: str, title: str, values: list[str]) -> str:
        name = f"{self.element_id}-{key}"
        out = [f'<b style="margin-right:4px">{_esc(title)}</b>']
        for k, label in enumerate(["all", *values]):
            rid = f"{name}-{k}"
            out.append(f'<input type="radio" name="{name}" id="{rid}"{" checked" if k == 0 else ""}>'
                       f'<label for="{rid}" style="margin-right:8px">{_esc(label)}</label>')
        return "".join(out) + "<br>"

    def _repr_html_(self) -> str:
        eid, shown = self.element_id, self.sample()
        tasks, models = list(dict.fromkeys(self.scores.task)), list(dict.fromkeys(self.scores.model))
        groups = {"t": tasks, "m": models, "c": ["right", "wrong"]}
        css = "".join(f"#{eid}-{key}-{k + 1}:checked ~ table tr.r:not(.{key}{k + 1}){{display:none}}"
                      for key, values in groups.items() for k in range(len(values)))
        rows = "".join(row_html(r, f"r t{tasks.index(r.task) + 1} m{models.index(r.model) + 1} c{2 - bool(r.correct)}")
                       for r in shown.itertuples())
        total = self.scores.groupby(["task", "model"]).size()
        return (f'<div class="mi-evals" id="{eid}" style="font-family:sans-serif;font-size:13px">'
                f"<style>{css}</style>"
                f'<div style="color:#555">{len(shown)} of {len(self.scores)} scored items ({len(tasks)} tasks x '
                f"{len(models)} models, up to {self.per_group} per task, model and outcome, {int(total.min())}-"
                f"{int(total.max())} items per task and model); choose a filter:</div>"
                + self._radios("t", "capability", tasks) + self._radios("m", "model", models)
                + self._radios("c", "outcome", groups["c"]) + _table(rows) + "</div>")

    def html(self, task: str = "all", model: str = "all", outcome: str = "all", n: int = 20) -> str:
        """The first ``n`` items (lowest probability first) that pass the filters."""
        part = self.scores
        if task != "all":
            part = part[part.task == task]
        if model != "all":
            part = part[part.model == model]
        if outcome != "all":
            part = part[part.correct == (outcome == "right")]
        rows = "".join(row_html(r) for r in part.sort_values("prob").head(n).itertuples())
        return f'<div style="color:#555">{len(part)} items match</div>' + _table(rows)

    def widget(self):
        """Dropdowns for capability, model and outcome, and a row count; redraws on change (needs a kernel)."""
        import ipywidgets as widgets

        def pick(description: str, values) -> widgets.Dropdown:
            return widgets.Dropdown(options=["all", *values], value="all", description=description)

        task = pick("capability", dict.fromkeys(self.scores.task))
        model = pick("model", dict.fromkeys(self.scores.model))
        outcome = pick("outcome", ["right", "wrong"])
        n = widgets.BoundedIntText(value=20, min=1, max=500, description="rows")
        out = widgets.HTML(self.html())

        def redraw(_):
            out.value = self.html(task.value, model.value, outcome.value, n.value)

        for control in (task, model, outcome, n):
            control.observe(redraw, names="value")
        return widgets.VBox([widgets.HBox([task, model]), widgets.HBox([outcome, n]), out])


def eval_browser(scores: pd.DataFrame, per_group: int = 3, element_id: str | None = None) -> EvalBrowser:
    """Browse scored task items (the output of `mi_widgets.analysis.task_metrics.score_task`, one or many concatenated)."""
    missing = [c for c in NEEDED if c not in scores]
    if missing:
        raise ValueError(f"scores lack columns {missing}; pass the output of mi_widgets.analysis.task_metrics.score_task")
    if len(scores) == 0:
        raise ValueError("no scored items to browse")
    if per_group < 1:
        raise ValueError(f"per_group must be at least 1, got {per_group}")
    if element_id is not None and not _ID.fullmatch(element_id):
        raise ValueError(f"element_id must be a letter then letters, digits, '_' or '-', got {element_id!r}")
    return EvalBrowser(scores, per_group, element_id)
