"""analysis.concentration: unit counts against hand-made masses, and readings of a tiny model's directions."""

import pytest
import torch

from mi_widgets.analysis.concentration import class_predictions, reading_concentration, units_for_share
from mi_widgets.analysis.enrichment import TokenClasses
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


def test_class_predictions_name_the_class_a_planted_effect_raises(tiny_model):
    d, vocab = tiny_model.cfg.d_model, tiny_model.cfg.d_vocab
    final = Dictionary(DictConfig(d_in=d, width=2 * d, k=4, hook_in=FINAL), seed=0)
    effects = feature_logit_effects(tiny_model, final)
    # Two classes: the 10 tokens feature 3 raises most, and the 10 that feature 7 raises most (disjoint).
    a = effects[3].topk(10).indices
    b = [t for t in effects[7].topk(30).indices.tolist() if t not in a.tolist()][:10]
    of_token = torch.full((vocab,), -1)
    of_token[a], of_token[b] = 0, 1
    classes = TokenClasses(["a", "b"], of_token)
    feature_class = torch.full((final.cfg.width,), -1)
    feature_class[3], feature_class[7] = 0, 1
    direction = final.W_enc.detach()[3:4] * 5.0  # drives feature 3 hardest
    measured = torch.zeros(1, vocab)
    measured[0, b] = 1.0  # but what really went up is class b
    table = class_predictions(tiny_model, final, direction, None, measured, classes, feature_class, effects, top=10)
    assert table.measured_class.tolist() == [1] and table.measured_score.iloc[0] > 5
    assert table.label_class.tolist() == [0]  # feature 3 leads, so its label is the prediction (wrong here)
    assert table.lens_class.iloc[0] in (0, 1)
    unlabelled = class_predictions(tiny_model, final, direction, None, measured, classes,
                                   torch.full((final.cfg.width,), -1), effects, top=10)
    assert unlabelled.label_class.tolist() == [-1]  # no labelled feature: no prediction
    with pytest.raises(ValueError, match="a class"):
        class_predictions(tiny_model, final, direction, None, measured, classes, feature_class[:3], effects)
