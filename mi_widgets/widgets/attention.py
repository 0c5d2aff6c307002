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


class AttentionView:
    """Static HTML for a circuitsvis attention view; ``_repr_html_`` displays it in Jupyter and the book."""

    def __init__(self, component: str, props: dict, element_id: str | None = None):
        self.component, self.props = component, props
        self.element_id = element_id or f"mi-attn-{uuid4().hex[:12]}"

    def _repr_html_(self) -> str:
        return (f'<div id="{self.element_id}" class="mi-attention" style="margin: 12px 0; min-height: 300px;"></div>\n'
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
