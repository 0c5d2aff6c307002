"""Load the bundled model organisms, or a TransformerLens model by name when online.

A bundled model is a folder ``data/models/<name>/`` holding

- ``mi_config.json``: the HookedTransformer architecture, the sha256 of the weights, training facts;
- ``model.safetensors``: the HookedTransformer state dict;
- ``tokenizer.json`` + ``tokenizer_config.json``: a Hugging Face fast tokenizer (it prepends BOS);
- ``README.md``: the model card.

Loading one touches no network. Any other name goes to TransformerLens's own ``from_pretrained``,
which needs the Hugging Face hub; offline that fails fast with a message naming the bundled models.
TransformerLens stays behind this module so a move to its 4.x ``TransformerBridge`` touches one file.
Introduced in ``notebooks/00_start/00_start.ipynb``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import warnings
from pathlib import Path
from urllib.parse import urlparse

import torch

CONFIG_FILE = "mi_config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "mi_widgets.hooked_transformer/1"
BOS_TOKEN = "<|endoftext|>"
# The HookedTransformerConfig fields that define a bundled architecture; everything else is derived.
ARCH_FIELDS = (
    "n_layers", "d_model", "n_heads", "d_head", "d_mlp", "d_vocab", "n_ctx", "act_fn", "attn_only",
    "normalization_type", "positional_embedding_type", "seed",
)


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says why and what to do.

    Catch it to fall back, or let it explain itself:

        try:
            model = load_model("stories-gelu-9l")
        except ModelLoadError as error:
            print(error)   # "unknown model ...: it is neither a bundled model (stories-attn-1l, ...) nor ..."
    """


def data_dir() -> Path:
    """The project's ``data/`` folder (override with the environment variable ``MI_WIDGETS_DATA``)."""
    return Path(os.environ.get("MI_WIDGETS_DATA", Path(__file__).resolve().parent.parent / "data"))


def bundled_models(models_dir: Path | None = None) -> list[str]:
    """Names of the bundled models: folders of ``data/models`` (or ``models_dir``) that hold a config file.

    For example:

        bundled_models()   # ['stories-attn-1l', ..., 'stories-gelu-4l']
        model = load_model(bundled_models()[0])
    """
    root = Path(models_dir) if models_dir is not None else data_dir() / "models"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file())


def load_model(name: str, *, models_dir: Path | None = None, device: str = "cpu"):
    """Return a ``HookedTransformer`` (with its tokenizer) for a bundled name or a TransformerLens name.

    Args:
        name: a bundled model (``bundled_models()`` lists them, e.g. ``"stories-gelu-4l"``), read from
            ``data/models/<name>/`` offline; or any TransformerLens name (``"tiny-stories-1M"``,
            ``"gpt2"``), which TransformerLens downloads from the Hugging Face hub.
        models_dir: where bundled models live (default ``data/models``).
        device: ``"cpu"``, ``"cuda"``, ...; the model's weights are moved there.

    Raises `ModelLoadError` with a clear message for an unknown name, a missing or corrupt weights
    file, weights that do not fit the config, or a hub that cannot be reached.

        model = load_model("stories-gelu-2l")
        logits = model("Once upon a time")   # [1, pos, d_vocab]
    """
    if not isinstance(name, str) or not name.strip():
        raise ModelLoadError(f"model name must be a non-empty string, got {name!r}")
    device = check_device(device)
    root = Path(models_dir) if models_dir is not None else data_dir() / "models"
    folder = root / name
    if (folder / CONFIG_FILE).is_file():
        return _load_bundled(folder, device)
    return _load_pretrained(name, bundled_models(root), device)


def check_device(device: str) -> str:
    """``device`` if torch can use it here, else a clear `ModelLoadError` (not a CUDA trace from deep in torch).

        check_device("cpu")    # 'cpu'
        check_device("cuda")   # 'cuda' on a GPU machine; on a CPU-only one, an error saying so
    """
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as e:
        raise ModelLoadError(f"{device!r} is not a torch device: use 'cpu', 'cuda' or 'cuda:0', ... ({e})") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} asks for a CUDA GPU, but torch sees none on this machine "
                             "(torch.cuda.is_available() is False); set DEVICE = 'cpu'")
    index = torch.device(device).index
    if kind == "cuda" and index is not None and index >= torch.cuda.device_count():
        raise ModelLoadError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                             f"numbered from 0")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(f"device {device!r} asks for Apple's MPS, which this machine does not have; set DEVICE = 'cpu'")
    return device


def _read_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{folder / CONFIG_FILE} is not readable JSON ({e})") from e
    if config.get("format") != FORMAT or not isinstance(config.get("architecture"), dict):
        raise ModelLoadError(f"{folder / CONFIG_FILE} is not a bundled-model config (expected format {FORMAT!r})")
    return config


def _load_state_dict(folder: Path, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise ModelLoadError(f"weights file {path} is missing; run `make models` or restore it with git")
    if expected_sha256 is not None and file_sha256(path) != expected_sha256:
        raise ModelLoadError(
            f"weights file {path} does not match the checksum in {CONFIG_FILE}: it is corrupt or was "
            "replaced. Restore it with git (`git checkout -- data/models`) or retrain with `make models`."
        )
    try:
        return load_file(path)
    except Exception as e:  # safetensors raises its own error type for a bad header or truncation
        raise ModelLoadError(f"weights file {path} is corrupt or not safetensors ({e})") from e


def _check_shapes(model: torch.nn.Module, state: dict[str, torch.Tensor], folder: Path) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    problems = [f"missing {k}" for k in expected.keys() - got.keys()]
    problems += [f"unexpected {k}" for k in got.keys() - expected.keys()]
    problems += [f"{k}: config says {expected[k]}, file has {got[k]}"
                 for k in expected.keys() & got.keys() if expected[k] != got[k]]
    if problems:
        shown = "; ".join(sorted(problems)[:6]) + (" ..." if len(problems) > 6 else "")
        raise ModelLoadError(f"the weights in {folder} do not fit its config: {shown}")


def _load_bundled(folder: Path, device: str):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    config = _read_config(folder)
    state = _load_state_dict(folder, config.get("weights_sha256"))
    tokenizer = load_tokenizer(folder)
    cfg = HookedTransformerConfig(**config["architecture"], device=device)
    with warnings.catch_warnings():  # TransformerLens 3.9 warns that HookedTransformer is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        model = HookedTransformer(cfg, tokenizer=tokenizer)
    _check_shapes(model, state, folder)
    model.load_state_dict(state)
    model.eval()
    model.bundled_name = folder.name
    return model


def connection_error(url: str, timeout: float = 3.0) -> OSError | None:
    """Why ``url``'s host cannot be reached within ``timeout`` seconds, or None if it can (one TCP connect).

    A probe like this comes before anything that would retry a dead network for minutes.

        connection_error("https://huggingface.co", timeout=1.0)   # None online; an OSError offline
    """
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)),
                                      timeout=timeout):
            return None
    except OSError as e:
        return e


def _hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    return connection_error(constants.ENDPOINT, timeout) is None


def _offline_flag() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _load_pretrained(name: str, bundled: list[str], device: str):
    from transformer_lens import HookedTransformer, loading

    listing = ", ".join(bundled) if bundled else "none found; run `make models`"
    try:
        official = loading.get_official_model_name(name)
    except ValueError:
        raise ModelLoadError(
            f"unknown model {name!r}: it is neither a bundled model ({listing}) nor a TransformerLens "
            "model name (see transformer_lens.loading.OFFICIAL_MODEL_NAMES)"
        ) from None
    # Probe the hub first: without a network, from_pretrained can retry for minutes before failing.
    if not _offline_flag() and not _hub_reachable():
        raise ModelLoadError(
            f"{official!r} must be downloaded from the Hugging Face hub, which cannot be reached from here. "
            f"Bundled models that work offline: {listing}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return HookedTransformer.from_pretrained(official, device=device)
    except OSError as e:  # what transformers and huggingface_hub raise for a file they cannot get
        if not _offline_flag():
            raise
        raise ModelLoadError(
            f"{official!r} is not in the local Hugging Face cache and the hub is switched off "
            f"(HF_HUB_OFFLINE). Bundled models that work offline: {listing}"
        ) from e
    except Exception as e:  # the files are there but TransformerLens cannot build a model from them
        raise ModelLoadError(f"TransformerLens could not load {official!r} from its files: "
                             f"{type(e).__name__}: {e}") from e


def weights_digest(model: torch.nn.Module) -> str:
    """Hex sha256 of a model's parameters and buffers, by name: what a cache of anything computed from it is keyed by.

        weights_digest(load_model("stories-gelu-2l"))   # the same 64 hex digits on every machine
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model, folder: Path, *, card: str = "", extra: dict | None = None) -> Path:
    """Write a HookedTransformer and its tokenizer as a bundled-model folder that `load_model` reads.

    Args:
        model: the model to save; its weights go to ``model.safetensors``.
        folder: the folder to write (made if missing); its name is the model's bundled name.
        card: the model card, a Markdown text saved as ``README.md``.
        extra: JSON-able facts (training settings, metrics) stored in the config beside the architecture.

        save_model(model, Path("data/models/my-model"), card="# my-model\nWhat it was trained on.")
        again = load_model("my-model")   # the same weights, offline
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model.tokenizer is None:
        raise ValueError("the model has no tokenizer; bundled models ship with theirs")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, folder / WEIGHTS_FILE)
    model.tokenizer.save_pretrained(str(folder))
    config = {
        "format": FORMAT,
        "architecture": {f: getattr(model.cfg, f) for f in ARCH_FIELDS},
        "weights_sha256": file_sha256(folder / WEIGHTS_FILE),
        **(extra or {}),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    if card:
        (folder / "README.md").write_text(card)
    return folder


def load_tokenizer(folder: Path):
    """The fast tokenizer saved in ``folder`` (it prepends the BOS token ``<|endoftext|>``).

    TransformerLens re-reads a tokenizer from its ``name_or_path`` to switch BOS on, so a tokenizer
    must come from a folder, never from an in-memory object, for a model to load offline.
    """
    from transformers import PreTrainedTokenizerFast

    try:
        return PreTrainedTokenizerFast.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:
        raise ModelLoadError(f"the tokenizer in {folder} cannot be loaded ({e})") from e


def save_tokenizer(bpe, folder: Path):
    """Save a ``tokenizers.Tokenizer`` as a Hugging Face fast tokenizer in ``folder`` and load it back."""
    from transformers import PreTrainedTokenizerFast

    special = BOS_TOKEN
    if bpe.token_to_id(special) is None:
        raise ValueError(f"the tokenizer has no {special!r} token, which bundled models use as BOS")
    wrapped = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=special, eos_token=special,
                                      pad_token=special, add_bos_token=True)
    Path(folder).mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(folder))
    return load_tokenizer(folder)


def to_nnsight(model):
    """Wrap a loaded HookedTransformer for nnsight: the same weights, traced with nnsight's API.

    Inside a trace, touch modules in forward order (``blocks.0`` before ``blocks.1``), else nnsight
    raises an out-of-order error. Reads and patches equal TransformerLens's cache and hooks
    (``tests/test_models.py`` checks both).

        traced = to_nnsight(model)
        with traced.trace("Once upon a time"):
            resid = traced.blocks[0].hook_resid_post.output.save()   # [1, pos, d_model]
    """
    from nnsight import NNsight

    return NNsight(model)
