"""Attention patterns drawn by circuitsvis, with its JavaScript inlined so the page works offline.

circuitsvis's own ``str()`` points at a CDN and its ``_repr_html_`` probes the internet on every display;
this view reads the bundle that ships in the circuitsvis wheel instead and never touches the network.
Props are JSON with ``<``, ``>`` and ``&`` written as unicode escapes, so a token such as ``</script>``
stays text inside the script. Introduced in ``notebooks/00_start/00_start.ipynb``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from uuid import uuid4

import torch
from jaxtyping import Float


@lru_cache(maxsize=1)
def circuitsvis_bundle() -> str:
    """The circuitsvis browser bundle (about 1.3 MB) from the installed package."""
    import circuitsvis

    path = Path(circuitsvis.__file__).parent / "dist" / "cdn" / "iife.js"
    return path.read_text(encoding="utf-8").replace("</script>", "<\\/script>")


def script_json(value) -> str:
    """JSON that is safe inside an HTML <script> element."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


VIEW_CSS = (
    # circuitsvis titles its parts with h2-h4 elements, which a page's theme draws as section headings (and
    # the head labels, at heading size, then overlap their thumbnails): draw them as small labels instead.
    ".mi-attention h2, .mi-attention h3 { font-size: 0.9rem; font-weight: 600; margin: 0.3em 0 0.5em; }"
    " .mi-attention h4 { font-size: 0.65rem; line-height: 1.2; font-weight: 600; }"
)


class AttentionView:
    """Static HTML for a circuitsvis attention view; ``_repr_html_`` displays it in Jupyter and the book."""

    def __init__(self, component: str, props: dict, element_id: str | None = None):
        self.component, self.props = component, props
        self.element_id = element_id or f"mi-attn-{uuid4().hex[:12]}"

    def _repr_html_(self) -> str:
        return (f"<style>{VIEW_CSS}</style>\n"
                f'<div id="{self.element_id}" class="mi-attention" style="margin: 12px 0; min-height: 300px;"></div>\n'
                f'<script type="module">\n{circuitsvis_bundle()}\n'
                f'CircuitsVis.render("{self.element_id}", CircuitsVis.{self.component}, {script_json(self.props)});\n'
                "</script>")


def attention_view(tokens: list[str], pattern: Float[torch.Tensor, "n_heads dest src"],
                   head_names: list[str] | None = None, element_id: str | None = None) -> AttentionView:
    """Attention patterns of several heads over ``tokens`` (circuitsvis ``AttentionHeads``: a thumbnail per
    head, the selected one drawn large)."""
    if pattern.ndim != 3 or pattern.shape[1] != len(tokens) or pattern.shape[2] != len(tokens):
        raise ValueError(f"pattern must be [n_heads, {len(tokens)}, {len(tokens)}], got {tuple(pattern.shape)}")
    names = head_names or [f"head {h}" for h in range(pattern.shape[0])]
    if len(names) != pattern.shape[0]:
        raise ValueError(f"got {len(names)} head names for {pattern.shape[0]} heads")
    props = {"tokens": list(tokens), "attention": pattern.detach().cpu().float().tolist(),
             "attentionHeadNames": names, "maskUpperTri": True}
    return AttentionView("AttentionHeads", props, element_id)


class LayerAttention:
    """Attention of every layer over one prompt: the static view draws ``layer``; `widget` picks the layer.

    Heads are picked inside the circuitsvis view itself (click a thumbnail).
    """

    def __init__(self, tokens: list[str], patterns: Float[torch.Tensor, "n_layers n_heads dest src"], layer: int = 0):
        if not 0 <= layer < patterns.shape[0]:
            raise ValueError(f"layer must be in 0..{patterns.shape[0] - 1}, got {layer}")
        self.tokens, self.patterns, self.layer = tokens, patterns, layer

    def view(self, layer: int) -> AttentionView:
        """The attention view of one layer's heads."""
        names = [f"L{layer}H{h}" for h in range(self.patterns.shape[1])]
        return attention_view(self.tokens, self.patterns[layer], names)

    def _repr_html_(self) -> str:
        return self.view(self.layer)._repr_html_()

    def widget(self):
        """A layer dropdown above the circuitsvis view (an Output widget, so its script runs; needs a kernel)."""
        import ipywidgets as widgets
        from IPython.display import display

        picker = widgets.Dropdown(options=[(f"layer {l}", l) for l in range(self.patterns.shape[0])],
                                  value=self.layer, description="layer")
        out = widgets.Output()

        def draw(layer: int) -> None:
            out.clear_output(wait=True)
            with out:
                display(self.view(layer))

        draw(self.layer)
        picker.observe(lambda change: draw(change["new"]), names="value")
        return widgets.VBox([picker, out])


@torch.no_grad()
def attention_by_layer(model, prompt: str, layer: int = 0) -> LayerAttention:
    """Run ``model`` on ``prompt`` (BOS first) and keep every layer's attention pattern, for `LayerAttention`."""
    if not prompt:
        raise ValueError("attention_by_layer needs a non-empty prompt")
    tokens = model.to_tokens(prompt)
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("attn.hook_pattern"))
    patterns = torch.stack([cache[f"blocks.{l}.attn.hook_pattern"][0] for l in range(model.cfg.n_layers)])
    return LayerAttention(model.to_str_tokens(tokens[0]), patterns, layer)
