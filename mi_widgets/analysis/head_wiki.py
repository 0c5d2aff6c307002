"""The head wiki: a row for every head of every model, a column for every detector score, and what each head
matters for on story text.

    tokens, marks = labelled_batch(model.tokenizer, stories, 192)   # equal-length labelled rows
    effects = ablation_effects(model, tokens, marks)   # heads x (all tokens + capabilities): loss change
    wiki = head_wiki({"stories-attn-2l": model}, {"stories-attn-2l": rows}, {"stories-attn-2l": (tokens, marks)})

The detectors are `mi_widgets.heads.detector_scores` on story rows (previous token, duplicate token, induction,
BOS, local, and the OV circuit's copying score), plus the induction score on repeated random tokens that the model
cards use. What a head matters for is measured by mean ablation: its output (``hook_z``) replaced by its mean
over the stories at each position, and the change in next-token loss on the tokens of each planted capability.
Introduced in ``notebooks/21_heads``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from jaxtyping import Int

from mi_widgets.heads import detector_scores, induction_report
from mi_widgets.organisms.corpus import capability_tokens
from mi_widgets.organisms.stories import CAPABILITIES, Story
from mi_widgets.patching import ablate_heads, head_means
from mi_widgets.progress import progress_bar


def labelled_batch(tokenizer, stories: Sequence[Story], length: int
                   ) -> tuple[Int[torch.Tensor, "batch pos"], list[list[tuple[str, int]]]]:
    """The stories with at least ``length`` tokens (BOS first), each cut to exactly ``length``, and their labels.

    Rows of one length need no padding, so a head's mean output at each position is over real tokens only.
    """
    encoded = [capability_tokens(tokenizer, s) for s in stories]
    kept = [(ids[:length], [(c, p) for c, p in m if p < length]) for ids, m in encoded if len(ids) >= length]
    if not kept:
        raise ValueError(f"none of the {len(stories)} stories has {length} tokens; give more or a smaller length")
    return torch.tensor([ids for ids, _ in kept]), [m for _, m in kept]


def _label_index(marks: list[list[tuple[str, int]]]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per capability, the (row, position) at which each labelled token is predicted (its position - 1)."""
    out: dict[str, list[tuple[int, int]]] = {}
    for b, labels in enumerate(marks):
        for capability, p in labels:
            out.setdefault(capability, []).append((b, p - 1))
    return {c: tuple(torch.tensor(x) for x in zip(*pairs)) for c, pairs in out.items() if c in CAPABILITIES}


def _capability_losses(logits, tokens, index) -> dict[str, float]:
    losses = -logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]  # [batch, pos - 1]
    return {"all tokens": float(losses.mean()), **{c: float(losses[rows, pos].mean()) for c, (rows, pos) in index.items()}}


@torch.no_grad()
def ablation_effects(model, tokens: Int[torch.Tensor, "batch pos"], marks: list[list[tuple[str, int]]],
                     progress: bool = True) -> pd.DataFrame:
    """Loss change (nats) on all tokens and on each capability's tokens when each head is mean-ablated.

    Rows are heads (``"L{l}H{h}"``), columns ``all tokens`` and the capabilities present; positive means the
    head helps. The means are over ``tokens`` themselves, at each position.
    """
    tokens, index = tokens.to(model.cfg.device), _label_index(marks)
    clean = _capability_losses(model(tokens).cpu(), tokens.cpu(), index)
    means = head_means(model, tokens)
    heads = [(layer, head) for layer in range(model.cfg.n_layers) for head in range(model.cfg.n_heads)]
    rows = {}
    for layer, head in progress_bar(heads, desc="mean-ablating heads", disable=not progress, leave=False):
        ablated = _capability_losses(ablate_heads(model, tokens, [(layer, head)], means).cpu(), tokens.cpu(), index)
        rows[f"L{layer}H{head}"] = {k: ablated[k] - clean[k] for k in clean}
    return pd.DataFrame(rows).T


def head_wiki(models: Mapping[str, object], rows: Mapping[str, Int[torch.Tensor, "batch pos"]],
              batches: Mapping[str, tuple], effects: Mapping[str, pd.DataFrame] | None = None,
              progress: bool = True) -> pd.DataFrame:
    """One row per head of every model: detector scores, the induction score on repeated random tokens, the loss
    change of mean-ablating it, and the planted capability it matters for most (the largest loss increase).

    ``rows[name]`` are story rows for the detectors; ``batches[name]`` is `labelled_batch` for the ablations
    (each model tokenises with its own tokenizer); ``effects[name]``, if given, is its `ablation_effects`
    already computed.
    """
    frames = []
    for name, model in models.items():
        scores = detector_scores(model, rows[name])
        scores["induction (random tokens)"] = induction_report(model).scores
        done = (effects or {}).get(name)
        effect = done if done is not None else ablation_effects(model, *batches[name], progress=progress)
        capabilities = effect.drop(columns="all tokens")
        frame = pd.DataFrame({key: value.flatten().numpy() for key, value in scores.items()})
        frame.insert(0, "head", [f"L{l}H{h}" for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)])
        frame.insert(0, "model", name)
        frame["ablation loss change"] = effect["all tokens"].to_numpy()
        frame["matters most for"] = capabilities.idxmax(axis=1).to_numpy()
        frame["its loss change"] = capabilities.max(axis=1).to_numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
