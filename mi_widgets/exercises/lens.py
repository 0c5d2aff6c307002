"""40_lens: the frozen-norm logit lens, KL from logits, units for a share of an effect, class enrichment."""

from __future__ import annotations

from functools import lru_cache

import torch

from mi_widgets.analysis.concentration import units_for_share
from mi_widgets.analysis.enrichment import TokenClasses, class_enrichment
from mi_widgets.analysis.lens import lens_logits, residual_stack
from mi_widgets.exercises.core import Case, Exercise, register
from mi_widgets.models import load_model


@lru_cache(maxsize=1)
def _stack():
    model = load_model("stories-gelu-2l")
    return model, residual_stack(model, model.to_tokens("Once upon a time, a cat named Bolin found a red ball."))


def frozen_reference(model, stack: torch.Tensor) -> torch.Tensor:
    """`lens.lens_logits` with the final norm frozen at the last reading's scale."""
    return lens_logits(model, stack, "frozen")


def _own_scale(model, stack):
    return lens_logits(model, stack, "recompute")


def _uncentred(model, stack):
    scale = stack[-1].pow(2).mean(-1, keepdim=True).add(model.cfg.eps).sqrt()
    return (stack / scale * model.ln_final.w + model.ln_final.b) @ model.W_U + model.b_U


register(Exercise(
    "lens.frozen_lens", frozen_reference, lambda: [Case(_stack(), "every reading of one story")],
    mistakes=[(_own_scale, "that recomputes each reading's own norm scale; freeze the *final* stream's scale"),
              (_uncentred, "LayerNorm centres before scaling: subtract each vector's mean over d_model first")],
    atol=1e-3))


def kl_reference(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row, from logits (nats)."""
    logp, logq = p_logits.log_softmax(-1), q_logits.log_softmax(-1)
    return (logp.exp() * (logp - logq)).sum(-1)


def _kl_cases():
    gen = torch.Generator().manual_seed(10)
    p, q = torch.randn(4, 20, generator=gen) * 2, torch.randn(4, 20, generator=gen) * 2
    return [Case((p, q), "4 rows of 20 logits"), Case((p, p + 3.0), "equal distributions (shifted logits): 0")]


register(Exercise(
    "lens.kl_divergence", kl_reference, _kl_cases,
    mistakes=[(lambda p, q: kl_reference(q, p), "that is KL(q || p); the lens's KL weighs by the model's output p"),
              (lambda p, q: (p.softmax(-1) * (p - q)).sum(-1), "take log_softmax of each: logits differ from "
               "log-probabilities by a constant per row")]))


def _share_cases():
    gen = torch.Generator().manual_seed(11)
    mass = torch.rand(3, 12, generator=gen) ** 3
    return [Case((mass, 0.5), "half of each row's mass"), Case((mass, 0.8), "80%"),
            Case((torch.tensor([[4.0, 1.0, 3.0, 2.0]]), 0.7), "4 + 3 = 7 of 10: exactly two units")]


register(Exercise(
    "lens.units_for_share", units_for_share, _share_cases,
    mistakes=[(lambda m, s: (m.cumsum(-1) < s * m.sum(-1, keepdim=True)).sum(-1) + 1,
               "sort each row largest first: the count is of the *fewest* units that reach the share"),
              (lambda m, s: (m.sort(-1, descending=True).values.cumsum(-1) < s * m.sum(-1, keepdim=True)).sum(-1),
               "count the unit that crosses the share too (+1)")]))


def _classes(vocab: int, seed: int) -> TokenClasses:
    of_token = torch.full((vocab,), -1)
    of_token[torch.randperm(vocab, generator=torch.Generator().manual_seed(seed))[:60]] = torch.arange(60) % 3
    return TokenClasses(["a", "b", "c"], of_token)


def enrichment_reference(effect: torch.Tensor, classes: TokenClasses, top: int) -> float:
    """-log10 P(at least as many of the best class among the ``top`` most raised tokens), hypergeometric."""
    return float(class_enrichment(effect[None], classes, top).score[0])


def _enrich_cases():
    classes = _classes(200, 12)
    effect = torch.randn(200, generator=torch.Generator().manual_seed(13))
    boosted = effect.clone()
    boosted[classes.of_token == 1] += 1.5  # class b raised
    return [Case((boosted, classes, 20), "class b raised"), Case((effect, classes, 10), "no class raised")]


def _pmf_only(effect, classes, top):
    from scipy.stats import hypergeom

    hit = classes.of_token[effect.topk(top).indices]
    sizes = classes.sizes()
    return max(float(-torch.log10(torch.tensor(hypergeom.pmf(int((hit == c).sum()), len(effect), int(sizes[c]), top))))
               for c in range(len(classes.names)))


register(Exercise(
    "lens.enrichment_score", enrichment_reference, _enrich_cases,
    mistakes=[(_pmf_only, "use the tail P(X >= count) (hypergeom.sf(count - 1, ...)), not the chance of exactly count")],
    atol=1e-3, rtol=1e-3))
