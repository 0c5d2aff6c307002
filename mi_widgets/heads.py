"""Attention-head detectors: previous-token and induction heads, scored from attention patterns.

An induction head, on a sequence of random tokens repeated twice, attends from each token of the second
copy to the token *after* that token's first occurrence, and so predicts the next token by copying. The
repeated-sequence test is the standard one (Olsson et al., 2022, "In-context Learning and Induction
Heads"). Introduced in ``notebooks/00_start/00_start.ipynb`` and used for the model cards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from jaxtyping import Float, Int

from mi_widgets.logprobs import next_token_losses


class InductionReport(NamedTuple):
    """Results of the repeated-random-tokens test."""

    scores: Float[torch.Tensor, "n_layers n_heads"]  # mean attention to the induction target
    loss_first: float  # mean next-token loss on the first copy (random: near log(d_vocab))
    loss_second: float  # mean next-token loss on the second copy (low when the model copies)

    @property
    def loss_ratio(self) -> float:
        return self.loss_second / self.loss_first

    def top_heads(self, n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` best heads as ("L.H", score), best first."""
        flat = self.scores.flatten()
        best = flat.topk(min(n, flat.numel()))
        n_heads = self.scores.shape[1]
        return [(f"{i // n_heads}.{i % n_heads}", round(v, 4)) for v, i in zip(best.values.tolist(), best.indices.tolist())]


def repeated_random_tokens(
    model, seq_len: int = 50, n_seqs: int = 20, seed: int = 0, pool: Sequence[int] | None = None
) -> Int[torch.Tensor, "n_seqs pos"]:
    """BOS, then ``seq_len`` random tokens, twice: shape [n_seqs, 1 + 2 * seq_len].

    The tokens are drawn uniformly from ``pool`` (default: every token but the special ones).
    """
    if not 1 <= 2 * seq_len + 1 <= model.cfg.n_ctx:
        raise ValueError(f"seq_len={seq_len} does not fit: 2 * seq_len + 1 must be at most n_ctx={model.cfg.n_ctx}")
    generator = torch.Generator().manual_seed(seed)
    special = set(model.tokenizer.all_special_ids) if model.tokenizer is not None else set()
    candidates = range(model.cfg.d_vocab) if pool is None else pool
    allowed = torch.tensor([t for t in candidates if t not in special and 0 <= t < model.cfg.d_vocab])
    if len(allowed) < 2:
        raise ValueError("the token pool needs at least two ordinary tokens")
    half = allowed[torch.randint(len(allowed), (n_seqs, seq_len), generator=generator)]
    bos = model.tokenizer.bos_token_id if model.tokenizer is not None else 0
    return torch.cat([torch.full((n_seqs, 1), bos), half, half], dim=1).to(model.cfg.device)


def induction_scores(pattern: Float[torch.Tensor, "batch heads pos pos"], seq_len: int) -> Float[torch.Tensor, "heads"]:
    """Each head's mean attention, over the second copy of a repeated sequence, to the token after the
    current token's first occurrence (``seq_len`` tokens back, plus one). Positions: BOS, copy 1, copy 2."""
    dest = torch.arange(seq_len + 1, 2 * seq_len + 1)
    return pattern[:, :, dest, dest - seq_len + 1].mean(dim=(0, 2))


def previous_token_pattern_scores(pattern: Float[torch.Tensor, "batch heads pos pos"]) -> Float[torch.Tensor, "heads"]:
    """Each head's mean attention from every position after the first two to the one right before it."""
    dest = torch.arange(2, pattern.shape[-1])
    return pattern[:, :, dest, dest - 1].mean(dim=(0, 2))


def copy_loss_ratio(losses: Float[torch.Tensor, "batch pos_minus_1"], seq_len: int) -> float:
    """Mean next-token loss on the second copy over the first, leaving out the two losses nothing can
    predict (the first random token, from BOS, and the second copy's first token)."""
    return (losses[:, seq_len + 1:].mean() / losses[:, 1:seq_len].mean()).item()


@torch.no_grad()
def induction_report(model, seq_len: int = 50, n_seqs: int = 20, seed: int = 0,
                     pool: Sequence[int] | None = None) -> InductionReport:
    """Score every head for induction and compare the loss on the two copies of random tokens."""
    tokens = repeated_random_tokens(model, seq_len, n_seqs, seed, pool)
    names = {f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)}
    logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    losses = next_token_losses(logits, tokens)  # [batch, pos - 1]; tokens 1..seq_len are the first copy
    loss_first = losses[:, 1:seq_len].mean().item()
    loss_second = losses[:, seq_len + 1:].mean().item()
    scores = torch.stack([induction_scores(cache[f"blocks.{layer}.attn.hook_pattern"], seq_len)
                          for layer in range(model.cfg.n_layers)])
    return InductionReport(scores.cpu(), loss_first, loss_second)


@torch.no_grad()
def previous_token_scores(model, tokens: Int[torch.Tensor, "batch pos"]) -> Float[torch.Tensor, "n_layers n_heads"]:
    """Mean attention from each token (after the first two) to the token right before it."""
    if tokens.ndim != 2 or tokens.shape[1] < 3:
        raise ValueError(f"tokens must be [batch, pos] with pos >= 3, got shape {tuple(tokens.shape)}")
    names = {f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)}
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    return torch.stack([previous_token_pattern_scores(cache[f"blocks.{layer}.attn.hook_pattern"])
                        for layer in range(model.cfg.n_layers)]).cpu()


@torch.no_grad()
def attention_to(model, rows: Sequence[Int[torch.Tensor, "pos"]],
                 picks: Sequence[tuple[int, int, int]]) -> Float[torch.Tensor, "n_layers n_heads"]:
    """Each head's mean attention weight from ``dest`` to ``src`` over ``picks`` of ``(row, dest, src)``.

    The evidence that a head reads a given earlier position: for instance, from the token before a repeated name
    to the name's earlier copy. Rows are run one at a time (they may differ in length).

        attention_to(model, rows, [(0, 41, 17), (2, 90, 33)])   # [n_layers, n_heads]
    """
    if not picks:
        raise ValueError("no (row, dest, src) picks to average over")
    by_row: dict[int, list[tuple[int, int]]] = {}
    for row, dest, src in picks:
        if not 0 <= src <= dest < len(rows[row]):
            raise ValueError(f"pick {(row, dest, src)} needs 0 <= src <= dest < {len(rows[row])} (the row's length)")
        by_row.setdefault(row, []).append((dest, src))
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    total = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for row, pairs in by_row.items():
        _, cache = model.run_with_cache(torch.as_tensor(rows[row])[None].to(model.cfg.device),
                                        names_filter=lambda name: name in names)
        dest, src = (torch.tensor(x) for x in zip(*pairs))
        total += torch.stack([cache[name][0][:, dest, src].sum(-1).cpu() for name in names])
    return total / len(picks)


# ---------------------------------------------------------------- the head wiki's detectors


def detector_masks(tokens: Int[torch.Tensor, "batch pos"], window: int = 4) -> dict[str, torch.Tensor]:
    """For each detector, which (query, key) pairs it looks for: a bool mask [batch, q, k] per name.

    ``previous token``: the key right before the query. ``duplicate token``: an earlier copy of the query's
    token. ``induction``: the token right after an earlier copy of the query's token (as TransformerLens's
    detector defines it, so the query itself when the token repeats back to back). ``BOS``: position 0, for
    queries after it. ``local``: the ``window`` keys before the query (not the query itself).
    """
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise ValueError(f"tokens must be [batch, pos] with pos >= 2, got shape {tuple(tokens.shape)}")
    n = tokens.shape[1]
    q, k = torch.arange(n)[:, None], torch.arange(n)[None, :]
    duplicate = (tokens[:, :, None] == tokens[:, None, :]) & (k < q)
    induction = torch.zeros_like(duplicate)
    induction[:, :, 1:] = duplicate[:, :, :-1]
    bos = ((k == 0) & (q > 0)).expand_as(duplicate)
    return {"previous token": ((k == q - 1)).expand_as(duplicate), "duplicate token": duplicate,
            "induction": induction & (k <= q), "BOS": bos, "local": ((k < q) & (k >= q - window)).expand_as(duplicate)}


def pattern_scores(pattern: Float[torch.Tensor, "batch heads pos pos"], mask: torch.Tensor) -> Float[torch.Tensor, "heads"]:
    """Each head's mean attention mass on the keys of ``mask`` [batch, q, k], over the queries that have any.

    TransformerLens's `detect_head` (its "mul" measure) averages over every query instead, so its score is this
    one times the share of queries the mask applies to.
    """
    applies = mask.any(-1)  # [batch, q]
    if not applies.any():
        return torch.full((pattern.shape[1],), float("nan"))
    mass = (pattern * mask[:, None].to(pattern.dtype)).sum(-1)  # [batch, heads, q]
    return (mass * applies[:, None]).sum((0, 2)) / applies.sum()


@torch.no_grad()
def detector_scores(model, tokens: Int[torch.Tensor, "batch pos"]) -> dict[str, Float[torch.Tensor, "n_layers n_heads"]]:
    """Every detector of `detector_masks` for every head, on ``tokens``, plus ``copying`` (`ov_copying_scores`).

    A detector with no query to apply to (no repeated token, say) scores NaN.
    """
    masks = detector_masks(tokens.cpu())
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens.to(model.cfg.device), names_filter=lambda name: name in names)
    out = {key: torch.stack([pattern_scores(cache[name].cpu(), mask) for name in names]) for key, mask in masks.items()}
    out["copying"] = ov_copying_scores(model)
    return out


@torch.no_grad()
def ov_copying_scores(model) -> Float[torch.Tensor, "n_layers n_heads"]:
    """How much each head's full OV circuit ``W_E W_V W_O W_U`` copies: the sum of its eigenvalues over the sum of
    their absolute values.

    1 for a head whose OV circuit raises the logit of the token it attends to and only that, -1 for one that
    suppresses it (Elhage et al. 2021). The nonzero eigenvalues of the [d_vocab, d_vocab] circuit are those of
    the [d_head, d_head] matrix ``W_O W_U W_E W_V``, which is what is computed. LayerNorm is left out.
    """
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    unembed_embed = (model.W_U @ model.W_E).float()  # [d_model, d_model]
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            small = model.W_O[layer, head].float() @ unembed_embed @ model.W_V[layer, head].float()
            eig = torch.linalg.eigvals(small)
            out[layer, head] = float(eig.sum().real / eig.abs().sum().clamp_min(1e-12))
    return out


@torch.no_grad()
def composition_baseline(model, mode: str, n: int = 200, seed: int = 0) -> Float[torch.Tensor, "n"]:
    """Composition scores (`HookedTransformer.all_composition_scores`' measure) of ``n`` pairs of random heads
    with this model's shapes: Gaussian ``W_V, W_O`` for the sender and ``W_Q, W_K`` (or ``W_V, W_O`` for
    V-composition) for the receiver. A real pair's score means something only well above these.

    The score is ``||W_OV^sender R|| / (||W_OV^sender|| ||R||)`` (Frobenius), with ``R`` the receiver's ``W_QK``
    (Q), its transpose (K) or its ``W_OV`` (V).

        random = composition_baseline(model, "K", n=1000)
        float(random.quantile(0.99))     # a K-composition above this is not chance
    """
    if mode not in ("Q", "K", "V"):
        raise ValueError(f"mode must be 'Q', 'K' or 'V', got {mode!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    g = torch.Generator().manual_seed(seed)
    d_model, d_head = model.cfg.d_model, model.cfg.d_head

    def product() -> torch.Tensor:  # [n, d_model, d_model] of rank d_head, as a head's W_OV or W_QK is
        return torch.randn(n, d_model, d_head, generator=g) @ torch.randn(n, d_head, d_model, generator=g)

    sender, receiver = product(), product()
    right = receiver.transpose(1, 2) if mode == "K" else receiver
    return (sender @ right).flatten(1).norm(dim=1) / (sender.flatten(1).norm(dim=1) * right.flatten(1).norm(dim=1))
