"""Harvest activations from a HookedTransformer: streamed in batches, optionally cached on disk.

    acts = harvest_activations(model, ["blocks.1.hook_resid_post"], tokens)   # {hook: [rows * (pos - 1), d]}
    acts = harvest_activations(model, hooks, ["a prompt", "a longer prompt"]) # real tokens only, no padding
    for batch in iter_activations(model, hooks, tokens): ...                   # bounded memory

Only the hooks asked for are recorded, and the forward pass stops after the last block they need
(the unembedding, the largest matmul in a small model, runs only if a hook needs it), so harvesting
is cheaper than a plain forward pass. The disk cache stores plain ``.npy`` arrays (never pickles)
with a JSON sidecar that names what the array holds and its checksum; a truncated, corrupt or
mismatched file is reported and rebuilt, never used. Introduced in ``notebooks/10_dictionaries``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Bool, Float, Int

from mi_widgets.models import file_sha256, weights_digest
from mi_widgets.progress import progress_bar


def check_hooks(model, hooks: Sequence[str]) -> list[str]:
    """The hook names, checked against the model; an unknown name raises with the closest real ones."""
    if isinstance(hooks, str):
        hooks = [hooks]
    if not hooks:
        raise ValueError("give at least one hook name, e.g. 'blocks.0.hook_resid_post'")
    for hook in hooks:
        if hook not in model.hook_dict:
            close = difflib.get_close_matches(hook, list(model.hook_dict), n=4, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(f"the model has no hook point {hook!r}.{hint} "
                           f"(all {len(model.hook_dict)} names are in model.hook_dict)")
    return list(hooks)


def _stop_layer(model, hooks: Sequence[str]) -> int | None:
    """The first block the hooks do not need (None: the whole model, e.g. for ln_final)."""
    layers = []
    for hook in hooks:
        if hook.startswith("blocks."):
            layers.append(int(hook.split(".")[1]))
        elif hook.startswith(("hook_embed", "hook_pos_embed")):
            layers.append(0)
        else:
            return None
    return max(layers) + 1


def _check_tokens(tokens) -> Int[torch.Tensor, "batch pos"]:
    tokens = torch.as_tensor(tokens)
    if tokens.ndim != 2 or tokens.shape[0] == 0 or tokens.shape[1] < 2:
        raise ValueError(f"tokens must be a [batch, pos] array of token ids with pos >= 2, got shape "
                         f"{tuple(tokens.shape)}")
    return tokens.long()


def tokens_and_mask(model, tokens: Sequence[str] | Int[torch.Tensor, "batch pos"],
                    mask: Bool[torch.Tensor, "batch pos"] | None = None
                    ) -> tuple[Int[torch.Tensor, "batch pos"], Bool[torch.Tensor, "batch pos"] | None]:
    """Token ids and a mask of the real (not padding) positions, from prompts or from ids and a mask.

    A list of prompts is tokenized one prompt at a time (each with its BOS) and padded on the right; the
    mask is False on the padding. Token ids come back with ``mask`` as given (None: every position is
    real); a mask must have the ids' shape.
    """
    if isinstance(tokens, str):
        raise TypeError("give a list of prompts (or token ids), not one string: [prompt]")
    if isinstance(tokens, (list, tuple)) and tokens and all(isinstance(t, str) for t in tokens):
        if mask is not None:
            raise ValueError("a mask goes with token ids; prompts make their own")
        rows = [model.to_tokens(t)[0] for t in tokens]
        length = max(len(r) for r in rows)
        pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), length), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.bool)
        for i, r in enumerate(rows):
            ids[i, : len(r)], mask[i, : len(r)] = r, True
        return _check_tokens(ids), mask
    if isinstance(tokens, (list, tuple)) and not tokens:
        raise ValueError("the prompt list is empty: give at least one prompt")
    ids = _check_tokens(tokens)
    if mask is not None:
        mask = torch.as_tensor(mask)
        if mask.shape != ids.shape or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool array of the tokens' shape {tuple(ids.shape)}, got "
                             f"{mask.dtype} {tuple(mask.shape)}")
    return ids, mask


@torch.no_grad()
def iter_activations(model, hooks: str | Sequence[str], tokens: Sequence[str] | Int[torch.Tensor, "batch pos"],
                     batch_size: int = 32, skip_bos: bool = True, progress: bool = True,
                     mask: Bool[torch.Tensor, "batch pos"] | None = None
                     ) -> Iterator[dict[str, Float[torch.Tensor, "n d"]]]:
    """Yield ``{hook: activations}`` for ``batch_size`` rows at a time, positions flattened.

    ``skip_bos`` drops position 0, whose activations are outliers that no dictionary should spend
    latents on; positions where ``mask`` is False (the padding of a list of prompts) are dropped too.
    Memory holds one batch, whatever the number of rows.

        for batch in iter_activations(model, ["blocks.0.hook_resid_post"], rows, batch_size=8):
            print(batch["blocks.0.hook_resid_post"].shape)   # [8 * (pos - 1), d_model]
    """
    hooks = check_hooks(model, hooks)
    tokens, mask = tokens_and_mask(model, tokens, mask)
    stop = _stop_layer(model, hooks)
    start = 1 if skip_bos else 0
    store: dict[str, torch.Tensor] = {}
    rows_mask: torch.Tensor | None = None

    def keep(act, hook):
        act = act[:, start:]
        if rows_mask is not None:
            act = act[rows_mask[:, start:]]
        store[hook.name] = act.reshape(-1, act.shape[-1]).cpu()  # heads are flattened too; on a GPU, to the CPU

    fwd = [(h, keep) for h in hooks]
    batches = range(0, len(tokens), batch_size)
    for i in progress_bar(batches, desc="harvesting", unit="batch", disable=not progress):
        rows_mask = None if mask is None else mask[i: i + batch_size]
        with model.hooks(fwd_hooks=fwd):
            model(tokens[i: i + batch_size], stop_at_layer=stop, return_type=None)
        yield {h: store[h] for h in hooks}


def harvest_activations(model, hooks: str | Sequence[str], tokens: Sequence[str] | Int[torch.Tensor, "batch pos"],
                        batch_size: int = 32, skip_bos: bool = True, cache_dir: str | Path | None = None,
                        progress: bool = True, mask: Bool[torch.Tensor, "batch pos"] | None = None
                        ) -> dict[str, Float[torch.Tensor, "n d"]]:
    """All activations at ``hooks`` for ``tokens`` as ``{hook: [n, d]}`` float32 tensors, one row per position.

    ``tokens`` is a ``[rows, pos]`` array of token ids, or a list of prompts. Rows come prompt by prompt,
    position by position. With ``skip_bos`` (the default) each prompt's position 0 is dropped, so a
    prompt of 15 tokens (its BOS included) gives 14 rows. A list of prompts of different lengths gives
    its real tokens only: 3 prompts of 6, 4 and 8 tokens give 5 + 3 + 7 = 15 rows, never padding. For
    ids that you padded yourself (``model.to_tokens(prompts)`` pads on the right), pass ``mask``, True
    at the real positions, or the padding comes back as if it were tokens.

        acts = harvest_activations(model, ["blocks.1.hook_resid_post"], ["Once upon a time", "Tom ran"])
        acts["blocks.1.hook_resid_post"].shape   # [4 + 2, d_model]: BOS dropped, no padding

    With ``cache_dir``, each hook's array is read from (or written to) a file keyed by the model's
    weights, the hook, the tokens, the mask and ``skip_bos``; cached arrays are memory-mapped, so a
    large harvest does not have to fit in RAM twice.
    """
    hooks = check_hooks(model, hooks)
    tokens, mask = tokens_and_mask(model, tokens, mask)
    paths = {h: cache_path(cache_dir, model, h, tokens, skip_bos, mask) for h in hooks} if cache_dir else {}
    out = {h: a for h in hooks if (a := read_cache(paths[h]) if paths else None) is not None}
    todo = [h for h in hooks if h not in out]
    if not todo:
        return out
    start = 1 if skip_bos else 0
    kept = mask[:, start:] if mask is not None else torch.ones(tokens.shape[0], tokens.shape[1] - start, dtype=torch.bool)
    n, first = int(kept.sum()), max(int(kept[:batch_size].sum()), 1)  # positions in all, in the first batch
    arrays: dict[str, np.ndarray] = {}
    filled: dict[str, int] = {h: 0 for h in todo}
    for batch in iter_activations(model, todo, tokens, batch_size, skip_bos, progress, mask):
        for h, act in batch.items():
            if h not in arrays:  # a head hook gives n_heads rows per position
                arrays[h] = _new_array(paths.get(h), (n * (len(act) // first), act.shape[-1]))
            arrays[h][filled[h]: filled[h] + len(act)] = act.numpy()
            filled[h] += len(act)
    for h, array in arrays.items():
        out[h] = torch.from_numpy(_finish_array(paths.get(h), array))
    return out


# ---------------------------------------------------------------- disk cache


def cache_path(cache_dir: str | Path, model, hook: str, tokens: torch.Tensor, skip_bos: bool,
               mask: torch.Tensor | None = None) -> Path:
    """The cache file for one harvest: its name is a hash of everything the activations depend on."""
    weights = weights_digest(model)
    data = hashlib.sha256(np.ascontiguousarray(tokens.numpy().astype(np.int64)).tobytes()).hexdigest()
    parts = [weights, hook, data, list(tokens.shape), skip_bos]
    if mask is not None:
        parts.append(hashlib.sha256(mask.numpy().tobytes()).hexdigest())
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return Path(cache_dir) / f"{hook}-{key[:20]}.npy"


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def read_cache(path: Path) -> torch.Tensor | None:
    """A cached array, or None (with a warning) if it is missing, truncated, corrupt or mismatched."""
    meta = _meta_path(path)
    if not path.exists() or not meta.exists():
        return None
    try:
        info = json.loads(meta.read_text())
        if info.get("file") != path.name:
            raise ValueError(f"sidecar describes {info.get('file')!r}")
        if file_sha256(path) != info["sha256"]:
            raise ValueError("checksum mismatch (truncated or modified)")
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        if list(array.shape) != info["shape"]:
            raise ValueError(f"shape {array.shape} != recorded {info['shape']}")
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as err:
        warnings.warn(f"activation cache {path} is unusable ({err}); rebuilding it", stacklevel=3)
        path.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        return None
    return torch.from_numpy(np.array(array))  # a private writable copy


def _new_array(path: Path | None, shape: tuple[int, int]) -> np.ndarray:
    if path is None:
        return np.empty(shape, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed when complete: a crash never leaves a valid-looking file.
    return np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), mode="w+", dtype=np.float32, shape=shape)


def _finish_array(path: Path | None, array: np.ndarray) -> np.ndarray:
    if path is None:
        return array
    array.flush()
    tmp = path.with_suffix(".tmp.npy")
    del array
    os.replace(tmp, path)
    meta = {"file": path.name, "shape": list(np.load(path, mmap_mode="r").shape), "sha256": file_sha256(path)}
    tmp_meta = _meta_path(path).with_suffix(".tmp.json")
    tmp_meta.write_text(json.dumps(meta))
    os.replace(tmp_meta, _meta_path(path))
    return np.array(np.load(path, mmap_mode="r"))
