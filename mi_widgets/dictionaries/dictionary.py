"""Sparse dictionaries: TopK and ReLU+L1 sparse autoencoders, and transcoders (with an optional skip path).

    sae = Dictionary(DictConfig(d_in=128, width=2048, k=16))
    sae.encode(acts)                       # [n, d_in] -> [n, width], k active per row
    sae.save(folder); Dictionary.load(folder)

Training is in `dictionaries.dictionary_training`.

A dictionary maps an input ``x`` to sparse latents ``f`` and reconstructs a target: ``x`` itself
for an SAE, the MLP's output for a transcoder (input: the MLP's normalised input). Decoder rows
have unit norm, so a latent's activation is the length of its contribution.

Speed. For a TopK dictionary only the encoder's forward matmul has to be dense: the top-k values
need every pre-activation, but the decoder, and every gradient, touch only the k active latents.
`_TopKEncode` is that encoder as an autograd function (row chunks, sparse backward), and the decoder
is an ``embedding_bag`` over the active rows. ``tests/dictionaries/test_dictionary.py`` checks the gradients against
dense autograd. Introduced in ``notebooks/10_dictionaries``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

FORMAT = "mi_widgets.dictionary/1"


@dataclass
class DictConfig:
    """What a dictionary is; saved as ``config.json`` beside its weights.

    For example:

        cfg = DictConfig(d_in=128, width=512, k=16, hook_in="blocks.2.hook_resid_post")
        sae = Dictionary(cfg)   # an SAE: reconstructs its input, 16 latents active per token
    """

    d_in: int
    """Width of the input activations (``d_model`` for the residual stream)."""
    width: int
    """Number of latents (the dictionary's size)."""
    k: int = 16
    """Active latents per token (TopK); ignored by the ReLU+L1 kind."""
    kind: str = "topk"
    """"topk" or "relu" (ReLU with an L1 penalty)."""
    d_out: int | None = None
    """Target width; None means an SAE (target = input)."""
    skip: bool = False
    """Transcoders only: a dense linear path input -> output that does not count towards L0."""
    hook_in: str = ""
    """The hook point the inputs are read from, e.g. ``"blocks.2.hook_resid_post"``."""
    hook_out: str = ""
    """Transcoders only: the hook point the targets are read from, e.g. ``"blocks.1.hook_mlp_out"``."""
    model: str = ""
    """The model the dictionary was trained on (a bundled name)."""

    def __post_init__(self):
        if self.kind not in ("topk", "relu"):
            raise ValueError(f"kind must be 'topk' or 'relu', got {self.kind!r}")
        if self.d_in <= 0 or self.width <= 0:
            raise ValueError(f"d_in and width must be positive, got d_in={self.d_in}, width={self.width}")
        if self.kind == "topk" and not 0 < self.k <= self.width:
            raise ValueError(f"k must be in 1..width ({self.width}), got {self.k}")
        if self.skip and self.d_out is None:
            raise ValueError("a skip path needs a transcoder (set d_out)")

    @property
    def target_dim(self) -> int:
        return self.d_in if self.d_out is None else self.d_out

    @property
    def is_transcoder(self) -> bool:
        return self.d_out is not None


class _TopKEncode(torch.autograd.Function):
    """Top-k of ``x @ W_enc.T + b_enc`` per row; optionally also the top ``k_aux`` among masked latents.

    Forward computes pre-activations a chunk of rows at a time (they never exist for the whole
    batch). Backward: the gradient reaches only the selected latents, so it is an index-add over
    k rows of ``W_enc`` per token instead of a dense [batch, width] matmul.
    """

    @staticmethod
    def forward(ctx, x, w_enc, b_enc, k: int, aux_mask, k_aux: int, chunk: int):
        vals, idx, aux_vals, aux_idx = [], [], [], []
        for rows in x.split(chunk):
            pre = torch.addmm(b_enc, rows, w_enc.t())  # [chunk, width]
            v, i = pre.topk(k, dim=1, sorted=False)
            vals.append(v)
            idx.append(i)
            if aux_mask is not None:
                v, i = pre.masked_fill_(~aux_mask, -math.inf).topk(k_aux, dim=1, sorted=False)
                aux_vals.append(v)
                aux_idx.append(i)
        out = [torch.cat(vals), torch.cat(idx)]
        out += [torch.cat(aux_vals), torch.cat(aux_idx)] if aux_mask is not None else [None, None]
        ctx.save_for_backward(x, w_enc, out[1], out[3] if aux_mask is not None else None)
        ctx.mark_non_differentiable(out[1])
        if out[3] is not None:
            ctx.mark_non_differentiable(out[3])
        return tuple(out)

    @staticmethod
    def backward(ctx, g_vals, _g_idx, g_aux, _g_aux_idx):
        x, w_enc, idx, aux_idx = ctx.saved_tensors
        pairs = [(g_vals, idx)] + ([(g_aux, aux_idx)] if aux_idx is not None and g_aux is not None else [])
        idx_all = torch.cat([i for _, i in pairs], dim=1)
        g_all = torch.cat([g for g, _ in pairs], dim=1)
        g_all = torch.where(torch.isfinite(g_all), g_all, torch.zeros((), dtype=g_all.dtype))
        g_x = F.embedding_bag(idx_all, w_enc, per_sample_weights=g_all, mode="sum")  # [batch, d_in]
        flat = idx_all.reshape(-1)
        g_w = torch.zeros_like(w_enc).index_add_(0, flat, (g_all.unsqueeze(-1) * x.unsqueeze(1)).reshape(-1, x.shape[1]))
        g_b = torch.zeros(w_enc.shape[0], dtype=x.dtype).index_add_(0, flat, g_all.reshape(-1))
        return g_x, g_w, g_b, None, None, None, None


class Dictionary(nn.Module):
    """A TopK or ReLU+L1 SAE, or a transcoder; see the module docstring.

    Parameters: ``W_enc`` [width, d_in], ``b_enc`` [width], ``W_dec`` [width, target] (unit rows),
    ``b_dec`` [target], optional ``W_skip`` [d_in, target]. ``scale_in`` and ``scale_out`` are
    buffers set from the data so that inputs and targets have mean squared norm ``d`` inside.

        sae = Dictionary(DictConfig(d_in=128, width=512, k=16), seed=0)   # random, unit decoder rows
        x_hat = sae(torch.randn(10, 128))                                   # [10, 128]
    """

    def __init__(self, cfg: DictConfig, seed: int = 0, tie_init: bool = True):
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(seed)
        w_dec = torch.randn(cfg.width, cfg.target_dim, generator=gen)
        w_dec /= w_dec.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(w_dec)
        if tie_init and not cfg.is_transcoder:
            # The decoder's transpose, scaled down so the first reconstructions are small rather than
            # k large random vectors: FVU started above 1 at k=32 and converged slower without it.
            w_enc = 0.1 * w_dec
        else:
            w_enc = torch.randn(cfg.width, cfg.d_in, generator=gen) / math.sqrt(cfg.d_in)
        self.W_enc = nn.Parameter(w_enc)
        self.b_enc = nn.Parameter(torch.zeros(cfg.width))
        self.b_dec = nn.Parameter(torch.zeros(cfg.target_dim))
        self.W_skip = nn.Parameter(torch.zeros(cfg.d_in, cfg.target_dim)) if cfg.skip else None
        self.register_buffer("scale_in", torch.ones(()))
        self.register_buffer("scale_out", torch.ones(()))
        self.chunk = 1024

    # ------------------------------------------------------------ core maps

    def _check(self, x: Tensor, dim: int, what: str) -> Tensor:
        if x.ndim < 1 or x.shape[-1] != dim:
            raise ValueError(f"{what} must end in dimension {dim} for this dictionary "
                             f"({self.cfg.hook_in or 'd_in'}), got shape {tuple(x.shape)}")
        bad = ~torch.isfinite(x).all(dim=-1)
        if bad.any():  # a NaN row would pick arbitrary latents and spread into every reconstruction
            rows = torch.nonzero(bad.reshape(-1)).flatten()
            raise ValueError(f"{what} has NaN or infinite values in {len(rows)} of {bad.numel()} rows "
                             f"(first: row {rows[0].item()}); check the activations or the hook they came from")
        return x

    def _centre(self, x: Tensor) -> Tensor:
        x = x * self.scale_in
        return x if self.cfg.is_transcoder else x - self.b_dec  # an SAE encodes the offset from b_dec

    def encode_sparse(self, x: Float[Tensor, "n d_in"], aux_mask: Tensor | None = None, k_aux: int = 0):
        """TopK only: ``(values [n, k], indices [n, k])`` of the active latents, plus the aux pair.

        The aux pair holds the ``k_aux`` largest pre-activations among the latents in ``aux_mask`` (the
        dead ones, during training), or two empty tensors. Cheaper than `encode` for a wide dictionary.

            vals, idx, _, _ = sae.encode_sparse(acts)      # [n, k] each
            x_hat = sae.decode_sparse(vals, idx)           # equals sae(acts)
        """
        self._check(x, self.cfg.d_in, "input")
        vals, idx, aux_v, aux_i = _TopKEncode.apply(self._centre(x), self.W_enc, self.b_enc, self.cfg.k,
                                                     aux_mask, k_aux, self.chunk)
        return vals.relu(), idx, (aux_v.relu() if aux_v is not None else None), aux_i

    def decode_sparse(self, vals: Float[Tensor, "n k"], idx: Int[Tensor, "n k"],
                      x: Tensor | None = None) -> Float[Tensor, "n target"]:
        """Reconstruction ``[n, target]`` from active latents (and the skip path from input ``x``), in data units.

        For example:

            vals, idx, _, _ = sae.encode_sparse(acts)
            x_hat = sae.decode_sparse(vals, idx)   # a transcoder with a skip path: decode_sparse(vals, idx, acts)
        """
        out = F.embedding_bag(idx, self.W_dec, per_sample_weights=vals, mode="sum") + self.b_dec
        if self.W_skip is not None:
            out = out + (x * self.scale_in) @ self.W_skip
        return out / self.scale_out

    def encode(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... width"]:
        """Dense latent activations (zeros where inactive): ``[..., d_in]`` -> ``[..., width]``.

        For example:

            codes = sae.encode(acts)          # [n, width], at most k nonzero per row (TopK)
            active = (codes > 0).sum(-1)      # L0 per row
        """
        self._check(x, self.cfg.d_in, "input")
        flat = x.reshape(-1, self.cfg.d_in)
        if self.cfg.kind == "relu":
            f = F.relu(self._centre(flat) @ self.W_enc.t() + self.b_enc)
        else:
            vals, idx, _, _ = self.encode_sparse(flat)
            f = torch.zeros(len(flat), self.cfg.width, dtype=vals.dtype).scatter_(1, idx, vals)
        return f.reshape(*x.shape[:-1], self.cfg.width)

    def decode(self, f: Float[Tensor, "... width"], x: Tensor | None = None) -> Float[Tensor, "... target"]:
        """Reconstruction from dense codes ``f`` ``[..., width]``, in data units: ``[..., target]``.

        A transcoder with a skip path also needs its input ``x``, since the skip path reads it. Editing
        codes before decoding is how a latent is ablated or steered.

            codes = sae.encode(x)
            x_hat = sae.decode(codes)         # equals sae(x); codes[:, 7] = 0 first to ablate latent 7
        """
        out = f @ self.W_dec + self.b_dec
        if self.W_skip is not None:
            if x is None:
                raise ValueError("a transcoder with a skip path needs its input x to decode")
            out = out + (x * self.scale_in) @ self.W_skip
        return out / self.scale_out

    def forward(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... target"]:
        """Reconstruction of the target from ``x`` (the input itself for an SAE): ``[..., d_in]`` -> ``[..., target]``.

        For example:

            x_hat = sae(acts)
            fvu = ((acts - x_hat) ** 2).sum() / ((acts - acts.mean(0)) ** 2).sum()
        """
        self._check(x, self.cfg.d_in, "input")
        flat = x.reshape(-1, self.cfg.d_in)
        if self.cfg.kind == "topk":
            vals, idx, _, _ = self.encode_sparse(flat)
            out = self.decode_sparse(vals, idx, flat)
        else:
            out = self.decode(self.encode(flat), flat)
        return out.reshape(*x.shape[:-1], self.cfg.target_dim)

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        """Scale every decoder row to unit norm (TopK training keeps them so).

        Call it after editing ``W_dec`` by hand, under ``torch.no_grad()``:

            with torch.no_grad():
                sae.W_dec[7] += 0.1 * direction; sae.normalise_decoder()
        """
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8)

    @torch.no_grad()
    def fit_scales(self, x: Tensor, y: Tensor | None = None) -> None:
        """Set input/target scales so their mean squared norm equals their dimension.

        `train_dictionary` calls it on a sample of the training rows; the scales are saved with the weights.

            sae.fit_scales(acts)                     # an SAE
            transcoder.fit_scales(mlp_in, mlp_out)   # inputs and targets scaled apart
        """
        self.scale_in.fill_(math.sqrt(x.shape[-1] / x.pow(2).sum(-1).mean().item()))
        target = x if y is None else y
        self.scale_out.fill_(math.sqrt(target.shape[-1] / target.pow(2).sum(-1).mean().item()))

    # ------------------------------------------------------------ files

    def save(self, folder: str | Path, extra: dict | None = None) -> Path:
        """Write ``dictionary.safetensors`` and ``config.json`` (with ``extra``, e.g. metrics) to ``folder``.

        For example:

            sae.save("my-sae", extra={"metrics": {"fvu": 0.1}})
            again = Dictionary.load("my-sae")
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, folder / "dictionary.safetensors")
        meta = {"format": FORMAT, "config": asdict(self.cfg), **(extra or {})}
        (folder / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Dictionary":
        """Load a saved dictionary from ``folder``; a missing or foreign file raises a clear error.

        For example:

            sae = Dictionary.load("data/dictionaries/stories-gelu-4l/resid2")
            sae.cfg.hook_in   # 'blocks.2.hook_resid_post'
        """
        folder = Path(folder)
        cfg_path, weights = folder / "config.json", folder / "dictionary.safetensors"
        if not cfg_path.exists() or not weights.exists():
            raise FileNotFoundError(f"{folder} is not a saved dictionary (needs config.json and dictionary.safetensors)")
        try:
            meta = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{cfg_path} is not valid JSON: {err}") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{cfg_path}: unknown format {meta.get('format')!r}, expected {FORMAT!r}")
        names = {f.name for f in fields(DictConfig)}
        sae = cls(DictConfig(**{k: v for k, v in meta["config"].items() if k in names}))
        try:
            state = load_file(weights)
        except Exception as err:  # safetensors raises its own error types for damaged files
            raise ValueError(f"{weights} is damaged or not a safetensors file: {err}") from None
        sae.load_state_dict(state)
        sae.meta = meta
        return sae.eval()
