"""An attribution graph drawn as SVG: nodes by layer (rows) and position (columns), edges by weight.

    view = graph_view(graph, keep=graph.prune(0.8), contexts={i: "top contexts ..."})
    view            # static SVG: hover a node for its label, activation, share of the target and contexts
    view.widget()   # JupyterLab: a slider for the share the pruned graph keeps

Blue edges push their reader up, red ones down; a line's width is its share of the largest edge shown. Circles
are features (area by the path mass through them), squares error terms, grey tokens at the bottom and the target
at the top. Every label is escaped. Introduced in ``notebooks/32_transcoders``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from mi_widgets.analysis.circuits import AttributionGraph

COLOURS = {"token": "#9e9e9e", "feature": "#f28e2b", "error": "#cfcfcf", "target": "#59a14f"}


class GraphView:
    """A pruned attribution graph with a static `_repr_html_` and a share slider in `widget`."""

    def __init__(self, graph: AttributionGraph, keep: Sequence[int] | None = None,
                 contexts: Mapping[int, str] | None = None, max_edges: int = 150, share: float = 0.8,
                 max_nodes: int = 80):
        if max_edges < 1 or max_nodes < 1:
            raise ValueError(f"max_edges and max_nodes must be at least 1, got {max_edges} and {max_nodes}")
        self.graph, self.contexts, self.max_edges, self.max_nodes = graph, dict(contexts or {}), max_edges, max_nodes
        self.keep = sorted(set(keep) | {graph.target}) if keep is not None else graph.prune(share)
        bad = [i for i in self.keep if not 0 <= i < len(graph.nodes)]
        if bad:
            raise ValueError(f"nodes {bad[:5]} are not in the graph (it has {len(graph.nodes)})")

    def svg(self, keep: Sequence[int] | None = None) -> str:
        """The graph restricted to ``keep`` (default: the view's nodes) as an SVG string."""
        graph = self.graph
        through = graph.mass_through()
        keep = self.shown(keep, through)
        n_pos = len(graph.tokens)
        n_layers = max(n.layer for n in graph.nodes if n.kind != "target") + 1
        col, row, left, top = max(34, min(64, 1000 // n_pos)), 80, 70, 24
        width, height = left + col * n_pos + 10, top + row * (n_layers + 1) + 60
        biggest = float(through[keep].max()) or 1.0
        cells: dict[tuple[int, int], list[int]] = {}
        for i in keep:
            node = graph.nodes[i]
            cells.setdefault((node.layer, node.pos), []).append(i)
        xy = {}
        for (layer, pos), members in cells.items():
            y = top + row * (n_layers - layer) if layer < n_layers else top
            if graph.nodes[members[0]].kind == "token":
                y = top + row * (n_layers + 1)
            # A cell's nodes sit in a small grid, as many to a line as the column holds.
            per_line = max(1, int((col - 6) // 8))
            lines = -(-len(members) // per_line)
            for rank, i in enumerate(members):
                line, place = divmod(rank, per_line)
                in_line = min(per_line, len(members) - line * per_line)
                xy[i] = (left + col * pos + col / 2 + (place - (in_line - 1) / 2) * 8,
                         y + (line - (lines - 1) / 2) * 8)
        sub = graph.edges[keep][:, keep]
        readers, sources = sub.nonzero(as_tuple=True)
        pairs = [(abs(float(sub[a, b])), keep[a], keep[b]) for a, b in zip(readers.tolist(), sources.tolist())]
        pairs = sorted(pairs, reverse=True)[: self.max_edges]
        strongest = pairs[0][0] if pairs else 1.0
        # Scaled to the page's width (the viewBox keeps the proportions), never above its own size.
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="mi-graph" width="100%" viewBox="0 0 {width} {height}" '
                 f'style="max-width:{width}px;font:11px sans-serif;background:#fff">',
                 "<style>.mi-graph g.node:hover > *:first-child{stroke:#000;stroke-width:2}</style>"]
        for layer in range(n_layers):
            y = top + row * (n_layers - layer)
            parts.append(f'<text x="4" y="{y + 4}" fill="#555">L{layer} MLP</text>'
                         f'<line x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#eee"/>')
        parts.append(f'<text x="4" y="{top + 4}" fill="#555">target</text>')
        for weight, reader, source in pairs:
            (x1, y1), (x2, y2) = xy[source], xy[reader]
            colour = "#2166ac" if float(graph.edges[reader, source]) > 0 else "#b2182b"
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
                         f'stroke-opacity="0.55" stroke-width="{0.4 + 3.6 * weight / strongest:.2f}"/>')
        for i in keep:
            node, (x, y) = graph.nodes[i], xy[i]
            share = float(through[i]) / graph.total_mass
            tip = f"{node.label}\nvalue {float(graph.values[i]):.3g}; paths through it: {share:.1%} of the target"
            if i in self.contexts:
                tip += "\n" + self.contexts[i]
            size = 2 + 5 * (float(through[i]) / biggest) ** 0.5
            colour = COLOURS[node.kind]
            shape = (f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}" '
                     f'fill="{colour}" stroke="#666"/>' if node.kind == "error" else
                     f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" fill="{colour}" stroke="#666"/>')
            parts.append(f'<g class="node">{shape}<title>{html.escape(tip)}</title></g>')
        for pos, label in enumerate(n.label for n in graph.nodes if n.kind == "token"):
            text = html.escape(label.split(" ", 2)[-1])
            x = left + col * pos + col / 2
            parts.append(f'<text x="{x:.1f}" y="{height - 40}" text-anchor="end" fill="#333" '
                         f'transform="rotate(-40 {x:.1f} {height - 40})">{text}</text>')
        parts.append("</svg>")
        return "".join(parts)

    def shown(self, keep: Sequence[int] | None = None, through=None) -> list[int]:
        """The nodes drawn: ``keep`` (default: the view's), at most ``max_nodes`` of them by path mass, and the target."""
        graph = self.graph
        through = graph.mass_through() if through is None else through
        keep = sorted(set(self.keep if keep is None else keep) - {graph.target}, key=lambda i: -float(through[i]))
        return sorted(keep[: self.max_nodes] + [graph.target])

    def _repr_html_(self) -> str:
        kept = sum(self.graph.nodes[i].kind == "feature" for i in self.keep)
        caption = (f"{kept} features and {len(self.keep) - kept - 1} tokens and error terms carry "
                   f"{self.graph.carried(self.keep):.0%} of {html.escape(self.graph.nodes[-1].label)}")
        if len(self.keep) - 1 > self.max_nodes:
            caption += f"; the {self.max_nodes} with the most path mass through them are drawn"
        return f'<figure style="overflow-x:auto">{self.svg()}<figcaption>{caption}</figcaption></figure>'

    def widget(self):
        """JupyterLab: the graph with a slider for the share of the target the pruned graph must carry."""
        import ipywidgets as widgets

        slider = widgets.FloatSlider(value=0.8, min=0.3, max=0.95, step=0.05, description="share")
        out = widgets.HTML(self._repr_html_())

        def redraw(change):
            self.keep = self.graph.prune(change["new"])
            out.value = self._repr_html_()

        slider.observe(redraw, names="value")
        return widgets.VBox([slider, out])


def graph_view(graph: AttributionGraph, keep: Sequence[int] | None = None, contexts: Mapping[int, str] | None = None,
               max_edges: int = 150, share: float = 0.8, max_nodes: int = 80) -> GraphView:
    """Draw ``graph`` restricted to ``keep`` (default: the nodes that carry ``share`` of the target), at most
    ``max_nodes`` of them (those with the most path mass through them) and the ``max_edges`` largest edges between
    them; ``contexts`` maps node indices to hover text."""
    return GraphView(graph, keep, contexts, max_edges, share, max_nodes)
