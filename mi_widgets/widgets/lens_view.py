"""Logit-lens view: layers x positions, each cell the top predicted next token and its probability.

Hover a cell for the top five; the last column is each layer's mean KL divergence from the model's output
over the shown positions. Static escaped HTML; `LogitLensView.widget` adds a prompt box and a choice of
how the final norm is applied (see `mi_widgets.analysis.lens`; ``notebooks/40_lens`` measures which is better).
"""

from __future__ import annotations

import html

from mi_widgets.analysis.lens import logit_lens
from mi_widgets.widgets.tokens import _colour


class LogitLensView:
    """The logit lens of one prompt as a table: each layer's top next-token guesses at the last positions.

    Made by `logit_lens_view`; ``.html()`` renders it, and in JupyterLab ``.widget()`` switches the norm.
    """

    def __init__(self, model, prompt: str, norm: str = "recompute", last: int = 16, top: int = 5):
        if not prompt:
            raise ValueError("logit_lens_view needs a non-empty prompt")
        self.model, self.prompt, self.norm, self.last, self.top = model, prompt, norm, last, top

    def html(self, prompt: str | None = None, norm: str | None = None) -> str:
        """The table as static HTML, for another prompt or norm if given (token text escaped)."""
        prompt, norm = prompt or self.prompt, norm or self.norm
        tokens = self.model.to_tokens(prompt)[0]
        probs = logit_lens(self.model, tokens, norm=norm)[:, -self.last:]  # [layers, pos, vocab]
        logp = probs.clamp_min(1e-30).log()
        kl = (probs[-1] * (logp[-1] - logp)).sum(-1).mean(-1)  # [layers]: KL(output || layer), shown positions
        shown = tokens[-self.last:].tolist()
        decode = lambda i: self.model.tokenizer.decode([i])  # noqa: E731
        head = "".join(f'<th style="font-weight:normal;padding:2px 4px;white-space:pre">{html.escape(decode(t))}</th>'
                       for t in shown) + '<th style="font-weight:normal;padding:2px 6px">KL</th>'
        rows = []
        values, ids = probs.topk(self.top, dim=-1)
        for layer in range(probs.shape[0]):
            cells = []
            for pos in range(probs.shape[1]):
                hover = "\n".join(f"{decode(i)!r}: {p:.3f}" for i, p in zip(ids[layer, pos].tolist(),
                                                                           values[layer, pos].tolist()))
                p = values[layer, pos, 0].item()
                cells.append(f'<td title="{html.escape(hover)}" style="background:{_colour(p, 1.0, False)};'
                             f'padding:2px 4px;white-space:pre;font-family:monospace">'
                             f'{html.escape(decode(ids[layer, pos, 0].item()))}</td>')
            label = "embed" if layer == 0 else f"after {layer - 1}"
            cells.append(f'<td style="padding:2px 6px;color:#555">{kl[layer].item():.2f}</td>')
            rows.append(f'<tr><th style="text-align:right;padding-right:6px">{label}</th>{"".join(cells)}</tr>')
        return (f'<div class="mi-lens" style="font-size:12px;overflow-x:auto">'
                f'<div style="font-family:sans-serif;color:#555">top next-token prediction read from each layer '
                f'(final norm: {html.escape(norm)}); colour: its probability; hover for the top {self.top}; '
                f'KL: mean divergence of the model output from this layer\'s reading, in nats</div>'
                f'<table style="border-collapse:collapse"><tr><th></th>{head}</tr>{"".join(rows)}</table></div>')

    def _repr_html_(self) -> str:
        return self.html()

    def widget(self):
        """Prompt box and norm choice; redraws on change (needs a running kernel)."""
        import ipywidgets as widgets

        prompt = widgets.Text(value=self.prompt, description="prompt", layout=widgets.Layout(width="80%"))
        norm = widgets.Dropdown(options=["recompute", "frozen"], value=self.norm, description="final norm")
        out = widgets.HTML(self.html())

        def redraw(_):
            if prompt.value:
                out.value = self.html(prompt.value, norm.value)

        prompt.observe(redraw, names="value")
        norm.observe(redraw, names="value")
        return widgets.VBox([prompt, norm, out])


def logit_lens_view(model, prompt: str, norm: str = "recompute", last: int = 16) -> LogitLensView:
    """The logit lens over the last ``last`` positions of ``prompt``."""
    return LogitLensView(model, prompt, norm, last)
