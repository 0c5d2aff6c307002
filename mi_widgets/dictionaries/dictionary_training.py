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
    refit: bool = True
    """Set the data scales (and an SAE's b_dec) from the data before training; False keeps a trained dictionary's
    own, to fine-tune it on new activations from where it is."""
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


def _topk_loss(sae: Dictionary, xb: Tensor, target: Tensor, since_fired: Tensor, settings: TrainSettings):
    """One TopK batch: (loss, scaled error, aux loss, latents that fired, (values, indices) of the active ones)."""
    dead = since_fired > settings.dead_after if settings.aux_k else None
    use_aux = dead is not None and bool(dead.any())
    k_aux = min(settings.aux_k, int(dead.sum())) if use_aux else 0
    vals, idx, aux_v, aux_i = sae.encode_sparse(xb, dead if use_aux else None, k_aux)
    err = sae.decode_sparse(vals, idx, xb) * sae.scale_out - target
    loss = err.pow(2).sum(-1).mean()
    aux = torch.zeros(())
    if use_aux:
        # AuxK: dead latents learn to explain what the live ones missed.
        aux_recon = F.embedding_bag(aux_i, sae.W_dec, per_sample_weights=aux_v, mode="sum")
        aux = (aux_recon - err.detach()).pow(2).sum(-1).mean() / err.detach().pow(2).sum(-1).mean().clamp_min(1e-8)
        loss = loss + settings.aux_coeff * aux
    fired = torch.zeros(sae.cfg.width, dtype=torch.bool, device=xb.device)
    fired[idx[vals > 0]] = True
    return loss, err, aux, fired, (vals, idx)


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
    if settings.refit:
        sae.fit_scales(sample, None if y is None else y[torch.randperm(len(y), generator=gen)[:65536]].to(device))
    if settings.refit and not cfg.is_transcoder:
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
            loss, err, aux, fired, _ = _topk_loss(sae, xb, target, since_fired, settings)
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


@torch.enable_grad()
def train_transcoder_set(transcoders: list[Dictionary], x: list[Float[Tensor, "n d_in"]], y: list[Float[Tensor, "n d_out"]],
                         settings: TrainSettings, scales: Float[Tensor, "n layers"] | None = None,
                         penalty: float = 0.0) -> TrainResult:
    """Train one TopK transcoder per MLP together, on the same rows, with an optional penalty on their graph's edges.

    ``transcoders[l]`` reads ``x[l]`` (layer l's normalised MLP input) and writes ``y[l]`` (its MLP output); all
    lists have one entry per layer, in order, and the rows of every ``x[l]`` and ``y[l]`` are the same tokens. With
    ``penalty`` > 0 the loss adds ``penalty`` times the mean, over rows, of the summed absolute edges between the
    active features of adjacent layers at the same token, along the residual stream: feature j of layer l with
    activation a_j reaches feature i of layer l + 1 with a_j (its decoder row) · (i's encoder row, centred) / the
    next LayerNorm's scale, which ``scales[:, l + 1]`` gives for each row (from ``blocks.{l}.ln2.hook_scale``).
    Routes through heads are left out of the penalty, since they mix positions. Settings are those of
    `train_dictionary` (TopK only); ``result.mse`` is each step's mean over layers, ``result.aux`` the penalty's sum.

        result = train_transcoder_set(tcs, ins, outs, TrainSettings(tokens=500_000), scales, penalty=1e-3)
    """
    if not transcoders or not len(transcoders) == len(x) == len(y):
        raise ValueError("give one transcoder, one input and one target array per layer")
    if any(tc.cfg.kind != "topk" or not tc.cfg.is_transcoder for tc in transcoders):
        raise ValueError("every dictionary must be a TopK transcoder")
    n = len(x[0])
    if any(len(a) != n for a in [*x, *y]):
        raise ValueError("every layer's inputs and targets must have the same rows (the same tokens)")
    if penalty < 0 or (penalty > 0 and (scales is None or tuple(scales.shape) != (n, len(transcoders)))):
        raise ValueError("a penalty must be >= 0, and a positive one needs scales of shape [rows, layers]")
    if n < settings.batch_size:
        raise ValueError(f"need at least batch_size={settings.batch_size} rows, got {n}")
    for tc, xl, yl in zip(transcoders, x, y):
        tc._check(xl, tc.cfg.d_in, "training input")
        tc._check(yl, tc.cfg.target_dim, "training target")
    gen = torch.Generator().manual_seed(settings.seed)
    device = transcoders[0].W_dec.device  # the data stays on the CPU; batches move to the transcoders
    sample = torch.randperm(n, generator=gen)[:65536]
    for tc, xl, yl in zip(transcoders, x, y):
        tc.fit_scales(xl[sample].to(device), yl[sample].to(device))
    opt = torch.optim.Adam([p for tc in transcoders for p in tc.parameters()], lr=settings.lr, betas=(0.9, 0.999))
    steps = settings.tokens // settings.batch_size
    since = [torch.zeros(tc.cfg.width, dtype=torch.long, device=device) for tc in transcoders]
    result = TrainResult(steps, [], [], 0.0, steps * settings.batch_size)
    pos, order = n, torch.arange(n)
    start = time.perf_counter()
    for tc in transcoders:
        tc.train()
    for _ in progress_bar(range(steps), desc=f"training {len(transcoders)} transcoders", unit="step",
                          disable=not settings.progress):
        if pos + settings.batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        rows = order[pos: pos + settings.batch_size]
        pos += settings.batch_size
        total, mses, active = 0.0, [], []
        for layer, tc in enumerate(transcoders):
            loss, err, _, fired, sparse = _topk_loss(tc, x[layer][rows].to(device),
                                                     y[layer][rows].to(device) * tc.scale_out, since[layer], settings)
            since[layer] += settings.batch_size
            since[layer][fired] = 0
            total = total + loss
            mses.append(err.detach().pow(2).sum(-1).mean().item() / tc.cfg.target_dim)
            active.append(sparse)
        edges = torch.zeros(())
        if penalty > 0:
            for layer in range(len(transcoders) - 1):
                (vals, idx), (_, idx_next) = active[layer], active[layer + 1]
                early, late = transcoders[layer], transcoders[layer + 1]
                # The input-invariant part first, for every pair of features ([width, width]): gathering it is
                # much cheaper to differentiate than gathering [batch, k, d] rows of both matrices.
                read = late.W_enc - late.W_enc.mean(-1, keepdim=True)
                virtual = (early.W_dec @ read.T) * (late.scale_in / early.scale_out)
                # gather, whose backward (scatter_add) is deterministic on the CPU, unlike advanced indexing's.
                flat = (idx[:, :, None] * virtual.shape[1] + idx_next[:, None, :]).reshape(-1)
                pair = virtual.reshape(-1).gather(0, flat).reshape(idx.shape[0], idx.shape[1], idx_next.shape[1])
                per_row = (vals[..., None] * pair).abs().sum((1, 2)) / scales[rows, layer + 1].to(device)
                edges = edges + per_row.mean()
            total = total + penalty * edges
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        for tc in transcoders:
            tc.normalise_decoder()
        result.mse.append(sum(mses) / len(mses))
        result.aux.append(float(edges.detach()))
    result.seconds = time.perf_counter() - start
    for tc in transcoders:
        tc.eval()
    return result
