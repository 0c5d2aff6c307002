"""32_transcoders: the input-invariant term between two transcoders' features, one route through a head with its
pattern frozen, a transcoder's error term, and pruning a graph by share."""

from __future__ import annotations

from functools import lru_cache

import torch

from mi_widgets.analysis.circuits import AttributionGraph, Node, head_route
from mi_widgets.dictionaries.shipped import load_dictionary
from mi_widgets.exercises.core import Case, Exercise, register


@lru_cache(maxsize=1)
def _transcoders():
    return load_dictionary("mlp0-tc"), load_dictionary("mlp1-tc")


def _virtual_reference(early, late, j: int, i: int) -> float:
    read = late.W_enc[i] - late.W_enc[i].mean()
    return float((early.W_dec[j] @ read * late.scale_in / early.scale_out).detach())


def _virtual_cases():
    early, late = _transcoders()
    return [Case((early, late, j, i), f"features {j} (layer 0) and {i} (layer 1)") for j, i in [(3, 7), (100, 5), (2047, 0)]]


register(Exercise(
    "circuits.virtual_weight", _virtual_reference, _virtual_cases,
    mistakes=[(lambda e, l_, j, i: float((e.W_dec[j] @ l_.W_enc[i] * l_.scale_in / e.scale_out).detach()),
               "the later transcoder reads through a LayerNorm, which centres: take the mean out of its encoder row"),
              (lambda e, l_, j, i: float((e.W_dec[j] @ (l_.W_enc[i] - l_.W_enc[i].mean())).detach()),
               "put in the scales: the earlier decoder writes W_dec / scale_out, the later encoder reads scale_in · x"),
              (lambda e, l_, j, i: _virtual_reference(e, l_, j, i) * float(e.scale_out / l_.scale_in) ** 2,
               "divide by the earlier transcoder's scale_out and multiply by the later one's scale_in, not the reverse"),
              (lambda e, l_, j, i: float((e.W_enc[j] @ (l_.W_dec[i] - l_.W_dec[i].mean()) * l_.scale_in
                                          / e.scale_out).detach()),
               "the earlier feature *writes* (its decoder row) and the later one *reads* (its encoder row)")],
    atol=1e-4))


def _route_cases():
    gen = torch.Generator().manual_seed(0)
    cases = []
    for about, weight in [("a head that attends there", 0.7), ("a head that hardly does", 0.02)]:
        args = (torch.randn(16, generator=gen), torch.randn(16, generator=gen), weight, 1.9,
                1 + 0.1 * torch.randn(16, generator=gen), torch.randn(16, 4, generator=gen) / 4,
                torch.randn(4, 16, generator=gen) / 2)
        cases.append(Case(args, about))
    return cases


def _centre(x):
    return x - x.mean()


register(Exercise(
    "circuits.head_route", head_route, _route_cases,
    mistakes=[(lambda w, r, a, s, g, v, o: float(a * ((w / s * g) @ v @ o @ r)),
               "the head's LayerNorm centres what it reads: subtract the mean of `write` first"),
              (lambda w, r, a, s, g, v, o: float(a * ((_centre(w) / s) @ v @ o @ r)),
               "multiply by the LayerNorm's weight `ln_weight` after dividing by the scale"),
              (lambda w, r, a, s, g, v, o: float((_centre(w) / s * g) @ v @ o @ r),
               "the route is scaled by the frozen attention weight from the reader's position to the source's"),
              (lambda w, r, a, s, g, v, o: float(a * ((_centre(w) * g) @ v @ o @ r)),
               "divide by the frozen LayerNorm scale at the source position")],
    atol=1e-4))


def _error_reference(tc, x, mlp_out):
    return mlp_out - tc(x)


def _error_cases():
    tc = _transcoders()[0]
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 128, generator=gen)
    x = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True)  # like a LayerNorm's output
    return [Case((tc, x, torch.randn(6, 128, generator=gen) * 0.5), "six rows of a normalised input")]


register(Exercise(
    "circuits.error_term", _error_reference, _error_cases,
    mistakes=[(lambda tc, x, y: tc(x) - y, "the error is what the transcoder misses: the MLP's output minus it"),
              (lambda tc, x, y: y - (tc.encode(x) @ tc.W_dec + tc.b_dec) / tc.scale_out,
               "the transcoder has a skip path: its output includes (scale_in · x) @ W_skip / scale_out (use tc(x))"),
              (lambda tc, x, y: y - (tc.encode(x) @ tc.W_dec + tc.b_dec + (x * tc.scale_in) @ tc.W_skip),
               "divide the reconstruction by scale_out: the transcoder works in scaled units inside"),
              (lambda tc, x, y: (y - tc(x)).norm(dim=-1),
               "return the error vectors [rows, d_model], not their norms")],
    atol=1e-4))


def _graph(edges: dict, values: list[float], kinds: str) -> AttributionGraph:
    """A hand-made graph: ``kinds`` is one letter per node (t token, f feature, e error, T target)."""
    names = {"t": "token", "f": "feature", "e": "error", "T": "target"}
    nodes = [Node(names[k], 0, i, label=f"{names[k]} {i}") for i, k in enumerate(kinds)]
    matrix = torch.zeros(len(kinds), len(kinds))
    for (reader, source), weight in edges.items():
        matrix[reader, source] = weight
    return AttributionGraph(nodes, matrix, torch.zeros(len(kinds)), torch.tensor(values), [0])


def _prune_cases():
    # A token that reaches the target only through one strong feature, a weak direct token, and an error term.
    chain = _graph({(2, 0): 3.0, (4, 2): 2.5, (4, 1): 0.4, (4, 3): 0.6, (2, 1): 0.5}, [1, 1, 3.5, 1, 3.5], "ttfeT")
    # A large feature that hardly reaches the target, beside a smaller one that carries most of it.
    fan = _graph({(2, 0): 2.0, (3, 1): 5.0, (5, 2): 1.5, (5, 3): 0.1, (5, 4): 0.3, (5, 0): 0.2},
                 [1, 1, 2.0, 5.0, 1, 2.1], "ttffeT")
    return [Case((chain, 0.8), "a chain token -> feature -> target"), Case((chain, 0.5), "the same, half"),
            Case((fan, 0.7), "a large feature that hardly matters beside a smaller one that does")]


def _by_value(graph, share):
    order = sorted(range(len(graph.nodes) - 1), key=lambda i: -abs(float(graph.values[i])))
    for n in range(len(order) + 1):
        if graph.carried(order[:n]) >= share:
            return sorted(order[:n] + [graph.target])
    return sorted(order + [graph.target])


def _by_direct_edge(graph, share):
    order = sorted(range(len(graph.nodes) - 1), key=lambda i: -abs(float(graph.edges[graph.target, i])))
    for n in range(len(order) + 1):
        if graph.carried(order[:n]) >= share:
            return sorted(order[:n] + [graph.target])
    return sorted(order + [graph.target])


def _without_target(graph, share):
    return [i for i in graph.prune(share) if i != graph.target]


register(Exercise(
    "circuits.prune_graph", lambda graph, share: graph.prune(share), _prune_cases,
    mistakes=[(_by_value, "rank nodes by the path mass through them (`graph.mass_through()`), not by their value"),
              (_by_direct_edge, "rank by the mass of *all* paths through a node (`graph.mass_through()`), not only "
               "its direct edge to the target: a token can matter through a feature"),
              (_without_target, "keep the target in the returned list")]))
