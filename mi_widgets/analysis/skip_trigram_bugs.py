"""Skip-trigram bugs (seed 003, 1.18): a one-layer attention model pushes ``c`` after ``b`` because of an earlier
``a``, even where ``c`` never follows ``b``.

A head of a one-layer model attends from ``b`` to an earlier ``a`` and writes what its OV circuit makes of ``a``
alone, so what ``a`` pushes after one token it pushes after every token that attends to it (Elhage et al. 2021:
"keep ... in mind" and "keep ... at bay" also give "keep ... in bay"). We find the bugs in held-out stories: the
positions where the one-layer model's token-only skip-trigram circuits
(`mi_widgets.analysis.model_as_code.SkipTrigrams`) push a token that never follows the current token in the
training text (`skip_trigram_sites`). Any model's log-probability of that token there, against its
log-probability of the same token after the same current token where nothing pushes it (`bug_effect`), is
the bug's size in that model: positive when it raises a wrong token because of the earlier ``a``.
Introduced in ``notebooks/21_heads``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from jaxtyping import Int

from mi_widgets.analysis.model_as_code import SkipTrigrams


class Sites(NamedTuple):
    """``(row, pos, c)``: at ``pos`` of ``rows[row]``, token ``c`` as a possible next token."""

    bug: list[tuple[int, int, int]]
    """Where the skip-trigram circuits push ``c`` and ``c`` never follows ``rows[row, pos]`` in the training text."""
    control: list[tuple[int, int, int]]
    """The same current tokens and ``c`` where the circuits do not push ``c``."""


def bigram_counts(rows: Int[torch.Tensor, "batch pos"]) -> tuple[dict[tuple[int, int], int], dict[int, int]]:
    """How often each token follows each other in ``rows``, and how often each token has a successor."""
    flat = rows.numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows)
    width = int(flat.max()) + 1
    codes, counts = np.unique(flat[:, :-1].astype(np.int64) * width + flat[:, 1:], return_counts=True)
    pairs, firsts = {}, {}
    for code, n in zip(codes.tolist(), counts.tolist()):
        pairs[(code // width, code % width)] = n
        firsts[code // width] = firsts.get(code // width, 0) + n
    return pairs, firsts


@torch.no_grad()
def skip_trigram_sites(source, rows: Int[torch.Tensor, "batch pos"], train_rows: Int[torch.Tensor, "batch pos"],
                       push: float = 2.0, quiet: float = 0.1, min_seen: int = 50) -> Sites:
    """The bug sites and their controls in ``rows`` (see `Sites`), for the one-layer model ``source``.

    At each position the token the skip-trigram circuits push most is taken if its centred logit is at least
    ``push``; a control has that token's logit at most ``quiet``. "Never follows" is judged on ``train_rows``,
    where both tokens must have been seen at least ``min_seen`` times (a rare token follows almost nothing);
    special tokens are never a current or a pushed token."""
    if push <= quiet:
        raise ValueError(f"push ({push}) must be above quiet ({quiet})")
    pairs, firsts = bigram_counts(train_rows)
    seen = torch.bincount(torch.as_tensor(train_rows).flatten(), minlength=source.cfg.d_vocab)
    special = set(source.tokenizer.all_special_ids)
    circuits = SkipTrigrams(source)
    bug, pushed = [], {}
    for r, row in enumerate(rows.tolist()):  # row by row: a [pos, d_vocab] table each, never all of them at once
        strength, top = circuits.features(torch.tensor(row)).max(-1)
        for p in range(1, len(row) - 1):
            b, c = row[p], int(top[p])
            if (strength[p] >= push and c != row[p + 1] and b not in special and c not in special
                    and firsts.get(b, 0) >= min_seen and seen[c] >= min_seen and (b, c) not in pairs):
                bug.append((r, p, c))
                pushed.setdefault(b, set()).add(c)
    control = []
    for r, row in enumerate(rows.tolist()):
        if not pushed.keys() & set(row):
            continue
        f = circuits.features(torch.tensor(row))
        control += [(r, p, c) for p in range(1, len(row) - 1) for c in pushed.get(row[p], ()) if f[p, c] <= quiet]
    return Sites(bug, control)


@torch.no_grad()
def bug_effect(model, rows: Int[torch.Tensor, "batch pos"], sites: Sites, batch_size: int = 16) -> dict[str, float]:
    """The model's mean log-probability of the pushed token at the bug sites minus at the controls, matched on
    (current token, pushed token): ``"effect"`` (nats; positive: the earlier ``a`` raises a wrong token), with
    ``"pairs"``, the number of (current, pushed) pairs that have both kinds of site."""
    wanted = sorted(set(sites.bug) | set(sites.control))
    found: dict[tuple[int, int, int], float] = {}
    for i in range(0, len(rows), batch_size):  # keep only the sites' log-probabilities, not [batch, pos, d_vocab]
        here = [(r, p, c) for r, p, c in wanted if i <= r < i + batch_size]
        if not here:
            continue
        logprobs = model(rows[i: i + batch_size].to(model.cfg.device)).float().log_softmax(-1)
        r, p, c = (torch.tensor(x, device=logprobs.device) for x in zip(*here))
        found.update(zip(here, logprobs[r - i, p, c].tolist()))

    def by_pair(sites_of_a_kind):
        out: dict[tuple[int, int], list[float]] = {}
        for r, p, c in sites_of_a_kind:
            out.setdefault((int(rows[r, p]), c), []).append(found[(r, p, c)])
        return out

    bug, control = by_pair(sites.bug), by_pair(sites.control)
    shared = sorted(set(bug) & set(control))
    if not shared:
        return {"effect": float("nan"), "pairs": 0}
    return {"effect": float(np.mean([np.mean(bug[k]) - np.mean(control[k]) for k in shared])), "pairs": len(shared)}
