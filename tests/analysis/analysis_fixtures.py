"""Fixtures the analysis tests share (imported by name): a tiny model, random token rows, a small TopK SAE."""

import pytest
import torch

from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary

HOOK = "blocks.0.hook_resid_post"


@pytest.fixture(scope="module")
def model(tiny_model):
    return tiny_model  # the session's tiny model (tests/conftest.py), made once


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(1, 250, (6, 16), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def sae():
    """48 latents on the tiny model's block-0 residual stream; latents 40..47 can never win (dead)."""
    d = Dictionary(DictConfig(d_in=32, width=48, k=4, hook_in=HOOK), seed=0)
    with torch.no_grad():
        d.W_enc.copy_(d.W_dec * 3)  # a plausible encoder: the decoder's transpose
        d.b_enc[40:] = -1e4
    return d.requires_grad_(False)
