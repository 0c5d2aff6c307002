"""41_patching: patch one head, the normalised logit difference, attribution for one component, faithfulness."""

from __future__ import annotations

from functools import lru_cache

import torch

from mi_widgets.analysis.ioi import ioi_families
from mi_widgets.exercises.core import Case, Exercise, register
from mi_widgets.models import load_model
from mi_widgets.patching import attribution_estimate, faithfulness, head_means, logit_diff, patch


@lru_cache(maxsize=1)
def _setup():
    model = load_model("stories-gelu-2l")
    family = ioi_families(model, templates=[0], n=6, seed=0)[0]
    return model, family


def patch_head_reference(model, clean, corrupt, layer: int, head: int) -> torch.Tensor:
    """Logits of ``corrupt`` with head ``head`` of ``layer`` (its ``hook_z``) from ``clean``."""
    return patch(model, clean, corrupt, f"blocks.{layer}.attn.hook_z", head=head)


def _head_cases():
    model, f = _setup()
    return [Case((model, f.clean, f.abc, 1, 2), "L1H2 into the ABC prompts"),
            Case((model, f.clean, f.swap, 0, 0), "L0H0 into the swapped prompts")]


def _whole_layer(model, clean, corrupt, layer, head):
    return patch(model, clean, corrupt, f"blocks.{layer}.attn.hook_z")


register(Exercise(
    "patching.patch_head", patch_head_reference, _head_cases,
    mistakes=[(_whole_layer, "that patches every head of the layer: write only `act[:, :, head]`"),
              (lambda model, clean, corrupt, layer, head: model(corrupt),
               "these are the corrupt run's own logits: does the hook write into `act` and return it?"),
              (lambda model, clean, corrupt, layer, head: model(clean),
               "these are the clean run's logits: run the *corrupt* prompts, with only the one head from clean")],
    atol=1e-3))


def normalised_reference(logits, answer, wrong, clean_value: float, corrupt_value: float) -> torch.Tensor:
    """(mean last-position logit difference - corrupt_value) / (clean_value - corrupt_value)."""
    return (logit_diff(logits, answer, wrong).mean() - corrupt_value) / (clean_value - corrupt_value)


def _metric_cases():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, 11, generator=g)
    answer, wrong = torch.tensor([1, 2, 3, 4, 5]), torch.tensor([6, 7, 8, 9, 10])
    return [Case((logits, answer, wrong, 2.0, -1.0), "clean 2, corrupt -1"),
            Case((logits, answer, wrong, 0.5, 3.0), "a corrupt value above the clean one")]


register(Exercise(
    "patching.normalised_logit_diff", normalised_reference, _metric_cases,
    mistakes=[(lambda lg, a, w, c, k: logit_diff(lg, a, w).mean(), "normalise: subtract the corrupt value and "
               "divide by clean minus corrupt"),
              (lambda lg, a, w, c, k: (c - logit_diff(lg, a, w).mean()) / (c - k),
               "that is 1 minus the score: the clean value must map to 1"),
              (lambda lg, a, w, c, k: ((lg[:, 0].gather(1, a[:, None]) - lg[:, 0].gather(1, w[:, None])).mean() - k) / (c - k),
               "read the logits at the last position, where the name is predicted")]))


def attribution_reference(clean_act, corrupt_act, grad) -> torch.Tensor:
    """Per position: sum over batch and features of (clean - corrupt) x grad."""
    return attribution_estimate(clean_act, corrupt_act, grad, torch.arange(clean_act.shape[1]).expand(clean_act.shape[0], -1))


def _attribution_cases():
    g = torch.Generator().manual_seed(1)
    a, b, grad = (torch.randn(4, 6, 8, generator=g) for _ in range(3))
    return [Case((a, b, grad), "random activations and gradient"), Case((a, a, grad), "no difference: no change")]


register(Exercise(
    "patching.attribution_per_position", attribution_reference, _attribution_cases,
    mistakes=[(lambda a, b, grad: ((b - a) * grad).sum(-1).sum(0), "the sign: patching moves corrupt towards clean, "
               "so the step is clean - corrupt"),
              (lambda a, b, grad: (a * grad).sum(-1).sum(0), "multiply the *difference* of the activations by the "
               "gradient, not the clean activation alone"),
              (lambda a, b, grad: ((a - b) * grad).sum(-1).mean(0), "sum over the batch (the metric is already a "
               "mean over prompts)")]))


def _faithfulness_cases():
    model, f = _setup()
    means = head_means(model, f.abc)
    return [Case((model, f.clean, f.answer, f.wrong, [(1, 0), (1, 1), (0, 2)], means), "three heads"),
            Case((model, f.clean, f.answer, f.wrong, [(l, h) for l in range(2) for h in range(4)], means),
                 "every head: nothing is ablated")]


def _ablate_circuit(model, tokens, answer, wrong, circuit, means):
    rest = [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads) if (l, h) not in circuit]
    return faithfulness(model, tokens, answer, wrong, rest, means)


def _zero_ablation(model, tokens, answer, wrong, circuit, means):
    zeros = {name: torch.zeros_like(value) for name, value in means.items()}
    return faithfulness(model, tokens, answer, wrong, circuit, zeros)


register(Exercise(
    "patching.circuit_faithfulness", faithfulness, _faithfulness_cases,
    mistakes=[(_ablate_circuit, "that ablates the circuit and keeps the rest: ablate every head *outside* it"),
              (_zero_ablation, "replace the ablated heads by their mean output, not by zero"),
              (lambda model, tokens, answer, wrong, circuit, means: 1 / faithfulness(model, tokens, answer, wrong,
                                                                                      circuit, means),
               "divide the circuit's logit difference by the model's, not the other way round")],
    atol=1e-3))
