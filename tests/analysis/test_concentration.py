"""analysis.concentration: unit counts against hand-made masses, and readings of a tiny model's directions."""

import pytest
import torch

from mi_widgets.analysis.concentration import reading_concentration, units_for_share
from mi_widgets.analysis.lens import FINAL, feature_logit_effects, logit_effects
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary


def test_units_for_share_counts_the_largest_first():
    mass = torch.tensor([[4.0, 1.0, 3.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    assert units_for_share(mass, 0.5).tolist() == [2, 2]  # 4+3 = 7 of 10; two of four equal units
    assert units_for_share(mass, 0.4).tolist() == [1, 2]
    assert units_for_share(mass, 1.0).tolist() == [4, 4]
    with pytest.raises(ValueError, match="share"):
        units_for_share(mass, 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        units_for_share(-mass, 0.5)


def test_a_direction_along_one_feature_reads_as_one_feature(tiny_model):
    d = tiny_model.cfg.d_model
    final = Dictionary(DictConfig(d_in=d, width=3 * d, k=4, hook_in=FINAL))
    direction = final.W_enc.detach()[5:6] / final.W_enc.detach()[5].norm() ** 2  # coefficient 1 on feature 5
    with torch.no_grad():
        others = torch.cat([torch.arange(5), torch.arange(6, 3 * d)])
        final.W_enc[others] -= (final.W_enc[others] @ direction[0])[:, None] * direction / direction.norm() ** 2
    effects = feature_logit_effects(tiny_model, final)
    table = reading_concentration(tiny_model, final, direction, 1.0, effects, top=4)
    assert table["features_50%"].tolist() == [1] and table["features_80%"].tolist() == [1]
    lens = logit_effects(tiny_model, direction, 1.0)
    assert table["tokens_80%"].iloc[0] > 1 and abs(table.agreement.iloc[0]) <= 1 + 1e-6
    assert lens.shape[-1] == tiny_model.cfg.d_vocab
