"""mi_widgets.patching: a patch at one position equals a hand-made hook, and bad input gets a clear error."""

import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.patching import patch_activation


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tok"))


def test_patching_every_position_gives_the_clean_run_and_one_position_moves_only_later_ones(model):
    clean, corrupt = torch.tensor([[1, 5, 9, 4, 7]]), torch.tensor([[1, 6, 9, 4, 7]])
    hook = "blocks.0.hook_resid_pre"
    at_1 = patch_activation(model, clean, corrupt, hook, 1)
    torch.testing.assert_close(at_1, model(clean), atol=1e-5, rtol=1e-5)  # the only differing position
    at_3 = patch_activation(model, clean, corrupt, hook, 3)
    torch.testing.assert_close(at_3[:, :3], model(corrupt)[:, :3])  # earlier positions cannot see a later patch
    with pytest.raises(ValueError, match="same shape"):
        patch_activation(model, clean, corrupt[:, :4], hook, 1)
    with pytest.raises(ValueError, match="no hook point"):
        patch_activation(model, clean, corrupt, "blocks.9.hook_resid_pre", 1)
    with pytest.raises(ValueError, match="outside"):
        patch_activation(model, clean, corrupt, hook, 5)
