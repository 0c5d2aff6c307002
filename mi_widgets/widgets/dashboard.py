"""Feature dashboard for one dictionary latent: top-activating contexts, activation histogram, density,
and the output tokens its decoder direction raises and lowers most (direct path through the unembedding).

    index = FeatureIndex(sae, acts, tokens)      # once: one pass of the encoder
    feature_dashboard(model, index, latent=12)   # static HTML, quick to render
    feature_dashboard(model, index).widget()     # JupyterLab: pick the latent with a box

The static rendering (``_repr_html_``) is plain escaped HTML and an inline SVG histogram, so it shows
the same in the book, where no Python runs. Introduced in ``notebooks/10_dictionaries``.
"""

from __future__ import annotations

import html

import torch

from mi_widgets.dictionaries.feature_index import FeatureIndex
from mi_widgets.widgets.tokens import token_spans


def _histogram_svg(values: torch.Tensor, bins: int = 24, width: int = 260, height: int = 90) -> str:
    if len(values) == 0:
        return '<div style="color:#777">never active on these tokens</div>'
    top = float(values.max())
    counts = torch.histc(values, bins=bins, min=0.0, max=top if top > 0 else 1.0)
    tallest = float(counts.max())
    bar = width / bins
    rects = "".join(f'<rect x="{i * bar:.1f}" y="{height - 14 - (c / tallest) * (height - 18):.1f}" width="{bar - 1:.1f}" '
                    f'height="{(c / tallest) * (height - 18):.1f}" fill="#e6823c"><title>{int(c)}</title></rect>'
                    for i, c in enumerate(counts.tolist()))
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="activation histogram">{rects}'
            f'<text x="0" y="{height - 2}" font-size="10">0</text>'
            f'<text x="{width}" y="{height - 2}" font-size="10" text-anchor="end">{top:.2f}</text></svg>')


class FeatureDashboard:
    """One latent's dashboard (static HTML); `widget` makes an interactive one for JupyterLab."""

    def __init__(self, model, index: FeatureIndex, latent: int = 0, n_contexts: int = 8, n_logits: int = 8):
        self.model, self.index, self.n_contexts, self.n_logits = model, index, n_contexts, n_logits
        self.latent = index.check(latent)
        self.tokenizer = model.tokenizer

    def logit_effects(self, latent: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """Tokens whose logits the latent's decoder direction raises and lowers most (direct path)."""
        direction = self.index.sae.W_dec[latent].detach()
        if direction.shape[0] != self.model.cfg.d_model:
            return [], []
        effect = direction @ self.model.W_U.detach()
        up, down = effect.topk(self.n_logits), (-effect).topk(self.n_logits)
        name = lambda i: self.tokenizer.decode([i])  # noqa: E731
        return ([(name(i), v) for i, v in zip(up.indices.tolist(), up.values.tolist())],
                [(name(i), -v) for i, v in zip(down.indices.tolist(), down.values.tolist())])

    def html(self, latent: int) -> str:
        """The dashboard of one latent as static HTML (token text escaped)."""
        latent = self.index.check(latent)
        acts = self.index.dense(latent)
        _, values = self.index.activations(latent)
        tokens = self.index.tokens
        per_row = tokens.shape[1] - 1
        rows_html = []
        top_vals, top_idx = acts.topk(min(self.n_contexts, int((acts > 0).sum())))
        for value, i in zip(top_vals.tolist(), top_idx.tolist()):
            r, p = divmod(i, per_row)
            lo, hi = max(0, p - 10), min(per_row, p + 4)
            ids = tokens[r, 1 + lo: 1 + hi].tolist()
            strs = [self.tokenizer.decode([t]) for t in ids]
            spans = token_spans(strs, acts[r * per_row + lo: r * per_row + hi], scale=float(acts.max()),
                                diverging=False, highlight=p - lo, label="activation")
            rows_html.append(f'<tr><td style="text-align:right;padding-right:8px">{value:.2f}</td>'
                             f'<td style="font-family:monospace">{spans}</td></tr>')
        up, down = self.logit_effects(latent)
        logit_list = lambda items, colour: "".join(  # noqa: E731
            f'<li><code style="background:{colour}">{html.escape(t)}</code> {v:+.2f}</li>' for t, v in items)
        logits = (f'<div style="display:flex;gap:16px"><div><b>raises</b><ul style="margin:2px 0;padding-left:16px">'
                  f'{logit_list(up, "#fde0c5")}</ul></div><div><b>lowers</b><ul style="margin:2px 0;padding-left:16px">'
                  f'{logit_list(down, "#d4e4f7")}</ul></div></div>') if up else ""
        cfg = self.index.sae.cfg
        return (f'<div class="mi-dashboard" style="font-family:sans-serif;font-size:13px;border:1px solid #ddd;'
                f'padding:8px;margin:6px 0;max-width:60em">'
                f'<div style="font-size:15px"><b>Latent {latent}</b> of {html.escape(cfg.hook_in or "dictionary")} '
                f'(width {cfg.width})</div>'
                f'<div>active on {self.index.density(latent):.3%} of {self.index.n_tokens:,} tokens; '
                f'max activation {float(values.max()) if len(values) else 0:.2f}</div>'
                f'<div style="display:flex;gap:24px;margin:6px 0"><div>{_histogram_svg(values)}</div>{logits}</div>'
                f'<table style="border-collapse:collapse">{"".join(rows_html)}</table></div>')

    def _repr_html_(self) -> str:
        return self.html(self.latent)

    def widget(self):
        """An ipywidgets box: type a latent number, the dashboard redraws (needs a running kernel)."""
        import ipywidgets as widgets

        picker = widgets.BoundedIntText(value=self.latent, min=0, max=self.index.sae.cfg.width - 1,
                                        description="latent")
        out = widgets.HTML(self.html(self.latent))

        def redraw(change):
            out.value = self.html(change["new"])

        picker.observe(redraw, names="value")
        return widgets.VBox([picker, out])


def feature_dashboard(model, index: FeatureIndex, latent: int = 0, n_contexts: int = 8) -> FeatureDashboard:
    """The dashboard of ``latent`` over the tokens ``index`` was built on."""
    return FeatureDashboard(model, index, latent, n_contexts)
