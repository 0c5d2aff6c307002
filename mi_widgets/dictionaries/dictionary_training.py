"""Train a dictionary (`dictionaries.dictionary`) on harvested activations: TopK with an auxiliary loss
for dead latents, or ReLU + L1, with optional resampling of dead latents.

    result = train_dictionary(sae, acts, TrainSettings(tokens=2_000_000))   # acts: [n, d_in]
    result = train_dictionary(transcoder, mlp_in, settings, y=mlp_out)        # a transcoder's target

Introduced in ``notebooks/10_dictionaries/10_dictionaries.ipynb``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from mi_widgets.dictionaries.dictionary import Dictionary
from mi_widgets.progress import progress_bar


@dataclass
class TrainSettings:
    """How a dictionary is trained (every field has a default that trains the shipped dictionaries).

    For example:

        settings = TrainSettings(tokens=500_000, lr=1e-3, seed=1)
        result = train_dictionary(sae, acts, settings)
    """

    tokens: int = 2_000_000
    """Rows of training data to see in all (``tokens // batch_size`` steps); the data is cycled through
    when it has fewer rows."""
    batch_size: int = 4096
    """Rows per optimiser step."""
    lr: float = 2e-3
    """Adam's learning rate."""
    l1_coeff: float = 5.0
    """ReLU kind only: weight of the L1 penalty (on latents scaled by decoder norms, which are 1)."""
    penalty_power: float = 1.0
    """ReLU kind only: the penalty is the sum of each latent's activation to this power p (1: L1; p < 1, an Lp
    "norm", costs many small activations more than a few large ones)."""
    aux_k: int = 256
    """Latents used by the auxiliary loss that revives dead latents (TopK only; 0 turns it off)."""
    aux_coeff: float = 1 / 32
    """Weight of the auxiliary loss beside the reconstruction loss."""
    dead_after: int = 1_000_000
    """A latent that has not fired for this many tokens counts as dead for the auxiliary loss."""
    resample_at: tuple[float, ...] = ()
    """Fractions of the run (e.g. (0.25, 0.5)) at which dead latents restart on the worst-explained rows."""
    shuffle: bool = True
    """Shuffle the rows on every pass; False keeps their order (correlated batches, for comparison)."""
    seed: int = 0
    """Seeds the sample that sets the data scales, the batch order and any resampling (the weights'
    initialisation is seeded by ``Dictionary(cfg, seed=...)``)."""
    progress: bool = True
    """Show a progress bar."""


@dataclass
class TrainResult:
    """Per-step losses of a training run and its speed."""

    steps: int
    mse: list[float]
    aux: list[float]
    seconds: float
    tokens: int
    resampled: list[int] = field(default_factory=list)
    """Latents restarted at each resampling step."""

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds


@torch.no_grad()
def resample_dead(sae: Dictionary, opt: torch.optim.Optimizer, dead: Bool[Tensor, "width"],
                  xb: Float[Tensor, "batch d_in"], err: Float[Tensor, "batch target"],
                  gen: torch.Generator) -> Int[Tensor, "restarted"]:
    """Restart ``dead`` latents on rows of the batch the dictionary explains worst; returns their indices.

    Rows are drawn with probability proportional to their squared error. A restarted latent's decoder
    row points along what that row misses (``-err``); its encoder row reads the same direction (an SAE)
    or the row's input (a transcoder). A TopK latent only fires if it beats the live ones, so its
    encoder row gets the live rows' mean norm; a ReLU latent starts at a fifth of it (Bricken et al.).
    Adam's moments for those rows are cleared so the old gradients do not drag them back.
    """
    latents = torch.nonzero(dead).flatten()
    n = min(len(latents), len(xb))
    if n == 0:
        return latents
    # The generator lives on the CPU (same draws on any device); the draws move to the dictionary's device.
    latents = latents[torch.randperm(len(latents), generator=gen)[:n].to(latents.device)]
    rows = torch.multinomial((err.pow(2).sum(-1) + 1e-12).cpu(), n, replacement=False, generator=gen).to(xb.device)
    missing = F.normalize(-err[rows], dim=-1)
    reads = missing if not sae.cfg.is_transcoder else F.normalize(sae._centre(xb[rows]), dim=-1)
    live = ~dead
    norm = sae.W_enc[live].norm(dim=-1).mean() if live.any() else torch.tensor(1.0, device=xb.device)
    sae.W_dec[latents] = missing
    sae.W_enc[latents] = reads * norm * (1.0 if sae.cfg.kind == "topk" else 0.2)
    sae.b_enc[latents] = 0.0
    for param in (sae.W_dec, sae.W_enc, sae.b_enc):
        for moment in opt.state.get(param, {}).values():
            if torch.is_tensor(moment) and moment.shape[:1] == param.shape[:1] and moment.dim() > 0:
                moment[latents] = 0.0
    return latents


@torch.enable_grad()  # a notebook may have turned gradients off (torch.set_grad_enabled(False)); training needs them
def train_dictionary(sae: Dictionary, x: Float[Tensor, "n d_in"], settings: TrainSettings,
                     y: Float[Tensor, "n d_out"] | None = None) -> TrainResult:
    """Train ``sae`` in place on inputs ``x`` (and targets ``y`` for a transcoder) with Adam.

    Batches cycle through the data (shuffled each pass unless ``settings.shuffle`` is False) until
    ``settings.tokens`` rows have been seen. Losses are computed on scaled data (mean squared norm d).

        sae = Dictionary(DictConfig(d_in=acts.shape[1], width=512, k=16))
        result = train_dictionary(sae, acts, TrainSettings(tokens=200_000))   # result.mse: per-step losses
    """
    cfg = sae.cfg
    sae._check(x, cfg.d_in, "training input")
    if cfg.is_transcoder:
        if y is None or len(y) != len(x):
            raise ValueError("a transcoder needs targets y with one row per input row")
        sae._check(y, cfg.target_dim, "training target")
    if settings.penalty_power <= 0:
        raise ValueError(f"penalty_power must be positive (1 is L1), got {settings.penalty_power}")
    if len(x) < settings.batch_size:
        raise ValueError(f"need at least batch_size={settings.batch_size} rows, got {len(x)}")
    gen = torch.Generator().manual_seed(settings.seed)
    device = sae.W_dec.device  # the data stays where it is (the CPU); samples and batches move to the dictionary
    sample = x[torch.randperm(len(x), generator=gen)[:65536]].to(device)
    sae.fit_scales(sample, None if y is None else y[torch.randperm(len(y), generator=gen)[:65536]].to(device))
    if not cfg.is_transcoder:
        with torch.no_grad():  # start b_dec at the (scaled) data median: encoders then see centred inputs
            sae.b_dec.copy_((sample * sae.scale_in).median(dim=0).values)
    opt = torch.optim.Adam(sae.parameters(), lr=settings.lr, betas=(0.9, 0.999))
    steps = settings.tokens // settings.batch_size
    since_fired = torch.zeros(cfg.width, dtype=torch.long, device=device)
    resample_steps = {int(f * steps) for f in settings.resample_at if 0 < f < 1}
    result = TrainResult(steps, [], [], 0.0, steps * settings.batch_size)
    order = torch.arange(len(x))
    pos = len(x)  # forces a (re)shuffle on the first step
    start = time.perf_counter()
    sae.train()
    for step in progress_bar(range(steps), desc="training dictionary", unit="step", disable=not settings.progress):
        if pos + settings.batch_size > len(x):
            order = torch.randperm(len(x), generator=gen) if settings.shuffle else order
            pos = 0
        rows = order[pos: pos + settings.batch_size]
        pos += settings.batch_size
        xb = x[rows].to(device)
        target = (xb if y is None else y[rows].to(device)) * sae.scale_out
        if cfg.kind == "topk":
            dead = since_fired > settings.dead_after if settings.aux_k else None
            use_aux = dead is not None and bool(dead.any())
            k_aux = min(settings.aux_k, int(dead.sum())) if use_aux else 0
            vals, idx, aux_v, aux_i = sae.encode_sparse(xb, dead if use_aux else None, k_aux)
            recon = sae.decode_sparse(vals, idx, xb) * sae.scale_out
            err = recon - target
            loss = err.pow(2).sum(-1).mean()
            aux = torch.zeros(())
            if use_aux:
                # AuxK: dead latents learn to explain what the live ones missed.
                aux_recon = F.embedding_bag(aux_i, sae.W_dec, per_sample_weights=aux_v, mode="sum")
                aux = (aux_recon - err.detach()).pow(2).sum(-1).mean() / err.detach().pow(2).sum(-1).mean().clamp_min(1e-8)
                loss = loss + settings.aux_coeff * aux
            fired = torch.zeros(cfg.width, dtype=torch.bool, device=device)
            fired[idx[vals > 0]] = True
        else:
            f = sae.encode(xb)
            recon = sae.decode(f, xb) * sae.scale_out
            loss_mse = (recon - target).pow(2).sum(-1).mean()
            # p < 1: clamped so that a latent at zero gets no (infinite) gradient from the penalty.
            aux = (f if settings.penalty_power == 1 else f.clamp_min(1e-6).pow(settings.penalty_power)).sum(-1).mean()
            loss = loss_mse + settings.l1_coeff * aux / cfg.d_in
            err = recon - target
            fired = (f > 0).any(0)
        since_fired += settings.batch_size
        since_fired[fired] = 0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step in resample_steps:
            restarted = resample_dead(sae, opt, since_fired > settings.dead_after, xb, err.detach(), gen)
            result.resampled.append(len(restarted))
            since_fired[restarted] = 0
        sae.normalise_decoder()
        result.mse.append(err.detach().pow(2).sum(-1).mean().item() / cfg.target_dim)
        result.aux.append(float(aux.detach()))
    result.seconds = time.perf_counter() - start
    sae.eval()
    return result
