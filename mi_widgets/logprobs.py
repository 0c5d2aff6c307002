"""Score a model on text: the log-probability and rank of every next token, and of continuations.

Sequences in a batch are right-padded (`pad_rows`): attention is causal, so padding after a sequence
never changes the logits of its real tokens. `token_scores` is the one scoring core, and memory-light: it
keeps two numbers per token (log-probability and rank of the token that follows), batches rows of similar
length together, and runs a row that is a prefix of another row inside the longer row's pass. Introduced in
``notebooks/00_start/00_start.ipynb`` (`token_losses`); `token_scores` and `text_scores` in
``notebooks/20_capabilities/20_capabilities.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from jaxtyping import Float, Int


def pad_rows(rows: list[list[int]], pad: int) -> tuple[Int[torch.Tensor, "batch pos"], Int[torch.Tensor, "batch"]]:
    """Token rows right-padded with ``pad`` into one tensor, and each row's length.

    Attention is causal, so the padding after a row never changes the logits of its real tokens.
    """
    if not rows:
        raise ValueError("need at least one row")
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return tokens, torch.tensor([len(r) for r in rows])


def continuation_logprobs(model, prompts: Sequence[str], continuations: Sequence[str],
                          batch_size: int = 32) -> Float[torch.Tensor, "n"]:
    """Sum of log P(continuation tokens | prompt) for each pair; prompts are left-truncated to fit."""
    if len(prompts) != len(continuations) or not prompts:
        raise ValueError("need as many continuations as prompts, and at least one of each")
    tok = model.tokenizer
    rows, firsts = [], []
    for prompt, cont in zip(prompts, continuations):
        cont_ids = tok(cont, add_special_tokens=False)["input_ids"]
        if not cont_ids:
            raise ValueError(f"continuation {cont!r} has no tokens")
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"][-(model.cfg.n_ctx - 1 - len(cont_ids)):]
        rows.append([tok.bos_token_id, *prompt_ids, *cont_ids])
        firsts.append(len(prompt_ids))  # the position that predicts the first continuation token
    scores = token_scores(model, rows, batch_size, first=firsts)
    return torch.stack([sc.logprobs[f:].sum() for sc, f in zip(scores, firsts)])


def windows(length: int, n_ctx: int) -> list[tuple[int, int, int]]:
    """Cover a BOS-first token list of ``length`` tokens with rows of at most ``n_ctx`` tokens.

    Returns (start, lo, hi) per row: the row is ``[ids[0]] + ids[start + 1: start + n_ctx]`` and it
    scores the targets ``ids[lo:hi]``. Rows step by half a context, so every target is predicted from
    at least ``n_ctx // 2`` tokens of its story.
    """
    if n_ctx < 4:
        raise ValueError(f"n_ctx must be at least 4, got {n_ctx}")
    out, start, lo = [], 0, 1
    while lo < length:
        hi = min(start + n_ctx, length)
        out.append((start, lo, hi))
        start, lo = start + n_ctx // 2, hi
    return out


def _window_rows(ids_list: list[list[int]], n_ctx: int) -> tuple[list[list[int]], list[list[tuple[int, int, int]]]]:
    """The rows that cover each BOS-first token list (see `windows`), and each list's plan."""
    plans = [windows(len(ids), n_ctx) for ids in ids_list]
    rows = [[ids[0], *ids[s + 1: s + n_ctx]] for ids, plan in zip(ids_list, plans) for s, _, _ in plan]
    return rows, plans


class TokenScores(NamedTuple):
    """How well a model predicts the tokens of one row: entry ``p`` is about ``row[p + 1]``."""

    logprobs: Float[torch.Tensor, "pos"]  # log P(row[p + 1] | row[: p + 1])
    ranks: Int[torch.Tensor, "pos"]  # 1 + the number of tokens the model prefers to row[p + 1]
    also: Float[torch.Tensor, "k"]  # log-probabilities of the (position, token) pairs asked for in `also`


def _share_prefixes(rows: list[list[int]]) -> list[int]:
    """For each row, the index of the row whose forward pass also scores it (itself, or a row it is a prefix of).

    In lexicographic order a row that is a prefix of any other row is a prefix of the row right after it,
    so one backwards walk links every prefix to the longest row of its chain.
    """
    order = sorted(range(len(rows)), key=rows.__getitem__)
    owner = list(range(len(rows)))
    for i, j in zip(reversed(order[:-1]), reversed(order[1:])):
        if rows[j][: len(rows[i])] == rows[i]:
            owner[i] = owner[j]
    return owner


def _final_logits(model, tokens: Int[torch.Tensor, "batch pos"], index: tuple[torch.Tensor, torch.Tensor]
                  ) -> Float[torch.Tensor, "n vocab"]:
    """Logits at the (batch, position) pairs of ``index`` only: the unembedding skips every other position."""
    resid = model(tokens.to(model.cfg.device), stop_at_layer=model.cfg.n_layers)  # [batch, pos, d_model]
    picked = resid[index[0], index[1]][None]  # [1, n, d_model]
    norm = getattr(model, "ln_final", None)
    return model.unembed(norm(picked) if norm is not None else picked)[0].float().cpu()


@torch.no_grad()
def token_scores(model, rows: list[list[int]], batch_size: int = 32, also: list[list[tuple[int, int]]] | None = None,
                 first: list[int] | None = None, max_logits: int = 2**25) -> list[TokenScores]:
    """Log-probability and rank of the next token at each position of each row (rows at most n_ctx long).

    ``first[i]`` skips the positions of row ``i`` before it (their log-probability is NaN and rank 0):
    an answer at the end of a long prompt needs only a few positions through the unembedding. ``also[i]``
    lists extra (position, token) pairs whose log-probabilities to return, e.g. a wrong answer at the
    position that predicts the right one. Rows go through the model sorted by length (little padding), a
    row that is a prefix of another inside the longer row's pass, and at most ``max_logits`` logits at once.
    """
    if any(len(r) > model.cfg.n_ctx for r in rows):
        raise ValueError(f"a row is longer than the model's context ({model.cfg.n_ctx} tokens); window it first")
    if any(len(r) < 1 for r in rows):
        raise ValueError("every row needs at least one token")
    also = also if also is not None else [[] for _ in rows]
    first = first if first is not None else [0] * len(rows)
    if len(also) != len(rows) or len(first) != len(rows):
        raise ValueError(f"`also` and `first` need one entry per row ({len(rows)} rows)")
    bad = [i for i, pairs in enumerate(also) if any(not 0 <= p < len(rows[i]) for p, _ in pairs)]
    if bad:
        raise ValueError(f"rows {bad[:10]} ask `also` for a position outside the row")
    owner = _share_prefixes(rows)
    runs = sorted(set(owner), key=lambda i: len(rows[i]))
    need = {i: len(rows[i]) for i in runs}  # run row -> first position any of its rows needs
    for i, pairs in enumerate(also):
        need[owner[i]] = min([need[owner[i]], first[i], *(p for p, _ in pairs)])
    asks: dict[int, list[tuple[int, int, int]]] = {}  # run row -> (row, position, token)
    for i, pairs in enumerate(also):
        asks.setdefault(owner[i], []).extend((i, p, t) for p, t in pairs)
    full: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # run row -> log-probs and ranks from `need` on
    got: dict[int, list[float]] = {i: [] for i in range(len(rows))}
    start = 0
    while start < len(runs):
        width = max(len(rows[i]) - need[i] for i in runs[start: start + batch_size])
        step = max(1, min(batch_size, max_logits // max(1, width * model.cfg.d_vocab)))
        batch = runs[start: start + step]
        tokens, _ = pad_rows([rows[i] for i in batch], model.tokenizer.pad_token_id or 0)
        spans = [(need[i], len(rows[i])) for i in batch]
        index = (torch.tensor([b for b, (lo, hi) in enumerate(spans) for _ in range(lo, hi)], dtype=torch.long),
                 torch.tensor([p for lo, hi in spans for p in range(lo, hi)], dtype=torch.long))
        logits = _final_logits(model, tokens, index)  # [n, vocab]
        lse = logits.logsumexp(-1)
        nxt = tokens[index[0], (index[1] + 1).clamp(max=tokens.shape[1] - 1)]  # next token (last position: unused)
        picked = logits.gather(-1, nxt[:, None])[:, 0]
        ranks = (logits > picked[:, None]).sum(-1) + 1
        at = 0
        for i, (lo, hi) in zip(batch, spans):
            full[i] = (picked[at: at + hi - lo] - lse[at: at + hi - lo], ranks[at: at + hi - lo])
            for row, pos, tok in asks.get(i, []):
                got[row].append((logits[at + pos - lo, tok] - lse[at + pos - lo]).item())
            at += hi - lo
        start += step
    out = []
    for i, row in enumerate(rows):
        (lp, rk), lo, n = full[owner[i]], need[owner[i]], len(row) - 1
        logprobs, ranks_i = torch.full((n,), float("nan")), torch.zeros(n, dtype=torch.long)
        logprobs[lo:], ranks_i[lo:] = lp[: max(0, n - lo)], rk[: max(0, n - lo)]
        logprobs[: first[i]], ranks_i[: first[i]] = float("nan"), 0  # the same for every row, shared pass or not
        out.append(TokenScores(logprobs, ranks_i, torch.tensor(got[i])))
    return out


def next_token_losses(logits: Float[torch.Tensor, "batch pos d_vocab"],
                      tokens: Int[torch.Tensor, "batch pos"]) -> Float[torch.Tensor, "batch pos_minus_1"]:
    """Cross-entropy of each next token: position p's logits against token p + 1."""
    return -logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]


@torch.no_grad()
def next_token_logits(model, rows: list[list[int]], batch_size: int = 32) -> Float[torch.Tensor, "n d_vocab"]:
    """The logits that predict the token after each row (rows at most n_ctx long, batched by length)."""
    if any(not 1 <= len(r) <= model.cfg.n_ctx for r in rows):
        raise ValueError(f"every row needs 1 to {model.cfg.n_ctx} tokens")
    out = torch.zeros(len(rows), model.cfg.d_vocab)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    for start in range(0, len(order), batch_size):
        batch = order[start: start + batch_size]
        tokens, lengths = pad_rows([rows[i] for i in batch], model.tokenizer.pad_token_id or 0)
        out[batch] = _final_logits(model, tokens, (torch.arange(len(batch)), lengths - 1))
    return out


def text_scores(model, ids_list: list[list[int]], batch_size: int = 32) -> list[TokenScores]:
    """`token_scores` of BOS-first token lists of any length (scored in the overlapping windows of `windows`)."""
    rows, plans = _window_rows(ids_list, model.cfg.n_ctx)
    firsts = [lo - s - 1 for plan in plans for s, lo, _ in plan]
    scored = iter(token_scores(model, rows, batch_size, first=firsts))
    out = []
    for plan in plans:
        parts = [(sc.logprobs[lo - s - 1: hi - s - 1], sc.ranks[lo - s - 1: hi - s - 1])
                 for (s, lo, hi), sc in zip(plan, scored)]
        out.append(TokenScores(torch.cat([p for p, _ in parts]), torch.cat([r for _, r in parts]), torch.empty(0)))
    return out


def token_losses(model, texts: Sequence[str], batch_size: int = 16) -> list[Float[torch.Tensor, "pos"]]:
    """The next-token loss of every token of each text (BOS prepended; long texts scored in windows)."""
    if not texts:
        raise ValueError("need at least one text")
    tok = model.tokenizer
    ids = [[tok.bos_token_id, *tok(t, add_special_tokens=False)["input_ids"]] for t in texts]
    empty = [i for i, row in enumerate(ids) if len(row) < 2]
    if empty:
        raise ValueError(f"texts {empty} are empty: nothing to predict")
    return [-sc.logprobs for sc in text_scores(model, ids, batch_size)]


def is_trained(loss: float, d_vocab: int) -> bool:
    """Whether a held-out loss is under half a uniform guess's, ``ln(d_vocab) / 2``: the line below which a
    notebook states findings about a model (the bundled models' 0.5 to 0.9 nats are a fifth of it or less;
    random weights sit at or above all of ``ln(d_vocab)``).

        is_trained(0.6, 2048)      # True
        is_trained(10.8, 50257)    # False: random weights
    """
    return loss < math.log(d_vocab) / 2
