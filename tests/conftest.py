"""Shared fixtures: a tiny bundled model made on the fly, and a guard that keeps tests off the network. The
solution and learner notebooks are written from their sources first; the notebook runs the selected tests
ask for start, two at a time, as soon as the tests are collected (tests/notebook_runs.py)."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
import torch

from notebook_runs import POOL

from mi_widgets.book.build import NOTEBOOKS
from mi_widgets.book.sources import write_notebooks

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
write_notebooks(NOTEBOOKS)  # the notebooks the tests execute are generated from their text sources


def pytest_collection_finish(session):
    """Queue the notebook runs of the selected tests (after -k and -m), in test order."""
    runs = []
    for item in session.items:
        planner = getattr(getattr(item, "function", None), "notebook_runs", None)
        if planner:
            runs += planner(getattr(getattr(item, "callspec", None), "params", {}))
    POOL.plan(runs)


def pytest_sessionfinish():
    POOL.close()


def _is_local(host) -> bool:
    if host is None or host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that tries to reach a host other than this machine (no packet is sent)."""
    attempts: list[str] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if not _is_local(host):
            attempts.append(f"connect {address}")
            raise OSError(f"test network guard: refused to connect to {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            attempts.append(f"resolve {host}")
            raise socket.gaierror(f"test network guard: refused to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert not attempts, f"the test tried to use the network: {attempts}"


def make_tiny_model(folder, attn_only: bool = False, seed: int = 0):
    """A 2-layer HookedTransformer with random weights and a 300-token BPE tokenizer saved in ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from mi_widgets.models import BOS_TOKEN, save_tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=[BOS_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(["Once upon a time, a cat named Bolin found a red ball."] * 20, trainer)
    tokenizer = save_tokenizer(bpe, folder)
    cfg = HookedTransformerConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=None if attn_only else 64,
                                  d_vocab=tokenizer.vocab_size, n_ctx=64, act_fn=None if attn_only else "gelu_new",
                                  attn_only=attn_only, normalization_type="LN", seed=seed)
    torch.manual_seed(seed)
    return HookedTransformer(cfg, tokenizer=tokenizer)


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory):
    """A ``models`` folder holding one bundled model, ``tiny``, saved with `save_model`."""
    from mi_widgets import save_model

    root = tmp_path_factory.mktemp("models")
    save_model(make_tiny_model(root / "tiny"), root / "tiny", card="# tiny\nA test model.\n")
    return root


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """One random 2-layer model for the tests that only need some model (made once per session)."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-shared"))


@pytest.fixture(scope="session")
def tiny_tokens():
    """Ten rows of twelve random token ids of the tiny model's vocabulary."""
    return torch.randint(1, 250, (10, 12), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="session")
def hf_home() -> Path:
    """A Hugging Face cache holding the hub-model stand-ins (tests/standins.py), made once per session."""
    return Path(POOL.standin_env()["HF_HOME"])


@pytest.fixture(scope="session")
def dictionary_cache() -> Path:
    """A dictionary cache (``MI_WIDGETS_CACHE``) for the session: chapters on one stand-in share what they train."""
    return Path(POOL.standin_env()["MI_WIDGETS_CACHE"])
