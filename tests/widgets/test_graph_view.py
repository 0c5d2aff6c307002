"""widgets.graph_view: the pruned graph as escaped SVG, every kept node drawn, the strongest edges only."""

import pytest
import torch

from mi_widgets.analysis.circuits import AttributionGraph, Node
from mi_widgets.widgets.graph_view import graph_view


def small_graph():
    nodes = [Node("token", -1, 0, label="tok 0 '<b>'"), Node("token", -1, 1, label="tok 1 ' Tom'"),
             Node("feature", 0, 1, 7, label="L0 #7 @1"), Node("error", 0, 1, label="L0 error @1"),
             Node("target", 1, 1, label="logit ' Tom' (centred)")]
    edges = torch.zeros(5, 5)
    edges[2, 0], edges[2, 1] = 2.0, 1.0
    edges[4, 2], edges[4, 0], edges[4, 3] = 1.0, -0.5, 0.25
    return AttributionGraph(nodes, edges, torch.zeros(5), torch.tensor([1.0, 1.0, 3.0, 1.0, 0.75]), [0, 1])


def test_every_kept_node_is_drawn_and_text_is_escaped():
    graph = small_graph()
    view = graph_view(graph, keep=range(5), contexts={2: "fires on <Tom> & friends"})
    page = view._repr_html_()
    assert page.count('<g class="node">') == 5
    assert "&lt;Tom&gt; &amp; friends" in page and "<Tom>" not in page
    assert "&lt;b&gt;" in page and "'<b>'" not in page
    assert page.count("#b2182b") == 1  # the one negative edge is red
    assert "carry 100%" in page


def test_max_edges_keeps_the_strongest():
    page = graph_view(small_graph(), keep=range(5), max_edges=2).svg()
    assert page.count("<line x1=\"") - page.count('stroke="#eee"') == 2
    assert 'stroke-width="4.00"' in page  # the strongest edge (2.0) has the widest line


def test_pruned_by_default_and_bad_nodes_refused():
    graph = small_graph()
    view = graph_view(graph, share=0.5)
    assert graph.target in view.keep and len(view.keep) < 5
    with pytest.raises(ValueError, match="not in the graph"):
        graph_view(graph, keep=[9])
    with pytest.raises(ValueError, match="max_edges"):
        graph_view(graph, keep=[0], max_edges=0)


def test_max_nodes_draws_the_heaviest_and_says_so():
    graph = small_graph()
    view = graph_view(graph, keep=range(5), max_nodes=2)
    through = graph.mass_through()
    heaviest = sorted(range(4), key=lambda i: -float(through[i]))[:2]
    assert view.shown() == sorted(heaviest + [graph.target])
    page = view._repr_html_()
    assert page.count('<g class="node">') == 3 and "the 2 with the most path mass" in page
