"""Toy models of superposition: the measures on shapes whose answer is known, the samplers' statistics, instances
that never interact, and clear errors for bad settings."""

from __future__ import annotations

import math

import pytest
import torch

from mi_widgets.analysis.superposition import (STICKY, ToyModel, adjacent_angles, extra_feature_phase,
                                               feature_dimensionality, opposing_share, opposite_partners, sticky_share,
                                               sticky_share_by_chance, train_toy)
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.dictionary_training import TrainSettings, train_dictionary


def polygon(n: int, scale: float = 1.0) -> torch.Tensor:
    angles = torch.arange(n) * 2 * math.pi / n
    return scale * torch.stack([torch.cos(angles), torch.sin(angles)])  # [2, n]


def test_dimensionality_of_known_shapes():
    torch.testing.assert_close(feature_dimensionality(polygon(5, 1.3)), torch.full((5,), 0.4))
    torch.testing.assert_close(feature_dimensionality(polygon(3)), torch.full((3,), 2 / 3))
    shapes = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])  # an antipodal pair, an axis, nothing
    torch.testing.assert_close(feature_dimensionality(shapes[None]), torch.tensor([[0.5, 0.5, 1.0, 0.0]]))


def test_angles_round_a_pentagon_and_partners_of_opposite_rows():
    torch.testing.assert_close(adjacent_angles(polygon(5)), torch.full((5,), 72.0))
    assert adjacent_angles(polygon(5)[:, :1]).numel() == 0  # one feature has no neighbour
    with pytest.raises(ValueError, match="2-D hidden space"):
        adjacent_angles(torch.zeros(3, 4))
    rows = torch.tensor([[1.0, 0.0], [-2.0, 0.1], [0.0, 1.0], [0.0, 0.0]])
    assert opposite_partners(rows, -0.9).tolist() == [1, 0, -1, -1]
    assert opposing_share(rows[:3], -0.9) == pytest.approx(2 / 3)


def test_opposing_share_in_chunks_equals_one_pass():
    directions = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    directions[150:] = -directions[:150] + 0.01  # every row has an opposite
    assert opposing_share(directions, -0.9, chunk=7) == opposing_share(directions, -0.9, chunk=10_000) == 1.0
    assert opposing_share(torch.randn(500, 64, generator=torch.Generator().manual_seed(1)), -0.7) == 0.0


@pytest.mark.parametrize("correlation", ["independent", "correlated", "anticorrelated"])
def test_every_feature_fires_with_its_probability_and_sets_behave(correlation):
    toy = ToyModel(4, 2, torch.tensor([0.1, 0.3]), correlation=correlation)
    x = toy.sample(40_000, torch.Generator().manual_seed(0))
    active = x > 0
    torch.testing.assert_close(active.float().mean(0), torch.tensor([[0.1] * 4, [0.3] * 4]), atol=0.01, rtol=0)
    assert float(x[active].mean()) == pytest.approx(0.5, abs=0.01) and float(x.max()) <= 1  # uniform in [0, 1]
    together = (active[..., 0] & active[..., 1]).float().mean()
    expected = {"independent": (0.1 ** 2 + 0.3 ** 2) / 2, "correlated": (0.1 + 0.3) / 2, "anticorrelated": 0.0}
    assert float(together) == pytest.approx(expected[correlation], abs=0.01)


def test_instances_never_interact():
    """Instance 0 trains to the same weights whatever instance 1 starts from: the loss is a sum per instance."""
    def trained(other_start: float) -> torch.Tensor:
        toy = ToyModel(5, 2, torch.tensor([0.1, 0.5]), importance=0.9 ** torch.arange(5.0), seed=3)
        with torch.no_grad():
            toy.W[1] = other_start
        train_toy(toy, steps=60, batch_size=64, seed=1, progress=False)
        return toy.W.detach()[0]
    torch.testing.assert_close(trained(0.1), trained(-3.0), rtol=1e-5, atol=1e-6)


def test_phases_of_an_extra_feature():
    W = torch.tensor([[[1.0, 0.1]], [[0.0, 1.0]], [[1.0, -1.0]]])
    assert extra_feature_phase(W) == ["not represented", "own dimension", "superposed"]
    assert extra_feature_phase(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])) == ["own dimension"]  # orthogonal in 2-D


def test_sticky_share_and_its_chance_level():
    assert sticky_share(torch.tensor(STICKY)) == 1.0
    assert sticky_share(torch.tensor([0.2, 0.9])) == 0.0
    width = 0.06 * len(STICKY) - (3 / 8 + 0.03 - (2 / 5 - 0.03))  # windows inside [0.3, 1.03]; those of 2/5 and 3/8 overlap
    assert sticky_share_by_chance(0.3, 1.03) == pytest.approx(width / 0.73, abs=0.01)
    assert math.isnan(sticky_share(torch.empty(0)))


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        ToyModel(5, 2, torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="correlation must be one of"):
        ToyModel(4, 2, torch.tensor([0.5]), correlation="sideways")
    with pytest.raises(ValueError, match="do not make sets of 2"):
        ToyModel(5, 2, torch.tensor([0.5]), correlation="correlated")


def test_an_lp_penalty_trains_without_nan_and_a_bad_power_is_refused():
    x = torch.randn(4096, 4, generator=torch.Generator().manual_seed(0))
    sae = Dictionary(DictConfig(d_in=4, width=16, kind="relu"))
    result = train_dictionary(sae, x, TrainSettings(tokens=40_960, batch_size=1024, penalty_power=0.5, progress=False))
    assert all(math.isfinite(v) for v in result.mse) and torch.isfinite(sae.W_dec).all()
    with pytest.raises(ValueError, match="penalty_power must be positive"):
        train_dictionary(sae, x, TrainSettings(tokens=4096, batch_size=1024, penalty_power=0.0, progress=False))
