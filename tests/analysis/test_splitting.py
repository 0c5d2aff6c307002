"""Feature splitting: the toy generator plants what it says, family matching finds planted parents and
skips dead latents, deltas and signed NMF recover planted directions, and bad input gets clear errors."""

import math

import pytest
import torch

from mi_widgets.analysis.splitting import (SplitFeatureData, child_deltas, component_reach, cross_family_best,
                                           enriched_context, latent_families, null_deltas, plant_modifiers,
                                           same_label_cosine, signed_nmf, train_widths, unit_rows)
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.dictionary_training import TrainSettings


def test_toy_plants_orthonormal_parents_and_recurring_modifiers():
    data = SplitFeatureData(d=24, n_parents=6, n_modifiers=4, children_per_parent=2, modifier_scale=0.5, seed=3)
    basis = torch.cat([data.parents, data.modifiers])
    torch.testing.assert_close(basis @ basis.T, torch.eye(10), atol=1e-5, rtol=0)
    assert torch.bincount(data.child_modifier, minlength=4).min() >= 2  # every modifier recurs
    for p in range(6):  # a parent's children have distinct modifiers
        assert data.child_modifier[data.child_parent == p].unique().numel() == 2
    cos = (data.children * data.parents[data.child_parent]).sum(1)
    torch.testing.assert_close(cos, torch.full((12,), 1 / math.sqrt(1.25)))
    x = data.sample(500)
    assert x.shape == (500, 24) and torch.isfinite(x).all()
    torch.testing.assert_close(SplitFeatureData(d=24, n_parents=6, n_modifiers=4, children_per_parent=2,
                                                modifier_scale=0.5, seed=3).sample(500), x)


@pytest.mark.parametrize("kwargs, message", [
    (dict(d=8, n_parents=6, n_modifiers=4), "at most d"),
    (dict(children_per_parent=7), "children_per_parent"),
    (dict(bare_fraction=1.0), "bare_fraction"),
])
def test_toy_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SplitFeatureData(**kwargs)


def _planted(directions: torch.Tensor, kind: str = "topk") -> Dictionary:
    """An SAE (TopK with k=1, or ReLU) whose encoder and decoder rows are ``directions`` (no biases, unit scales)."""
    sae = Dictionary(DictConfig(d_in=directions.shape[1], width=len(directions), k=1, kind=kind))
    with torch.no_grad():
        sae.W_dec.copy_(unit_rows(directions))
        sae.W_enc.copy_(unit_rows(directions))
    return sae


@pytest.mark.parametrize("kind", ["topk", "relu"])
def test_latent_families_finds_planted_parents_and_skips_dead_latents(kind):
    data = SplitFeatureData(d=16, n_parents=3, n_modifiers=3, children_per_parent=2, seed=0)
    # 4 narrow latents: the last (a modifier's direction) has no parent role (TopK: never fires)
    narrow = _planted(torch.cat([data.parents, data.modifiers[:1]]), kind)
    wide = _planted(torch.cat([data.children, torch.zeros(2, 16)]), kind)  # two extra latents that never fire
    with torch.no_grad():
        wide.W_dec[-2:] = data.parents[:1]  # dead copies of parent 0: must not join its family
    gen = torch.Generator().manual_seed(0)
    child = torch.randint(0, 6, (600,), generator=gen)
    x = (data.children[child] * (1 + torch.rand(600, 1, generator=gen)))
    fam = latent_families(narrow, wide, x, min_children=2)
    assert sorted(fam.child.tolist()) == list(range(6))
    assert torch.equal(fam.parent, data.child_parent[fam.child])
    assert fam.n_families == 3
    # TopK fires only the closest latent; ReLU also fires children of other parents that share a modifier
    assert (fam.coactivation == 1).all() if kind == "topk" else (fam.coactivation > 0.5).all()
    assert fam.wide_counts[-2:].tolist() == [0, 0]
    # A third child is required: every family has only two, so none is kept.
    assert len(latent_families(narrow, wide, x, min_children=3).child) == 0


def test_latent_families_rejects_bad_input():
    a, b = _planted(torch.randn(4, 8)), _planted(torch.randn(8, 8))
    with pytest.raises(ValueError, match="more latents"):
        latent_families(b, a, torch.randn(10, 8))
    latent_families(a, a, torch.randn(10, 8))  # equal widths: two seeds of one width are a fair pair
    with pytest.raises(ValueError, match="same activations"):
        latent_families(a, b, torch.randn(10, 5))
    with pytest.raises(ValueError, match="min_cosine"):
        latent_families(a, b, torch.randn(10, 8), min_cosine=2.0)


def test_child_deltas_are_the_planted_modifiers():
    data = SplitFeatureData(seed=1)
    deltas = child_deltas(data.parents[data.child_parent], data.children)
    torch.testing.assert_close(deltas, data.modifiers[data.child_modifier], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="matching"):
        child_deltas(data.parents, data.children)


def test_null_deltas_are_unit_orthogonal_and_keep_the_covariance():
    gen = torch.Generator().manual_seed(0)
    parents = unit_rows(torch.randn(400, 12, generator=gen))
    skew = torch.diag(torch.tensor([1.0] * 11 + [5.0]))
    deltas = child_deltas(parents, torch.randn(400, 12, generator=gen) @ skew)
    for kind in ("matched", "isotropic"):
        null = null_deltas(parents, deltas, kind, seed=2)
        torch.testing.assert_close(null.norm(dim=1), torch.ones(400))
        assert (null * parents).sum(1).abs().max() < 1e-5
        torch.testing.assert_close(null, null_deltas(parents, deltas, kind, seed=2))
    # The matched null leans along the same axis as the deltas (the last one), the isotropic one does not.
    spread = lambda v: v.pow(2).mean(0)  # noqa: E731
    assert spread(null_deltas(parents, deltas, "matched"))[-1] > 3 * spread(null_deltas(parents, deltas, "isotropic"))[-1]
    with pytest.raises(ValueError, match="kind"):
        null_deltas(parents, deltas, "shuffled")


def test_plant_modifiers_sets_the_cosine_and_spreads_over_families():
    gen = torch.Generator().manual_seed(0)
    family = torch.arange(20).repeat_interleave(3)
    parents = unit_rows(torch.randn(20, 32, generator=gen))[family]
    deltas = child_deltas(parents, torch.randn(60, 32, generator=gen))
    planted = plant_modifiers(parents, deltas, family, cosine=0.6, n_modifiers=3, families_per_modifier=4, seed=1)
    assert planted.rows.shape == (3, 4) and planted.rows.unique().numel() == 12
    for m, rows in zip(planted.modifiers, planted.rows):
        assert family[rows].unique().numel() == 4  # one child in each of four families
        m_perp = child_deltas(parents[rows], m.expand(4, -1))
        torch.testing.assert_close((planted.deltas[rows] * m_perp).sum(1), torch.full((4,), 0.6))
    torch.testing.assert_close(planted.deltas.norm(dim=1), torch.ones(60))
    assert (planted.deltas * parents).sum(1).abs().max() < 1e-5  # still orthogonal to the parents
    untouched = torch.ones(60, dtype=torch.bool)
    untouched[planted.rows.flatten()] = False
    assert torch.equal(planted.deltas[untouched], deltas[untouched])
    # Strong planted modifiers recur across families; the unplanted deltas do not.
    strong = plant_modifiers(parents, deltas, family, cosine=0.97, n_modifiers=3, seed=1)
    best = cross_family_best(strong.deltas, family)
    assert best[strong.rows.flatten()].min() > 0.75 > 0.6 > best[untouched].max()
    with pytest.raises(ValueError, match="cannot plant"):
        plant_modifiers(parents, deltas, family, cosine=0.5, n_modifiers=20, families_per_modifier=4)
    with pytest.raises(ValueError, match="cosine"):
        plant_modifiers(parents, deltas, family, cosine=0.0)


def test_cross_family_best_ignores_the_own_family():
    v = torch.tensor([[1.0, 0, 0], [1.0, 0.1, 0], [0, 1.0, 0], [0.6, 0.8, 0]])
    best = cross_family_best(v, torch.tensor([0, 0, 1, 1]))
    # vectors 0 and 1 are nearly equal but share a family; their best partner is vector 3
    torch.testing.assert_close(best[0], torch.tensor(0.6))
    torch.testing.assert_close(best[2], unit_rows(v)[1] @ unit_rows(v)[2])
    with pytest.raises(ValueError, match="two families"):
        cross_family_best(v, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="one family label"):
        cross_family_best(v, torch.tensor([0, 1]))


def test_signed_nmf_recovers_planted_signed_directions():
    gen = torch.Generator().manual_seed(0)
    truth = unit_rows(torch.randn(3, 20, generator=gen))  # signed directions
    which = torch.randint(0, 3, (300,), generator=gen)
    vectors = truth[which] * (0.5 + torch.rand(300, 1, generator=gen)) + 0.01 * torch.randn(300, 20, generator=gen)
    result = signed_nmf(vectors, 3, seed=0)
    assert result.components.shape == (3, 20) and result.weights.shape == (300, 3)
    assert (truth @ result.components.T).max(1).values.min() > 0.95
    assert result.explained > 0.95
    with pytest.raises(ValueError, match="n_components"):
        signed_nmf(vectors, 0)


def test_component_reach_counts_distinct_families():
    components = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    vectors = torch.tensor([[1.0, 0.05], [1.0, -0.05], [1.0, 0.0], [0.3, 1.0]])
    reach = component_reach(components, vectors, torch.tensor([5, 5, 7, 7]), min_cosine=0.9)
    assert reach.tolist() == [2, 1]  # the first component: families 5 and 7; two hits in family 5 count once
    with pytest.raises(ValueError, match="one family label"):
        component_reach(components, vectors, torch.tensor([0]))


def test_enriched_context_and_same_label_cosine():
    context = torch.tensor([7, 7, 7, 3, 3, 3, 3, 3])
    assert enriched_context(context, torch.tensor([0, 1, 2]), torch.arange(8)) == 7
    # over-represented: 3 (2/3 of the child's positions against 5/8 of the parent's), but below min_share
    assert enriched_context(context, torch.tensor([0, 3, 4]), torch.arange(8)) == 3
    assert enriched_context(context, torch.tensor([0, 3, 4]), torch.arange(8), min_share=0.7) == -1
    assert enriched_context(context, torch.tensor([], dtype=torch.long), torch.arange(8)) == -1
    v = torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0]])
    same, cross, pairs = same_label_cosine(v, torch.tensor([0, 1, 0, 1]), torch.tensor([4, 4, -1, -1]))
    assert (same, pairs) == (1.0, 1) and cross == pytest.approx(0.5)
    same, _, pairs = same_label_cosine(v, torch.tensor([0, 1, 0, 1]), torch.full((4,), -1))
    assert pairs == 0 and math.isnan(same)
    with pytest.raises(ValueError, match="one family and one label"):
        same_label_cosine(v, torch.tensor([0, 1]), torch.tensor([0, 1, 2, 3]))


def test_train_widths_gives_one_trained_sae_per_width():
    x = SplitFeatureData(seed=0).sample(4096)
    saes = train_widths(x, [4, 16], k=2, settings=TrainSettings(tokens=4096, batch_size=1024, progress=False))
    assert [(w, s.cfg.width, s.cfg.k) for w, s in saes.items()] == [(4, 4, 2), (16, 16, 2)]
    assert all(s.scale_in.item() != 1.0 for s in saes.values())  # trained: scales were fitted to the data
    with pytest.raises(ValueError, match="widths"):
        train_widths(x, [0], k=2, settings=TrainSettings(progress=False))
