"""Transcoder circuits: the graph of attributions from a prompt's tokens, through transcoder features, to a target.

    graph = attribution_graph(model, tokens, transcoders, LogitTarget(answer=lily, wrong=tom))
    graph.check_sum                   # every node's incoming edges plus its bias equal its value
    kept = graph.prune(0.8)           # the fewest nodes that carry 80% of the target
    graph.paths_needed(0.9)           # the fewest paths, largest first, that carry 90%

The method is Dunefsky, Chlenski and Nanda (2024), "Transcoders find interpretable LLM feature circuits", in our
own code. Replace every MLP by its transcoder plus an error term (what the transcoder misses on this prompt, a
constant), freeze every attention pattern and every LayerNorm scale at the values of the model's own run, and hold
the set of active features fixed. Then the model is linear in what each node writes, and every feature's
activation is exactly a sum of edges from earlier nodes plus a constant:

- **nodes**: one per input token (its token and position embeddings), one per active transcoder feature at each
  layer and position (``L1 #812 @5``), one error term per layer and position, and the target (a logit
  difference, a centred logit, or one feature's pre-activation);
- **edges**: an earlier node's output read by a later node along every linear route between them: the residual
  stream, the transcoders' skip paths and the heads with their frozen patterns. An edge from feature j to
  feature i is j's activation times an input-invariant product (j's decoder row, then the routes, then i's
  encoder row), scaled only by the frozen patterns and LayerNorm scales;
- **bias**: what constants (attention and transcoder biases, LayerNorm biases) add to each node.

A path from a leaf (a token or an error term, or a node's bias) to the target has the product of its edges, each
divided by the activation of the feature it leaves; the paths' attributions add up to the target exactly. The
edges are one backward sweep of the linearised model with every node as a row of one batch. Introduced in
``notebooks/32_transcoders``.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from jaxtyping import Float, Int

from mi_widgets.analysis.first_position import prompt_ids
from mi_widgets.attribution import _token_id


FREEZABLE = ("patterns", "scales", "gates")
"""What `replacement_run` can hold at the graph's run: attention patterns, LayerNorm scales, TopK's choices."""


@dataclass(frozen=True)
class LogitTarget:
    """A logit difference ``answer - wrong`` at ``pos`` (or ``answer``'s centred logit when ``wrong`` is None)."""

    answer: int | str
    wrong: int | str | None = None
    pos: int = -1


@dataclass(frozen=True)
class FeatureTarget:
    """The pre-activation of transcoder feature ``feature`` of layer ``layer`` at ``pos``."""

    layer: int
    pos: int
    feature: int


@dataclass(frozen=True)
class Node:
    """One node of an attribution graph."""

    kind: str
    """"token", "feature", "error" or "target"."""
    layer: int
    """The layer whose MLP it belongs to; -1 for tokens, ``n_layers`` for a logit target."""
    pos: int
    feature: int = -1
    label: str = ""

    def __str__(self) -> str:
        return self.label


@dataclass
class AttributionGraph:
    """Nodes, the edges between them, and what they need to be checked and pruned; see the module docstring."""

    nodes: list[Node]
    edges: Float[torch.Tensor, "n n"]
    """``edges[i, j]``: node j's attribution to node i along every linear route (zero if j cannot reach i)."""
    bias: Float[torch.Tensor, "n"]
    """What constants add to each node (zero for tokens and errors)."""
    values: Float[torch.Tensor, "n"]
    """Each node's value in the model's run: a feature's activation, an error's and a token's own size (the norm of
    what it writes), the target's value."""
    tokens: list[int]
    frozen: dict = field(repr=False, default_factory=dict)
    """The run's frozen patterns and LayerNorm scales, and the transcoders (for `adjacent_routes`)."""

    @property
    def target(self) -> int:
        return len(self.nodes) - 1

    @property
    def features(self) -> np.ndarray:
        return np.array([i for i, n in enumerate(self.nodes) if n.kind == "feature"], dtype=int)

    @property
    def check_sum(self) -> float:
        """The largest gap, over features and the target, between a node's value and its incoming edges plus bias.

        Float error if the graph is exact; anything larger means a route or a constant is missing."""
        inner = [i for i, n in enumerate(self.nodes) if n.kind in ("feature", "target")]
        gap = self.edges[inner].sum(1) + self.bias[inner] - self.values[inner]
        return float(gap.abs().max())

    def unit_weights(self, absolute: bool = False) -> Float[torch.Tensor, "n n"]:
        """Edges per unit of the source: an edge out of a feature divided by its activation (a leaf is its own
        unit). Products of these along a path, times the leaf, are the path's attribution."""
        key = f"unit_weights_{absolute}"
        if key not in self.frozen:  # cached: pruning solves with them a dozen times
            scale = torch.ones(len(self.nodes))
            feats = torch.as_tensor(self.features)
            scale[feats] = self.values[feats]
            weights = (self.edges / scale[None]).double()
            self.frozen[key] = weights.abs() if absolute else weights
        return self.frozen[key]

    def influence(self, absolute: bool = False, keep: Sequence[int] | None = None) -> Float[torch.Tensor, "n"]:
        """Each node's derivative of the target per unit (through every path), in the linearised model.

        With ``absolute``, the sum over paths of the products' absolute values (the mass of paths through the
        node); with ``keep``, only paths whose nodes are all kept (the target always is)."""
        weights = self.unit_weights(absolute)
        if keep is not None:
            kept = torch.zeros(len(self.nodes), dtype=torch.bool)
            kept[torch.as_tensor(list(keep), dtype=torch.long)] = True
            kept[self.target] = True
            # Paths through a dropped node vanish: zeroing its column suffices, as nothing then flows out of it.
            weights = weights * kept[None]
        # x = e_T + W^T x. Nodes are in forward order, so W is strictly lower triangular and this is one
        # triangular solve.
        system = torch.eye(len(self.nodes), dtype=torch.float64) - weights.T
        one_hot = torch.zeros(len(self.nodes), 1, dtype=torch.float64)
        one_hot[self.target] = 1.0
        return torch.linalg.solve_triangular(system, one_hot, upper=True, unitriangular=True)[:, 0].float()

    def leaf_attributions(self, absolute: bool = False, keep: Sequence[int] | None = None) -> Float[torch.Tensor, "n"]:
        """Each leaf's total attribution to the target (tokens and errors), and each node's bias times its influence.

        Returns one number per node: for tokens and errors, the sum over their paths; for features and the target,
        their bias's paths. These add up to the target's value exactly (``absolute=False``), which is what makes
        shares of the target well defined."""
        x = self.influence(absolute, keep)
        bias = self.bias.abs() if absolute else self.bias
        out = bias * x
        leaves = torch.as_tensor([i for i, n in enumerate(self.nodes) if n.kind in ("token", "error")])
        if len(leaves):
            out[leaves] = x[leaves]
        if keep is not None:
            mask = torch.zeros(len(self.nodes), dtype=torch.bool)
            mask[torch.as_tensor(list(keep), dtype=torch.long)] = True
            mask[self.target] = True
            out = out * mask
        return out

    def shares(self) -> dict[str, float]:
        """The absolute path mass from each kind of leaf as a share of all of it: ``{"tokens": .., "bias": ..,
        "L0 error": .., ...}``."""
        mass = self.leaf_attributions(absolute=True)
        total = float(mass.sum())
        out: dict[str, float] = {}
        for node, m in zip(self.nodes, mass.tolist()):
            key = "tokens" if node.kind == "token" else f"L{node.layer} error" if node.kind == "error" else "bias"
            out[key] = out.get(key, 0.0) + m / total
        return out

    def carried(self, keep: Sequence[int]) -> float:
        """The share of the target's absolute path mass on paths that use only ``keep`` (and the target)."""
        return float(self.leaf_attributions(absolute=True, keep=keep).sum()) / self.total_mass

    @property
    def total_mass(self) -> float:
        """The sum over all leaf-to-target paths of their absolute attributions."""
        if "total_mass" not in self.frozen:
            self.frozen["total_mass"] = float(self.leaf_attributions(absolute=True).sum())
        return self.frozen["total_mass"]

    def prune(self, share: float = 0.8) -> list[int]:
        """The smallest set of nodes, by influence, whose paths carry ``share`` of the target's absolute path mass.

        Nodes are ranked by the mass of paths through them (into them from the leaves, times out of them to the
        target); the kept set is the shortest prefix of that ranking that carries ``share`` (found by bisection,
        since carrying grows with the prefix). The target is always kept."""
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        through = self.mass_through()
        through[self.target] = -1
        order = torch.argsort(through, descending=True, stable=True)[: len(self.nodes) - 1].tolist()
        low, high = 0, len(order)
        while low < high:
            mid = (low + high) // 2
            if self.carried(order[:mid]) >= share - 1e-9:
                high = mid
            else:
                low = mid + 1
        return sorted(order[:low] + [self.target])

    def mass_through(self) -> Float[torch.Tensor, "n"]:
        """Each node's absolute path mass to the target through it: the mass reaching it from the leaves (its own
        size for a leaf) times its absolute influence."""
        weights = self.unit_weights(absolute=True)
        system = torch.eye(len(self.nodes), dtype=torch.float64) - weights
        start = self.bias.abs().double()
        leaves = torch.as_tensor([i for i, n in enumerate(self.nodes) if n.kind in ("token", "error")])
        start[leaves] = 1.0
        # y = start + W y: the absolute mass arriving at each node, per unit of it.
        into = torch.linalg.solve_triangular(system, start[:, None], upper=False, unitriangular=True)[:, 0]
        return (into * self.influence(absolute=True).double()).float()

    def paths_needed(self, share: float, max_paths: int = 100_000) -> int | None:
        """The fewest leaf-to-target paths, largest attribution first, whose absolute attributions reach ``share`` of
        all paths' absolute mass; None if more than ``max_paths`` are needed.

        Paths come out of a best-first search in exact order: each partial path (from the target back to a node) is
        ranked by its product times the best completion below it, and a node's inputs are tried largest first."""
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        weights = self.unit_weights(absolute=True).numpy()
        bias = self.bias.abs().numpy().astype(np.float64)
        kinds = [n.kind for n in self.nodes]
        total = self.total_mass
        best = np.zeros(len(kinds))  # the largest product from any leaf (or a bias) up to each node, per unit
        for i in range(len(kinds)):  # nodes are in forward order: every input comes before its reader
            best[i] = 1.0 if kinds[i] in ("token", "error") else max(bias[i], float((weights[i] * best).max()))
        children: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def inputs(i: int):
            if i not in children:
                # A bias is a terminal input, numbered -1; the others are nodes, each with its best completion.
                idx = np.flatnonzero(weights[i])
                key = weights[i, idx] * best[idx]
                idx, key = np.append(idx, -1), np.append(key, bias[i])
                order = np.argsort(-key, kind="stable")
                children[i] = (idx[order], key[order])
            return children[i]

        heap = [(-best[self.target], 1.0, self.target, 0)]  # (priority, suffix product, node, rank of next input)
        found, mass = 0, 0.0
        while heap and found < max_paths:
            _, suffix, node, rank = heapq.heappop(heap)
            idx, key = inputs(node)
            if rank + 1 < len(idx):
                heapq.heappush(heap, (-suffix * key[rank + 1], suffix, node, rank + 1))
            child = int(idx[rank])
            if child == -1 or kinds[child] in ("token", "error"):
                found += 1
                mass += suffix * (bias[node] if child == -1 else weights[node, child])
                if mass >= share * total - 1e-12:
                    return found
            else:
                heapq.heappush(heap, (-suffix * key[rank], suffix * weights[node, child], child, 0))
        return None

    def adjacent_routes(self, source: int, target: int) -> dict[str, float]:
        """An edge between features of adjacent layers split by route: ``residual`` (the same position) and each
        head of the later layer (``L2H1``); they add up to ``edges[target, source]``."""
        s, t = self.nodes[source], self.nodes[target]
        if s.kind != "feature" or t.kind != "feature" or t.layer != s.layer + 1:
            raise ValueError("routes are split for an edge from a feature to a feature of the next layer")
        f = self.frozen
        tc_s, tc_t = f["transcoders"][s.layer], f["transcoders"][t.layer]
        write = self.values[source] * tc_s.W_dec[s.feature].detach().float() / tc_s.scale_out
        read = _centre(tc_t.scale_in * tc_t.W_enc[t.feature].detach().float()) / f["scale2"][t.layer][t.pos]
        out = {"residual": float(write @ read) if s.pos == t.pos else 0.0}
        for h in range(f["n_heads"]):
            out[f"L{t.layer}H{h}"] = head_route(write, read, float(f["pattern"][t.layer][h, t.pos, s.pos]),
                                                float(f["scale1"][t.layer][s.pos]), f["ln1_w"][t.layer],
                                                f["W_V"][t.layer][h], f["W_O"][t.layer][h])
        return out


def head_route(write: Float[torch.Tensor, "d_model"], read: Float[torch.Tensor, "d_model"], weight: float,
               scale: float, ln_weight: Float[torch.Tensor, "d_model"], W_V: Float[torch.Tensor, "d_model d_head"],
               W_O: Float[torch.Tensor, "d_head d_model"]) -> float:
    """The part of an edge that goes through one head with its pattern frozen.

    ``write`` is what the source writes into the residual stream at the source position; the head's LayerNorm
    there centres it, divides it by its frozen ``scale`` and multiplies it by ``ln_weight``; the OV map ``W_V @ W_O``
    carries it, times the frozen attention ``weight`` from the reader's position to the source's; and the reader
    takes the dot product with ``read`` (its own read vector, with its LayerNorm already in it)."""
    value = _centre(write) / scale * ln_weight
    return float(weight * (value @ W_V @ W_O @ read))


def _centre(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(-1, keepdim=True)


def _check_inputs(model, tokens, transcoders) -> torch.Tensor:
    tokens = prompt_ids(model, tokens)
    if model.cfg.attn_only:
        raise ValueError("an attention-only model has no MLPs to put transcoders on")
    if model.cfg.normalization_type not in ("LN", "LNPre"):
        raise ValueError(f"attribution graphs need LayerNorm (the model has {model.cfg.normalization_type})")
    missing = [layer for layer in range(model.cfg.n_layers) if layer not in transcoders]
    if missing:
        raise ValueError(f"give a transcoder for every MLP: layers {missing} have none")
    for layer, tc in transcoders.items():
        if not tc.cfg.is_transcoder or tc.cfg.kind != "topk":
            raise ValueError(f"layer {layer}: a TopK transcoder is needed (got {tc.cfg.kind}, "
                             f"{'transcoder' if tc.cfg.is_transcoder else 'SAE'})")
        want = (f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out")
        if (tc.cfg.hook_in, tc.cfg.hook_out) != want:
            raise ValueError(f"layer {layer}: the transcoder reads {tc.cfg.hook_in} -> {tc.cfg.hook_out}, "
                             f"expected {want[0]} -> {want[1]}")
    return tokens


def _label(model, tok: int) -> str:
    return repr(model.tokenizer.decode([tok])) if model.tokenizer is not None else str(tok)


@torch.no_grad()
def attribution_graph(model, tokens: Sequence[int] | Int[torch.Tensor, "pos"], transcoders: Mapping[int, object],
                      target: LogitTarget | FeatureTarget, chunk: int = 512) -> AttributionGraph:
    """The attribution graph of ``target`` on one prompt (token ids, BOS first if the model expects it).

    ``transcoders`` maps every layer to the TopK transcoder of its MLP (``blocks.{l}.ln2.hook_normalized`` to
    ``blocks.{l}.hook_mlp_out``). Positions after the target's are dropped (they cannot reach it). ``chunk`` nodes
    are swept backwards at a time (memory: ``chunk × pos × n_heads × d_model`` floats).

        graph = attribution_graph(model, ids, transcoders, LogitTarget(" Lily", " Tom"))
        graph.check_sum < 1e-3   # exact up to float error
    """
    tokens = _check_inputs(model, tokens, transcoders)
    cfg = model.cfg
    if isinstance(target, FeatureTarget):
        if not 0 <= target.layer < cfg.n_layers:
            raise ValueError(f"layer {target.layer} is outside the model's {cfg.n_layers} layers")
        pos = target.pos
    elif isinstance(target, LogitTarget):
        pos = target.pos
    else:
        raise TypeError(f"target must be a LogitTarget or a FeatureTarget, got {type(target).__name__}")
    if not -len(tokens) <= pos < len(tokens):
        raise ValueError(f"pos {pos} is outside the prompt's {len(tokens)} positions")
    pos = pos % len(tokens)
    tokens = tokens[: pos + 1]
    n_pos, n_layers, device = len(tokens), cfg.n_layers, cfg.device
    logits, cache = model.run_with_cache(tokens[None].to(device))
    get = lambda name: cache[name][0].detach().float().cpu()  # noqa: E731
    tcs = {layer: transcoders[layer] for layer in range(n_layers)}
    W_V = [model.W_V[l].detach().float().cpu() for l in range(n_layers)]  # noqa: E741
    W_O = [model.W_O[l].detach().float().cpu() for l in range(n_layers)]  # noqa: E741
    if W_V[0].shape[0] != cfg.n_heads:  # grouped-query attention: each key-value head serves several heads
        W_V = [w.repeat_interleave(cfg.n_heads // w.shape[0], dim=0) for w in W_V]
    frozen = {"pattern": [get(f"blocks.{l}.attn.hook_pattern") for l in range(n_layers)],  # noqa: E741
              "scale1": [get(f"blocks.{l}.ln1.hook_scale")[:, 0] for l in range(n_layers)],  # noqa: E741
              "scale2": [get(f"blocks.{l}.ln2.hook_scale")[:, 0] for l in range(n_layers)],  # noqa: E741
              "scale_final": get("ln_final.hook_scale")[:, 0],
              "ln1_w": [_ln_weight(model.blocks[l].ln1) for l in range(n_layers)],  # noqa: E741
              "W_V": W_V, "W_O": W_O, "n_heads": cfg.n_heads, "transcoders": tcs}

    # The nodes, in forward order: tokens, then each layer's features (by position) and errors, then the target.
    nodes = [Node("token", -1, p, label=f"tok {p} {_label(model, int(t))}") for p, t in enumerate(tokens.tolist())]
    writes = [(model.W_E[tokens].detach().float().cpu() + model.W_pos[:n_pos].detach().float().cpu())]  # [pos, d]
    values = [w.norm() for w in writes[0]]
    act_of: dict[tuple[int, int, int], int] = {}
    for layer in range(n_layers):
        tc = tcs[layer]
        x = cache[tc.cfg.hook_in][0].float().to(tc.W_dec.device)
        codes = tc.encode(x).detach().float().cpu()  # [pos, width]
        recon = tc(x).detach().float().cpu()
        error = get(tc.cfg.hook_out) - recon
        for p in range(n_pos):
            for f_ in torch.nonzero(codes[p]).flatten().tolist():
                act_of[(layer, p, f_)] = len(nodes)
                nodes.append(Node("feature", layer, p, f_, f"L{layer} #{f_} @{p}"))
                values.append(codes[p, f_])
        for p in range(n_pos):
            nodes.append(Node("error", layer, p, label=f"L{layer} error @{p}"))
            values.append(error[p].norm())
        feat = [(n.pos, n.feature) for n in nodes if n.kind == "feature" and n.layer == layer]
        fw = torch.stack([codes[p, f_] * tc.W_dec[f_].detach().float().cpu() / tc.scale_out.cpu()
                          for p, f_ in feat]) if feat else torch.zeros(0, cfg.d_model)
        writes.append((feat, fw, error))

    if isinstance(target, FeatureTarget):
        if (target.layer, pos, target.feature) not in act_of:
            tc = tcs[target.layer]
            if not 0 <= target.feature < tc.cfg.width:
                raise ValueError(f"feature {target.feature} is outside the transcoder's {tc.cfg.width} features")
        x = cache[tcs[target.layer].cfg.hook_in][0, pos].float().to(tcs[target.layer].W_dec.device)
        tc = tcs[target.layer]
        value = float((tc.scale_in * x) @ tc.W_enc[target.feature] + tc.b_enc[target.feature])
        nodes.append(Node("target", target.layer, pos, target.feature, f"target L{target.layer} #{target.feature} @{pos}"))
    else:
        answer = _token_id(model, target.answer)
        wrong = None if target.wrong is None else _token_id(model, target.wrong)
        last = logits[0, pos].float().cpu()
        value = float(last[answer] - (last[wrong] if wrong is not None else last.mean()))
        label = f"logit {_label(model, answer)}" + (f" − {_label(model, wrong)}" if wrong is not None else " (centred)")
        nodes.append(Node("target", n_layers, pos, label=label))
    values.append(torch.tensor(value))
    values = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in values])

    # Each node (a feature or the target) as the start of a backward sweep: the gradient of its pre-activation
    # with respect to the residual stream, at the site where it reads.
    # Readers sorted from the last layer down: at each layer of the sweep, the rows still needed are a prefix.
    reader = sorted((i for i, n in enumerate(nodes) if n.kind in ("feature", "target")),
                    key=lambda i: -nodes[i].layer)
    index = {(n.kind, n.layer, n.pos, n.feature): i for i, n in enumerate(nodes)}
    n = len(nodes)
    edges, bias = torch.zeros(n, n), torch.zeros(n)
    for rows in torch.as_tensor(reader).split(chunk):
        e, b = _sweep(model, frozen, nodes, index, rows.tolist(), writes, target, pos)
        edges[rows] = e
        bias[rows] = b
    return AttributionGraph(nodes, edges, bias, values, tokens.tolist(), frozen)


def _ln_weight(ln) -> torch.Tensor:
    w = getattr(ln, "w", None)
    return w.detach().float().cpu() if w is not None else torch.ones(ln.cfg.d_model)


def _ln_bias(ln) -> torch.Tensor:
    b = getattr(ln, "b", None)
    return b.detach().float().cpu() if b is not None else torch.zeros(ln.cfg.d_model)


def _sweep(model, frozen, nodes, index, rows, writes, target, pos):
    """Edges into and bias of the reading nodes ``rows`` (sorted by layer, last first): one backward pass of the
    linearised model with the rows as a batch. A row joins where its node reads (its layer's MLP input, or the
    final LayerNorm for a logit) and leaves nothing behind above it."""
    cfg, n_layers = model.cfg, model.cfg.n_layers
    tcs, n_pos = frozen["transcoders"], len(frozen["scale_final"])
    cpu = lambda t: t.detach().float().cpu()  # noqa: E731
    starts = torch.as_tensor([nodes[i].layer for i in rows])
    grad = torch.zeros(len(rows), n_pos, cfg.d_model)  # d(reader) / d(residual stream), at the current site
    bias = torch.zeros(len(rows))
    edges = torch.zeros(len(rows), len(nodes))
    if nodes[rows[0]].kind == "target" and isinstance(target, LogitTarget):
        # The logit reads the last residual stream through the final LayerNorm (its scale frozen).
        W_U, b_U, answer = cpu(model.W_U), cpu(model.b_U), _token_id(model, target.answer)
        if target.wrong is None:
            direction, const = W_U[:, answer] - W_U.mean(1), b_U[answer] - b_U.mean()
        else:
            wrong = _token_id(model, target.wrong)
            direction, const = W_U[:, answer] - W_U[:, wrong], b_U[answer] - b_U[wrong]
        grad[0, pos] = _centre(direction * _ln_weight(model.ln_final)) / frozen["scale_final"][pos]
        bias[0] = const + _ln_bias(model.ln_final) @ direction
    for layer in reversed(range(n_layers)):
        tc = tcs[layer]
        live = int((starts > layer).sum())  # rows that read above this layer's MLP output
        g = grad[:live]
        feat, fw, error = writes[layer + 1]
        # What this layer's MLP writes (features, errors, the transcoder's bias) is read after it.
        for p in range(n_pos):
            at = [j for j, (q, _) in enumerate(feat) if q == p]
            if at:
                idx = torch.as_tensor([index[("feature", layer, p, feat[j][1])] for j in at])
                edges[:live, idx] = g[:, p] @ fw[at].T
        err_idx = torch.as_tensor([index[("error", layer, p, -1)] for p in range(n_pos)])
        edges[:live, err_idx] = (g * error[None]).sum(-1)
        bias[:live] += g.sum(1) @ (cpu(tc.b_dec) / float(tc.scale_out))
        # Back through the skip path, which is linear in the MLP's normalised input.
        scale2 = frozen["scale2"][layer]
        if tc.W_skip is not None:
            back = g @ cpu(tc.W_skip).T * float(tc.scale_in / tc.scale_out)
            grad[:live] = g + _centre(back) / scale2[None, :, None]
        # This layer's features start here, at the MLP's input: their encoder row through the frozen LayerNorm.
        mine = torch.nonzero(starts == layer).flatten()
        if len(mine):
            feats = torch.as_tensor([nodes[rows[b]].feature for b in mine.tolist()])
            where = torch.as_tensor([nodes[rows[b]].pos for b in mine.tolist()])
            enc = cpu(tc.W_enc)[feats] * float(tc.scale_in)
            grad[mine, where] += _centre(enc) / scale2[where, None]
            bias[mine] += cpu(tc.b_enc)[feats]
        live = int((starts >= layer).sum())
        g = grad[:live]
        # Back through attention: the constants it writes (b_O, and b_V and the LayerNorm's bias through the OV
        # maps, since each pattern row sums to 1), then each head with its frozen pattern.
        W_V, W_O = frozen["W_V"][layer], frozen["W_O"][layer]
        b_V = cpu(model.b_V[layer])
        if b_V.shape[0] != cfg.n_heads:
            b_V = b_V.repeat_interleave(cfg.n_heads // b_V.shape[0], dim=0)
        ln1_b = _ln_bias(model.blocks[layer].ln1)
        attn_const = cpu(model.b_O[layer]) + torch.einsum(
            "hd,hdm->m", torch.einsum("m,hmd->hd", ln1_b, W_V) + b_V, W_O)
        bias[:live] += g.sum(1) @ attn_const
        through = torch.einsum("bqm,hdm->bqhd", g, W_O)
        through = torch.einsum("bqhd,hmd->bqhm", through, W_V)
        through = torch.einsum("hqs,bqhm->bsm", frozen["pattern"][layer], through) * frozen["ln1_w"][layer]
        grad[:live] = g + _centre(through) / frozen["scale1"][layer][None, :, None]
    edges[:, :n_pos] = (grad * writes[0][None]).sum(-1)  # the token nodes come first
    return edges, bias


@torch.no_grad()
def replacement_run(model, graph: AttributionGraph, target: LogitTarget | FeatureTarget,
                    ablate: Sequence[Sequence[int]], frozen: bool | Collection[str] = False) -> Float[torch.Tensor, "rows"]:
    """The target's value in the replacement model, once per set of feature nodes to switch off.

    The replacement model is the model with each MLP replaced by its transcoder plus the error term of the graph's
    run (held fixed), which reproduces the model exactly when nothing is switched off. Each entry of ``ablate`` is a
    list of ``graph`` node indices (features) whose activation is set to zero at their position; one batch row per
    entry. Everything else is recomputed: attention patterns, LayerNorm scales and which features the TopK picks.
    With ``frozen=True``, patterns and scales are held at the graph's run and every feature keeps its own
    pre-activation on the run's active set (no TopK, no ReLU): the linearised model the graph describes, where
    predictions from `AttributionGraph.influence` are exact. A subset of ``{"patterns", "scales", "gates"}`` freezes
    only those, to see which nonlinearity a prediction misses.
    """
    frozen = set(FREEZABLE if frozen is True else () if frozen is False else frozen)
    if frozen - set(FREEZABLE):
        raise ValueError(f"can freeze {FREEZABLE}, not {sorted(frozen - set(FREEZABLE))}")
    tokens = torch.tensor(graph.tokens, device=model.cfg.device)
    rows = len(ablate)
    if rows == 0:
        raise ValueError("give at least one set of features to ablate (an empty set is the unablated run)")
    tcs = graph.frozen["transcoders"]
    n_pos = len(graph.tokens)
    off = {layer: torch.zeros(rows, n_pos, tcs[layer].cfg.width, dtype=torch.bool) for layer in tcs}
    for r, nodes in enumerate(ablate):
        for i in nodes:
            node = graph.nodes[i]
            if node.kind != "feature":
                raise ValueError(f"node {i} ({node.label}) is not a feature; only features are ablated")
            off[node.layer][r, node.pos, node.feature] = True
    clean_in, error = {}, {}
    _, cache = model.run_with_cache(tokens[None])
    for layer, tc in tcs.items():
        clean_in[layer] = cache[tc.cfg.hook_in][0].float().to(tc.W_dec.device)
        error[layer] = cache[tc.cfg.hook_out][0].float().to(tc.W_dec.device) - tc(clean_in[layer])
    seen = {}

    def keep_input(act, hook):
        seen[hook.layer()] = act
        return act

    def replace_mlp(act, hook):
        layer = hook.layer()
        tc = tcs[layer]
        x = seen[layer].float().to(tc.W_dec.device)
        if "gates" in frozen:
            active = tc.encode(clean_in[layer]) > 0  # [pos, width]
            codes = ((tc.scale_in * x) @ tc.W_enc.T + tc.b_enc) * active
        else:
            codes = tc.encode(x)
        codes = codes.masked_fill(off[layer].to(codes.device), 0.0)
        out = tc.decode(codes, x) + error[layer]
        return out.to(act.dtype).to(act.device)

    hooks = []
    for layer, tc in tcs.items():
        hooks += [(tc.cfg.hook_in, keep_input), (tc.cfg.hook_out, replace_mlp)]
    names = ([f"blocks.{l}.attn.hook_pattern" for l in range(model.cfg.n_layers)] if "patterns" in frozen else [])
    if "scales" in frozen:
        names += [f"blocks.{l}.{ln}.hook_scale" for l in range(model.cfg.n_layers) for ln in ("ln1", "ln2")]
        names.append("ln_final.hook_scale")
    if names:
        hooks += [(name, lambda act, hook: cache[hook.name].expand_as(act)) for name in names]
    logits = model.run_with_hooks(tokens[None].expand(rows, -1), fwd_hooks=hooks)
    pos = target.pos % n_pos
    if isinstance(target, FeatureTarget):
        tc = tcs[target.layer]
        x = seen[target.layer][:, pos].float().to(tc.W_dec.device)
        return ((tc.scale_in * x) @ tc.W_enc[target.feature] + tc.b_enc[target.feature]).cpu()
    last = logits[:, pos].float().cpu()
    answer = _token_id(model, target.answer)
    other = last[:, _token_id(model, target.wrong)] if target.wrong is not None else last.mean(-1)
    return last[:, answer] - other


def ablation_check(model, graph: AttributionGraph, target: LogitTarget | FeatureTarget, features: Sequence[int],
                   frozen: bool | Collection[str] = False) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and measured changes of the target when each feature node in ``features`` is switched off alone.

    Predicted: minus the feature's activation times its influence (every path, in the linearised model). Measured:
    `replacement_run` with that feature zeroed, minus the unablated run. With ``frozen`` they agree to float error;
    without, the gap is what the linearisation misses (patterns, LayerNorm scales and TopK choices that move).
    """
    features = list(features)
    if not features:
        raise ValueError("give at least one feature node to ablate")
    influence = graph.influence()
    predicted = np.array([-float(graph.values[i] * influence[i]) for i in features])
    runs = replacement_run(model, graph, target, [[]] + [[i] for i in features], frozen=frozen)
    return predicted, (runs[1:] - runs[0]).numpy()


def circuit_faithfulness(model, graph: AttributionGraph, target: LogitTarget | FeatureTarget,
                         keep: Sequence[int]) -> float:
    """How much of the target a circuit keeps: (only ``keep``'s features on - none on) / (all on - none on).

    Run in the replacement model (`replacement_run`, errors held), so 1 means the kept features do all that the
    features do together, and 0 that they do nothing beyond the errors, the skip paths and the biases."""
    kept = set(keep)
    feats = graph.features.tolist()
    full, none, only = replacement_run(model, graph, target, [[], feats, [i for i in feats if i not in kept]])
    if abs(float(full - none)) < 1e-6:
        raise ValueError("the features together do not move the target; faithfulness is undefined")
    return float((only - none) / (full - none))
