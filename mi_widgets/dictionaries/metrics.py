"""How good is a dictionary: reconstruction (FVU, L0, dead and dense latents) and the model's loss with it spliced in.

Fraction of loss recovered compares three runs of the model on the same tokens: clean, with the
dictionary's reconstruction in place of the activation, and with the activation zeroed:
``(loss_zero - loss_spliced) / (loss_zero - loss_clean)``. Position 0 (BOS), which dictionaries are
not trained on, is left untouched in both interventions.
"""

from __future__ import annotations

import re

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mi_widgets.activations import check_hooks
from mi_widgets.dictionaries.dictionary import Dictionary

DENSE_FRACTION = 0.1
"""A latent active on more than this share of tokens counts as dense."""


@dataclass
class ReconstructionStats:
    fvu: float
    """Fraction of variance unexplained: ``sum |target - recon|^2 / sum |target - mean|^2``."""
    l0: float
    """Mean number of active latents per token."""
    dead_fraction: float
    """Share of latents that never fire on the evaluation tokens."""
    dense_fraction: float
    """Share of latents active on more than `DENSE_FRACTION` of the tokens."""
    n_tokens: int

    def as_dict(self) -> dict:
        """The fields as a plain dict (what the cards and config files store)."""
        return asdict(self)


@torch.no_grad()
def fvu(x: Float[Tensor, "n d"], x_hat: Float[Tensor, "n d"]) -> float:
    """Fraction of variance unexplained: squared error over the squared deviations of ``x`` from its mean
    (`reconstruction_stats` computes the same in batches)."""
    return float((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


def reconstruction_stats(sae: Dictionary, x: Float[Tensor, "n d_in"], y: Float[Tensor, "n d_out"] | None = None,
                         batch_size: int = 8192) -> ReconstructionStats:
    """FVU, L0 and dead/dense latent fractions of ``sae`` on inputs ``x`` (targets ``y`` for a transcoder)."""
    if sae.cfg.is_transcoder and y is None:
        raise ValueError("a transcoder's FVU needs its targets y")
    target_all = x if y is None else y
    device = sae.W_dec.device  # the data stays where it is; batches move to the dictionary
    mean = target_all.mean(0).to(device)
    err_sq = total_sq = active = 0.0
    counts = torch.zeros(sae.cfg.width, device=device)
    for i in range(0, len(x), batch_size):
        xb, tb = x[i: i + batch_size].to(device), target_all[i: i + batch_size].to(device)
        f = sae.encode(xb)
        err_sq += (sae.decode(f, xb) - tb).pow(2).sum().item()
        total_sq += (tb - mean).pow(2).sum().item()
        on = f > 0
        active += on.sum().item()
        counts += on.sum(0)
    n = len(x)
    return ReconstructionStats(fvu=err_sq / total_sq, l0=active / n, dead_fraction=(counts == 0).float().mean().item(),
                               dense_fraction=(counts > DENSE_FRACTION * n).float().mean().item(), n_tokens=n)


@dataclass
class SpliceStats:
    """Mean next-token loss clean, with the dictionary spliced in, and with the site ablated two ways.

    Zero ablation is a weak baseline: zeroing a residual stream can cost more than a uniform guess, so
    "loss recovered" against it stays near 1 even for a dictionary that doubles the loss. The spliced-in
    increase (absolute and relative to the clean loss) and loss recovered against *mean* ablation (every
    position given the site's mean activation) are the numbers to claim on.
    """

    loss_clean: float
    loss_spliced: float
    loss_zero: float
    loss_mean: float

    @property
    def loss_increase(self) -> float:
        return self.loss_spliced - self.loss_clean

    @property
    def relative_increase(self) -> float:
        """The spliced-in loss increase as a share of the clean loss."""
        return self.loss_increase / self.loss_clean

    @property
    def loss_recovered(self) -> float:
        """Against zero ablation (the common definition; see the class docstring)."""
        return (self.loss_zero - self.loss_spliced) / (self.loss_zero - self.loss_clean)

    @property
    def loss_recovered_mean(self) -> float:
        """Against mean ablation: 1 is the clean model, 0 is no better than the site's mean activation."""
        return (self.loss_mean - self.loss_spliced) / (self.loss_mean - self.loss_clean)

    def as_dict(self) -> dict:
        """The fields and the derived losses as a plain dict (what the cards and config files store)."""
        return {**asdict(self), "loss_increase": self.loss_increase, "relative_increase": self.relative_increase,
                "loss_recovered": self.loss_recovered, "loss_recovered_mean": self.loss_recovered_mean}


Reconstruct = Callable[[Float[Tensor, "batch pos d_in"]], Float[Tensor, "batch pos target"]]
"""What to splice in, given the activation at the dictionary's input hook (default: ``sae`` itself)."""


D_MODEL_WIDE = re.compile(r"(hook_resid_(pre|mid|post)|hook_normalized|hook_mlp_out|hook_attn_out)$")
"""Hook points whose activations are ``d_model`` wide in every TransformerLens model."""


def _splice_hooks(sae: Dictionary, mode: str, reconstruct: Reconstruct | None = None,
                  mean: Tensor | None = None) -> list:
    """Forward hooks that put ``reconstruct(x)`` (``mode="splice"``), zeros (``"zero"``) or ``mean``
    (``"mean"``, the site's mean activation) at the output hook."""
    hook_in, hook_out = sae.cfg.hook_in, sae.cfg.hook_out or sae.cfg.hook_in
    rebuild = reconstruct or sae
    device = sae.W_dec.device  # the model's activations visit the dictionary's device and come back
    seen: dict[str, Tensor] = {}

    def remember(act, hook):
        seen["x"] = act

    def replace(act, hook):
        if mode == "zero":
            new = torch.zeros_like(act)
        elif mode == "mean":
            new = mean.to(act.device, act.dtype).expand_as(act).clone()
        else:
            new = rebuild(seen.get("x", act).to(device)).to(act.device)
        new[:, 0] = act[:, 0]  # BOS stays as it was
        return new

    hooks = [(hook_out, replace)]
    return [(hook_in, remember)] + hooks if hook_in != hook_out else hooks


def _mean_loss(model, tokens: Int[Tensor, "batch pos"], hooks: list, batch_size: int) -> float:
    total = 0.0
    for i in range(0, len(tokens), batch_size):
        batch = tokens[i: i + batch_size]
        with model.hooks(fwd_hooks=hooks):
            total += model(batch, return_type="loss").item() * len(batch)
    return total / len(tokens)


def _mean_activation(model, tokens: Int[Tensor, "batch pos"], hook: str, batch_size: int) -> Float[Tensor, "d"]:
    """The mean activation at ``hook`` over every position but BOS."""
    total, count = 0.0, 0
    for i in range(0, len(tokens), batch_size):
        _, cache = model.run_with_cache(tokens[i: i + batch_size], names_filter=[hook])
        act = cache[hook][:, 1:]  # [batch, pos - 1, d]
        total, count = total + act.sum((0, 1)), count + act.shape[0] * act.shape[1]
    return total / count


def _check_splice(model, sae: Dictionary) -> None:
    if not sae.cfg.hook_in:
        raise ValueError("this dictionary does not name its hook point (cfg.hook_in); set it to splice it in")
    check_hooks(model, [sae.cfg.hook_in] + ([sae.cfg.hook_out] if sae.cfg.hook_out else []))
    if D_MODEL_WIDE.search(sae.cfg.hook_in) and sae.cfg.d_in != model.cfg.d_model:
        raise ValueError(f"this dictionary reads {sae.cfg.d_in}-wide activations ({sae.cfg.hook_in} of "
                         f"{sae.cfg.model or 'another model'}), but this model's are {model.cfg.d_model} wide: "
                         "mw.dictionary_for(model, name) gives one that fits (shipped, or trained for this model)")


@torch.no_grad()
def splice_stats(model, sae: Dictionary, tokens: Int[Tensor, "batch pos"], batch_size: int = 32,
                 reconstruct: Reconstruct | None = None) -> SpliceStats:
    """Mean next-token loss of ``model`` clean, with ``sae`` spliced in at its hook, and zero- and mean-ablated
    there (the mean over ``tokens`` themselves, BOS left out).

    ``reconstruct`` replaces the dictionary's own reconstruction in the spliced run: e.g. a function
    that encodes, edits the latent codes and decodes (`mi_widgets.analysis.code_spectrum.pc_ablated`).
    """
    _check_splice(model, sae)
    clean = _mean_loss(model, tokens, [], batch_size)
    spliced = _mean_loss(model, tokens, _splice_hooks(sae, "splice", reconstruct), batch_size)
    zero = _mean_loss(model, tokens, _splice_hooks(sae, "zero"), batch_size)
    mean = _mean_activation(model, tokens, sae.cfg.hook_out or sae.cfg.hook_in, batch_size)
    return SpliceStats(clean, spliced, zero, _mean_loss(model, tokens, _splice_hooks(sae, "mean", mean=mean), batch_size))


@torch.no_grad()
def spliced_loss(model, sae: Dictionary, tokens: Int[Tensor, "batch pos"], batch_size: int = 32,
                 reconstruct: Reconstruct | None = None) -> float:
    """The spliced run of `splice_stats` alone: mean loss with ``reconstruct`` (default ``sae``) at the hook."""
    _check_splice(model, sae)
    return _mean_loss(model, tokens, _splice_hooks(sae, "splice", reconstruct), batch_size)


@torch.no_grad()
def splice_stats_together(model, dictionaries: list[Dictionary], tokens: Int[Tensor, "batch pos"],
                          batch_size: int = 32) -> SpliceStats:
    """`splice_stats` with several dictionaries spliced in at once (e.g. a transcoder on every MLP), and the
    ablations done at all their sites together."""
    if not dictionaries:
        raise ValueError("give at least one dictionary")
    for sae in dictionaries:
        _check_splice(model, sae)
    sites = [sae.cfg.hook_out or sae.cfg.hook_in for sae in dictionaries]
    if len(set(sites)) < len(sites):
        raise ValueError(f"two dictionaries write the same hook point: {sites}")
    clean = _mean_loss(model, tokens, [], batch_size)
    spliced = _mean_loss(model, tokens, [h for sae in dictionaries for h in _splice_hooks(sae, "splice")], batch_size)
    zero = _mean_loss(model, tokens, [h for sae in dictionaries for h in _splice_hooks(sae, "zero")], batch_size)
    means = [_mean_activation(model, tokens, site, batch_size) for site in sites]
    mean = _mean_loss(model, tokens, [h for sae, m in zip(dictionaries, means)
                                      for h in _splice_hooks(sae, "mean", mean=m)], batch_size)
    return SpliceStats(clean, spliced, zero, mean)
