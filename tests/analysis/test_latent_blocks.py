"""analysis.latent_blocks: blocks of co-firing latents on planted structure, exact writer splits, capabilities."""

import numpy as np
import pytest
import torch
from analysis_fixtures import HOOK, model, sae, tokens  # noqa: F401 (pytest fixtures)

from mi_widgets.activations import harvest_activations
from mi_widgets.analysis.latent_blocks import (circular_shift, cluster_latents, coactivation, effective_rank,
                                               latent_capabilities, latent_writers, main_writers, mean_block_rank,
                                               within_minus_between, within_share, writer_names)
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
def test_blocks_of_coactivating_latents():
    # Two groups of 4 latents; each token fires 2 latents of one group.
    rng = np.random.default_rng(0)
    rows, latents = [], []
    for t in range(400):
        group = rng.integers(2)
        for latent in rng.choice(4, size=2, replace=False) + 4 * group:
            rows.append(t)
            latents.append(latent)
    rows, latents = np.array(rows), np.array(latents)
    coact = coactivation(rows, latents, 400, 8)
    assert np.allclose(np.diag(coact), 1) and coact[0, 5] == 0
    labels = cluster_latents(coact, 2)
    assert len(set(labels[:4])) == 1 and len(set(labels[4:])) == 1 and labels[0] != labels[4]
    assert within_share(coact, labels) == pytest.approx(1.0)
    shifted = circular_shift(rows, latents, 400, seed=1)
    assert np.array_equal(np.bincount(latents[np.argsort(shifted)]), np.bincount(latents))
    null = coactivation(shifted, latents, 400, 8)
    assert within_share(null, labels) < 0.7
    assert within_minus_between(coact, labels) > 0.2
    with pytest.raises(ValueError, match="non-negative"):
        cluster_latents(-coact, 2)


def test_block_statistics_match_masks():
    rng = np.random.default_rng(3)
    values = rng.random((30, 30))
    values = values + values.T
    labels = rng.integers(0, 4, size=30)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(30, dtype=bool)
    assert within_share(values, labels) == pytest.approx(values[same & off].sum() / values[off].sum())
    assert within_minus_between(values, labels) == pytest.approx(values[same & off].mean() - values[~same].mean())


def test_latent_writers_split_the_pre_activation_exactly(model, tokens):
    hook = "blocks.1.hook_resid_post"
    sae = Dictionary(DictConfig(d_in=32, width=40, k=5, hook_in=hook), seed=1).requires_grad_(False)
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.1)
        sae.b_dec.normal_(0, 0.1)
        sae.scale_in.fill_(0.7)
    means, counts = latent_writers(model, sae, tokens, batch_size=4)
    names = writer_names(model, 1)
    assert names[:3] == ["embed", "pos", "L0H0"] and names[-1] == "MLP1" and means.shape == (40, len(names))
    # Independently: the mean pre-activation of each latent where it fires, from the stream itself.
    x = harvest_activations(model, hook, tokens, progress=False)[hook]
    vals, idx, _, _ = sae.encode_sparse(x)
    pre = (sae._centre(x) @ sae.W_enc.T + sae.b_enc).gather(1, idx)
    fired = vals > 0
    want = torch.zeros(40).index_add_(0, idx[fired], pre[fired]) / counts.clamp_min(1)
    assert torch.equal(counts, torch.bincount(idx[fired], minlength=40))
    b_o = sum(model.blocks[l].attn.b_O for l in range(2))
    constant = sae.b_enc - sae.W_enc @ sae.b_dec + sae.scale_in * (sae.W_enc @ b_o)
    live = counts > 0
    assert live.sum() > 10
    torch.testing.assert_close((means.sum(1) + constant)[live], want[live], atol=1e-4, rtol=1e-4)
    assert list(main_writers(torch.tensor([[0.1, 2.0, -3.0]]), ["a", "b", "c"])) == ["b"]
    with pytest.raises(ValueError, match="hook_resid_post"):
        latent_writers(model, Dictionary(DictConfig(d_in=32, width=8, k=2, hook_in="blocks.0.hook_mlp_out")), tokens)


def test_latent_capabilities_split_activation_by_the_next_token(model, sae):
    from mi_widgets.organisms.corpus import capability_tokens
    from mi_widgets.organisms.stories import CAPABILITIES, generate_stories

    stories = list(generate_stories(3, seed=0, split="val"))
    mass = latent_capabilities(sae, model, stories, CAPABILITIES, batch_size=2)
    assert mass.shape == (48, len(CAPABILITIES) + 1) and (mass >= 0).all()
    # Total: every active value at positions 1 .. n-2 of each story (cut to the context).
    total, labelled = 0.0, 0.0
    for story in stories:
        ids, marks = capability_tokens(model.tokenizer, story)
        ids = ids[: model.cfg.n_ctx]
        x = harvest_activations(model, HOOK, torch.tensor([ids]), progress=False)[HOOK][: len(ids) - 2]
        codes = sae.encode(x)
        total += codes.sum().item()
        serving = sorted({pos - 1 for _, pos in marks if 1 <= pos - 1 < len(ids) - 1})
        labelled += codes[[p - 1 for p in serving]].sum().item()
    assert mass.sum().item() == pytest.approx(total, rel=1e-4)
    assert mass[:, :-1].sum().item() == pytest.approx(labelled, rel=1e-4)
    with pytest.raises(ValueError, match="at least one story"):
        latent_capabilities(sae, model, [], CAPABILITIES)


def test_effective_rank_and_blocks_that_span_subspaces():
    rng = np.random.default_rng(0)
    assert effective_rank(np.outer(rng.normal(size=5), rng.normal(size=8))) == pytest.approx(1.0)
    assert effective_rank(np.eye(6)) == pytest.approx(6.0)
    # Four blocks of 20 directions, each block inside its own 3-dimensional subspace of R^64.
    bases = [np.linalg.qr(rng.normal(size=(64, 3)))[0] for _ in range(4)]
    directions = np.concatenate([rng.normal(size=(20, 3)) @ b.T for b in bases])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    labels = np.repeat(np.arange(4), 20)
    planted = mean_block_rank(directions, labels)
    shuffled = mean_block_rank(directions, rng.permutation(labels))
    assert planted < 3 / 20 + 1e-6 and shuffled > 2 * planted
