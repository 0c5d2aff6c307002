"""analysis.word_geometry: word ids and means, circle fits, category cosines and firing rates."""

import numpy as np
import pytest
import torch
from analysis_fixtures import model, sae  # noqa: F401 (pytest fixtures)

from mi_widgets.analysis.word_geometry import (category_cosines, context_means, cyclic_fit, token_means,
                                               word_firing_rates, word_token_ids)


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


def test_context_means_hold_the_context_fixed(model):
    hook = "blocks.1.hook_resid_post"
    words = ["cat", "ball"]
    means = context_means(model, [hook], ["Once upon a time, a", "a red"], words)[hook]
    tok = model.tokenizer
    expect = []
    for w in words:
        rows = [[tok.bos_token_id, *tok(c, add_special_tokens=False)["input_ids"], *tok(" " + w, add_special_tokens=False)["input_ids"]]
                for c in ["Once upon a time, a", "a red"]]
        expect.append(torch.stack([model.run_with_cache(torch.tensor([r]))[1][hook][0, -1] for r in rows]).mean(0))
    assert torch.allclose(means, torch.stack(expect), atol=1e-5)
    with pytest.raises(ValueError, match="not one token"):
        context_means(model, [hook], ["a"], ["cat", "Bolinfoundared"])
