"""Feature geometry: code PCA against a dense reference, PC ablation at its two ends, the ablation search,
word means, circle fits, category cosines, and latent blocks on planted structure."""

import numpy as np
import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.activations import harvest_activations
from mi_widgets.analysis.geometry import (ablation_search, category_cosines, circular_shift, cluster_latents,
                                          coactivation, code_pca, cyclic_fit, latent_capabilities, latent_writers,
                                          main_writers, pc_ablated, permutation_p_value, sparse_codes, spectrum_stats,
                                          token_means, within_minus_between, within_share, word_firing_rates,
                                          word_token_ids, writer_names)
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.metrics import splice_stats, spliced_loss

HOOK = "blocks.0.hook_resid_post"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(1, 250, (6, 16), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def sae():
    d = Dictionary(DictConfig(d_in=32, width=48, k=4, hook_in=HOOK), seed=0)
    with torch.no_grad():
        d.W_enc.copy_(d.W_dec * 3)  # a plausible encoder: the decoder's transpose
        d.b_enc[40:] = -1e4  # latents 40..47 can never win: dead
    return d.requires_grad_(False)


def test_sparse_codes_equal_dense_encode(sae):
    x = torch.randn(50, 32)
    assert np.allclose(sparse_codes(sae, x, batch_size=7).toarray(), sae.encode(x).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="TopK"):
        sparse_codes(Dictionary(DictConfig(d_in=4, width=8, kind="relu")), torch.randn(3, 4))


def test_code_pca_matches_dense_pca(sae):
    x = torch.randn(400, 32, generator=torch.Generator().manual_seed(1))
    codes = sparse_codes(sae, x)
    pca = code_pca(codes)
    dense = codes.toarray().astype(np.float64)
    want = np.sort(np.linalg.eigvalsh(np.cov(dense.T, bias=True)))[::-1]
    assert np.allclose(pca.variances.numpy(), want, atol=1e-4)
    assert set(pca.dead.tolist()) >= set(range(40, 48))
    assert len(pca.components) + len(pca.dead) == 48
    gram = pca.components @ pca.components.T
    assert torch.allclose(gram, torch.eye(len(gram)), atol=1e-4)
    assert torch.allclose(pca.mean, torch.from_numpy(dense.mean(0)).float(), atol=1e-5)
    stats = spectrum_stats(pca.variances)
    assert 0 < stats["participation"] <= 1 and stats["pcs_for_90"] <= stats["pcs_for_99"] <= 1
    with pytest.raises(ValueError, match="at least 2"):
        code_pca(codes[:1])


def test_pc_ablation_ends(sae):
    x = torch.randn(300, 32, generator=torch.Generator().manual_seed(2))
    pca = code_pca(sparse_codes(sae, x))
    torch.testing.assert_close(pc_ablated(sae, pca, 0)(x), sae(x), atol=1e-4, rtol=1e-4)
    everything = pc_ablated(sae, pca, 48)(x)  # every code replaced by the mean code
    torch.testing.assert_close(everything, sae.decode(pca.mean).expand_as(everything), atol=1e-4, rtol=1e-4)
    # Dropping the dead axes too changes nothing on inputs where they never fire.
    torch.testing.assert_close(pc_ablated(sae, pca, len(pca.dead))(x), sae(x), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="n_drop"):
        pc_ablated(sae, pca, 49)


def test_pc_ablation_keeps_a_transcoders_skip_path():
    tc = Dictionary(DictConfig(d_in=16, width=24, k=3, d_out=8, skip=True), seed=0).requires_grad_(False)
    with torch.no_grad():
        tc.W_skip.normal_()
    x = torch.randn(2, 40, 16)
    pca = code_pca(sparse_codes(tc, x.reshape(-1, 16)))
    torch.testing.assert_close(pc_ablated(tc, pca, 0)(x), tc(x), atol=1e-4, rtol=1e-4)


def test_splice_accepts_a_reconstruction(model, tokens, sae):
    base = splice_stats(model, sae, tokens, batch_size=4)
    same = splice_stats(model, sae, tokens, batch_size=4, reconstruct=sae)
    assert same == base
    assert spliced_loss(model, sae, tokens, batch_size=4) == pytest.approx(base.loss_spliced)
    identity = spliced_loss(model, sae, tokens, reconstruct=lambda x: x.clone())
    assert identity == pytest.approx(base.loss_clean, abs=1e-5)


def test_ablation_search(model, tokens, sae):
    acts = harvest_activations(model, HOOK, tokens, progress=False)[HOOK]
    pca = code_pca(sparse_codes(sae, acts))
    assert ablation_search(model, sae, pca, tokens, float("inf")).n_ablatable == 48
    assert ablation_search(model, sae, pca, tokens, -1.0).n_ablatable == 0
    start = spliced_loss(model, sae, tokens)
    end = spliced_loss(model, sae, tokens, reconstruct=pc_ablated(sae, pca, 48))
    search = ablation_search(model, sae, pca, tokens, (start + end) / 2, resolution=1)
    m = search.n_ablatable
    assert search.losses[m] <= (start + end) / 2 if m else True
    assert min(k for k, v in search.losses.items() if v > (start + end) / 2) - m <= 1
    with pytest.raises(ValueError, match="resolution"):
        ablation_search(model, sae, pca, tokens, 1.0, resolution=0)


def test_word_ids_and_token_means(model):
    ids = word_token_ids(model.tokenizer, ["cat", "ball", "xqzv"])
    assert "xqzv" not in ids and ids["cat"] == model.tokenizer(" cat", add_special_tokens=False)["input_ids"][0]
    tokens = torch.tensor([[0, 5, 7, 5], [0, 7, 7, 9]])
    acts = torch.arange(6, dtype=torch.float).unsqueeze(1)  # one value per token after BOS
    means = token_means(tokens, acts, {"a": 5, "b": 7, "c": 9}, min_count=2)
    assert means.words == ["a", "b"] and means.counts == [2, 3]
    assert means.means[:, 0].tolist() == pytest.approx([1.0, (1 + 3 + 4) / 3])
    with pytest.raises(ValueError, match="one row per token"):
        token_means(tokens, acts[:-1], {"a": 5})
    with pytest.raises(ValueError, match="none of the"):
        token_means(tokens, acts, {"z": 11})


def test_cyclic_fit_recognises_an_ordered_circle():
    n = 7
    phases = 2 * np.pi * np.arange(n) / n
    rng = np.random.default_rng(0)
    points = np.c_[np.cos(phases), np.sin(phases), 0.01 * rng.normal(size=(n, 6))]
    fit = cyclic_fit(torch.tensor(points), phases)
    assert fit.alignment > 0.99 and fit.in_order and fit.explained > 0.99
    mirrored = cyclic_fit(torch.tensor(points[::-1].copy()), phases)
    assert mirrored.alignment > 0.99 and mirrored.in_order
    scrambled = cyclic_fit(torch.tensor(points), phases[[0, 3, 6, 2, 5, 1, 4]])
    assert not scrambled.in_order and scrambled.alignment < 0.9
    with pytest.raises(ValueError, match="at least 3"):
        cyclic_fit(torch.tensor(points[:2]), phases[:2])


def test_permutation_p_value():
    values = np.arange(20.0)
    observed, p = permutation_p_value(lambda order: np.corrcoef(values, order)[0, 1], 20, n_perm=199)
    assert observed == pytest.approx(1.0) and p == pytest.approx(1 / 200)


def test_category_cosines_leave_one_out():
    pts = torch.tensor([[1.0, 0.0], [1.0, 0.2], [0.0, 1.0], [0.2, 1.0]])
    cos = category_cosines(pts, ["a", "a", "b", "b"], ["a", "b"])
    assert (cos.argmax(1) == [0, 0, 1, 1]).all()
    # The first point's own-category centre is the second point alone.
    assert cos[0, 0] == pytest.approx(torch.nn.functional.cosine_similarity(pts[0], pts[1], dim=0).item())
    with pytest.raises(ValueError, match="no points"):
        category_cosines(pts, ["a"] * 4, ["a", "c"])


def test_word_firing_rates(sae):
    tokens = torch.tensor([[0, 5, 7, 5]])
    acts = torch.randn(3, 32)
    words, rates = word_firing_rates(sae, tokens, acts, {"a": 5, "b": 7, "c": 9})
    assert words == ["a", "b"] and rates.shape == (2, 48)
    assert ((rates == 0) | (rates == 0.5) | (rates == 1)).all() and rates[1].sum() <= 4


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
