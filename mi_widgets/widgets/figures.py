"""Static matplotlib figures of a transformer's parts: the residual stream, attention patterns, head scores
and logit attributions. Each returns its figure (and draws on ``ax`` when given one), so a notebook shows
it with ``plt.show()`` and a page shows it as an image. Introduced in ``notebooks/00_start``.

    fig = residual_stream_diagram(n_layers=2)
    fig = attention_heatmap(cache["blocks.1.attn.hook_pattern"][0, 3], model.to_str_tokens(prompt))
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

STREAM, ATTN, MLP, EDGE = "#4c72b0", "#dd8452", "#55a868", "#333333"


def _arrow(ax, start, end, color=EDGE, width=1.2):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color, lw=width))


def _box(ax, x, y, w, h, text, color):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", fc=color,
                                ec=EDGE, lw=0.8, alpha=0.9))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=10, color="white", weight="bold")


def residual_stream_diagram(n_layers: int, attn_only: bool = False, ax=None):
    """A labelled diagram of the residual stream: embeddings at the bottom, each block's attention heads and
    MLP reading from it and adding to it, and the unembedding reading the result at the top.

    The hook names along the stream are the ones ``run_with_cache`` uses, so the figure doubles as a map
    of the cache.

        fig = residual_stream_diagram(model.cfg.n_layers, model.cfg.attn_only)
        plt.show()
    """
    if n_layers < 1:
        raise ValueError(f"n_layers must be at least 1, got {n_layers}")
    parts = [("attention heads", ATTN, "attn_out", "resid_post" if attn_only else "resid_mid")]
    if not attn_only:
        parts.append(("MLP", MLP, "mlp_out", "resid_post"))
    rows = n_layers * len(parts)
    height = 2.4 + rows + 1.0
    if ax is None:
        fig, ax = plt.subplots(figsize=(8.5, 0.6 * height + 0.5))
    else:
        fig = ax.figure
    mono = dict(fontsize=9, family="monospace")
    top = height - 0.8
    ax.add_patch(FancyArrowPatch((0, 0.7), (0, top), arrowstyle="simple,head_width=1.4", mutation_scale=16,
                                 color=STREAM, alpha=0.3, lw=0))
    _box(ax, -1.7, 0.0, 3.4, 0.6, "embed + pos_embed", STREAM)
    ax.text(-1.85, 0.3, "tokens →", ha="right", va="center", fontsize=9)
    ax.text(1.85, 0.3, "hook_embed + hook_pos_embed", ha="left", va="center", color=STREAM, **mono)
    ax.text(-0.2, 1.05, "blocks.0.hook_resid_pre", ha="right", va="center", color=STREAM, **mono)
    y = 1.5
    for layer in range(n_layers):
        for name, color, out_hook, after in parts:
            _box(ax, 1.3, y, 3.0, 0.55, f"L{layer} {name}", color)
            _arrow(ax, (0.08, y + 0.05), (1.28, y + 0.22), width=0.9)  # reads the stream (through a LayerNorm)
            _arrow(ax, (1.28, y + 0.38), (0.16, y + 0.72), color=color, width=1.8)  # adds its output
            ax.text(0, y + 0.76, "+", ha="center", va="center", fontsize=14, weight="bold", color=color)
            ax.text(4.45, y + 0.28, f"blocks.{layer}.hook_{out_hook}", ha="left", va="center", color=color, **mono)
            label = f"blocks.{layer}.hook_{after}"
            if after == "resid_post" and layer < n_layers - 1:
                label += f" = blocks.{layer + 1}.hook_resid_pre"
            ax.text(-0.2, y + 0.76, label, ha="right", va="center", color=STREAM, **mono)
            y += 1.0
    _box(ax, -1.7, top, 3.4, 0.6, "ln_final → unembed", STREAM)
    ax.text(1.85, top + 0.3, "→ logits [pos, d_vocab]", ha="left", va="center", fontsize=9)
    ax.text(0, height + 0.1, "thin arrows: a block reads the stream (through a LayerNorm);  "
            "thick arrows: it adds its output (+)", ha="center", va="center", fontsize=8, color=EDGE)
    ax.set(xlim=(-6.2, 7.0), ylim=(-0.3, height + 0.4))
    ax.set_title("The residual stream: every block reads it and adds its output to it", fontsize=10, pad=14)
    ax.axis("off")
    return fig


def attention_heatmap(pattern: torch.Tensor, str_tokens: Sequence[str], title: str = "", ax=None):
    """One head's attention pattern ``[query_pos, key_pos]`` as a heatmap, tokens on both axes.

    Row ``q`` says how much the token at ``q`` reads from each earlier token (each row sums to 1).

        pattern = cache["blocks.1.attn.hook_pattern"][0, 3]        # [pos, pos], head 3 of layer 1
        attention_heatmap(pattern, model.to_str_tokens(prompt), "L1H3")
    """
    pattern = torch.as_tensor(pattern).detach().float().cpu()
    if pattern.ndim != 2 or pattern.shape[0] != pattern.shape[1] or pattern.shape[0] != len(str_tokens):
        raise ValueError(f"pattern must be [pos, pos] with pos = {len(str_tokens)} tokens, got {tuple(pattern.shape)}")
    if ax is None:
        size = min(2.5 + 0.22 * len(str_tokens), 9.0)
        fig, ax = plt.subplots(figsize=(size, size))
    else:
        fig = ax.figure
    labels = [repr(t)[1:-1] for t in str_tokens]
    image = ax.imshow(pattern, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set(xlabel="key: the token read from", ylabel="query: the token reading", title=title)
    fig.colorbar(image, ax=ax, shrink=0.6, label="attention")
    return fig


def head_heatmap(scores: torch.Tensor, title: str, ax=None, vmin: float = 0.0, vmax: float | None = None):
    """A score per head, ``[layer, head]``, as an annotated grid (e.g. previous-token or induction scores).

        prev = previous_token_scores(model, tokens)      # [n_layers, n_heads]
        head_heatmap(prev, "previous-token score")
    """
    scores = torch.as_tensor(scores).detach().float().cpu()
    if scores.ndim != 2:
        raise ValueError(f"scores must be [layer, head], got shape {tuple(scores.shape)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.2 + 0.8 * scores.shape[1], 0.9 + 0.55 * scores.shape[0]))
    else:
        fig = ax.figure
    top = vmax if vmax is not None else max(float(scores.max()), 1e-9)
    ax.imshow(scores, cmap="Purples", vmin=vmin, vmax=top, aspect="auto")
    for (layer, head), value in zip(torch.cartesian_prod(torch.arange(scores.shape[0]),
                                                         torch.arange(scores.shape[1])).tolist(), scores.flatten()):
        shade = "white" if value > vmin + 0.6 * (top - vmin) else "black"
        ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=10, color=shade)
    ax.set_xticks(range(scores.shape[1]), [f"H{h}" for h in range(scores.shape[1])])
    ax.set_yticks(range(scores.shape[0]), [f"L{layer}" for layer in range(scores.shape[0])])
    ax.set_title(title, fontsize=10)
    return fig


def attribution_bars(names: Sequence[str], values: Sequence[float], title: str, ax=None):
    """Contributions per component (direct logit attribution) as horizontal bars, in forward order.

        a = direct_logit_attribution(model, prompt, " Lily", " Tom")
        attribution_bars(a.names, a.values, "direct logit attribution, Lily - Tom")
    """
    if len(names) != len(values) or not names:
        raise ValueError(f"need one value per name, got {len(names)} names and {len(values)} values")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.2 * len(names)))
    else:
        fig = ax.figure
    colors = [MLP if n.endswith("MLP") else STREAM if "embed" in n else "#999999" if "bias" in n else ATTN
              for n in names]
    ax.barh(range(len(names)), values, color=colors)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color=EDGE, lw=0.8)
    ax.set(xlabel="direct contribution (logits)", title=title)
    return fig
