"""Token classes from the story lexicon, and how strongly a direction's top tokens fall in one class.

    classes = token_classes(model.tokenizer)            # names, animals, colours, ... as sets of token ids
    up = class_enrichment(effects, classes, top=20)      # per row of effects [n, d_vocab]: score, class, share
    null = random_directions(256, d_model, seed=0)       # directions to compare against

Used by the pre-unembed logit lens (`mi_widgets.analysis.lens`), introduced in ``notebooks/40_lens/40_lens.ipynb``.
"""

from __future__ import annotations

import string
from random import Random
from typing import NamedTuple

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.organisms import lexicon


def random_directions(n: int, d: int, seed: int = 0,
                      cov: Float[Tensor, "d d"] | None = None) -> Float[Tensor, "n d"]:
    """``n`` Gaussian directions: isotropic, or with covariance ``cov`` (directions the data favours)."""
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed))
    if cov is not None:
        x = x @ torch.linalg.cholesky(cov + 1e-5 * cov.diagonal().mean() * torch.eye(d)).T
    return x


class TokenClasses(NamedTuple):
    """Disjoint classes of tokens: ``of_token[i]`` is token i's class index, -1 when it has none."""

    names: list[str]
    of_token: Int[Tensor, "d_vocab"]

    def sizes(self) -> Int[Tensor, "classes"]:
        """How many tokens each class holds."""
        return torch.bincount(self.of_token[self.of_token >= 0], minlength=len(self.names))


LEXICON_CLASSES = {
    "animal": ("animal",), "colour": ("colour",), "number": ("number_word", "digit"), "calendar": ("day", "month"),
    "food": ("food",), "toy": ("toy",), "place": ("place",), "feeling": ("feeling",), "body_part": ("body_part",),
    "family": ("family",), "verb_past": ("verb_past",), "weather": ("weather",), "thing": ("thing",),
}
"""Token classes from the lexicon's categories (animal subkinds fold into "animal")."""


def token_classes(tokenizer, n_names: int = 4000, seed: int = 0) -> TokenClasses:
    """Lexicon classes mapped onto single tokens, plus "name" and "punctuation".

    A token joins a class when it is a space and a class word (first letter either case) or its plural;
    "name": the first token of a space and a generated name (``n_names`` from both name pools);
    "punctuation": tokens of punctuation only. A token claimed twice keeps the first class.
    """
    vocab = {tokenizer.decode([i]): i for i in range(len(tokenizer))}
    words: dict[str, set[str]] = {}
    for name, cats in LEXICON_CLASSES.items():
        ws = {w for c in cats for w in lexicon.CATEGORIES[c]}
        words[name] = ws | {lexicon.PLURALS[w] for w in ws if w in lexicon.PLURALS}
    rng = Random(seed)
    ids = {c: {vocab[f" {f}"] for w in ws for f in (w, w.capitalize()) if f" {f}" in vocab} for c, ws in words.items()}
    ids["name"] = {tokenizer(" " + lexicon.make_name(rng, held_out=i % 2 == 1)[0], add_special_tokens=False)
                   ["input_ids"][0] for i in range(n_names)}
    ids["punctuation"] = {i for t, i in vocab.items() if t.strip() and set(t.strip()) <= set(string.punctuation)}
    of_token = torch.full((len(tokenizer),), -1)
    for j, name in reversed(list(enumerate(ids))):  # reversed: the first class listed wins
        of_token[sorted(ids[name])] = j
    return TokenClasses(list(ids), of_token)


class Enrichment(NamedTuple):
    """Per direction: how surprising its top tokens' class make-up is, and the class behind it."""

    score: Float[Tensor, "n"]
    """-log10 of the hypergeometric chance of drawing that many of the best class among ``top`` tokens."""
    best: Int[Tensor, "n"]
    share: Float[Tensor, "n"]
    """Share of the ``top`` tokens in the best class."""


def class_enrichment(effects: Float[Tensor, "n d_vocab"], classes: TokenClasses, top: int = 20) -> Enrichment:
    """Class enrichment of each row's ``top`` most raised tokens (pass ``-effects`` for the most lowered)."""
    if not 0 < top <= effects.shape[-1]:
        raise ValueError(f"top must be in 1..{effects.shape[-1]}, got {top}")
    hit = classes.of_token[effects.topk(top, dim=-1).indices]  # [n, top]
    counts = torch.stack([(hit == j).sum(-1) for j in range(len(classes.names))], -1)  # [n, classes]
    n_vocab, sizes = effects.shape[-1], classes.sizes().double()
    x = torch.arange(top + 1, dtype=torch.float64)[:, None]  # [top + 1, 1]
    log_c = lambda n, k: torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)  # noqa: E731
    log_pmf = log_c(sizes, x.minimum(sizes)) + log_c(n_vocab - sizes, (top - x).clamp(min=0)) \
        - log_c(torch.tensor(float(n_vocab)), torch.tensor(float(top)))
    pmf = torch.where((x <= sizes) & (top - x <= n_vocab - sizes), log_pmf.exp(), 0.0)  # [top + 1, classes]
    tail = pmf.flip(0).cumsum(0).flip(0)  # P(X >= x)
    surprise = -tail.gather(0, counts).clamp_min(1e-300).log10()  # [n, classes]
    score, best = surprise.float().max(-1)
    return Enrichment(score, best, counts.gather(-1, best[:, None])[:, 0] / top)
