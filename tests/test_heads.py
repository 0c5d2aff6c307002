"""Head detectors: checked against a hand-made attention pattern and against bad input."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.heads import induction_report, previous_token_scores, repeated_random_tokens


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tok"), attn_only=True)


def test_repeated_tokens_shape_and_repeat(model):
    tokens = repeated_random_tokens(model, seq_len=10, n_seqs=3)
    assert tokens.shape == (3, 21)
    assert (tokens[:, 0] == model.tokenizer.bos_token_id).all()
    assert torch.equal(tokens[:, 1:11], tokens[:, 11:])
    assert not (tokens[:, 1:] == model.tokenizer.bos_token_id).any()


def test_repeated_tokens_must_fit_the_context(model):
    with pytest.raises(ValueError, match="n_ctx"):
        repeated_random_tokens(model, seq_len=model.cfg.n_ctx)


def _force_pattern(model, layer: int, head: int, offset: int):
    """A hook that makes one head attend exactly ``offset`` tokens back (to BOS where that is before 0)."""
    def hook(pattern, hook):
        n = pattern.shape[-1]
        fixed = torch.zeros(n, n)
        fixed[torch.arange(n), (torch.arange(n) - offset).clamp(min=0)] = 1
        pattern[:, head] = fixed
        return pattern
    return (f"blocks.{layer}.attn.hook_pattern", hook)


def test_induction_score_finds_a_planted_induction_head(model):
    seq_len = 12
    # Attending seq_len - 1 tokens back from the second copy lands on the token after the first occurrence.
    with model.hooks(fwd_hooks=[_force_pattern(model, 1, 2, seq_len - 1)]):
        report = induction_report(model, seq_len=seq_len, n_seqs=4)
    assert report.scores[1, 2].item() == pytest.approx(1.0)
    assert report.top_heads(1) == [("1.2", 1.0)]
    assert report.scores[0].max() < 0.9


def test_previous_token_score_finds_a_planted_head(model):
    tokens = repeated_random_tokens(model, seq_len=10, n_seqs=2)
    with model.hooks(fwd_hooks=[_force_pattern(model, 0, 1, 1)]):
        scores = previous_token_scores(model, tokens)
    assert scores[0, 1].item() == pytest.approx(1.0)


def test_previous_token_scores_need_three_positions(model):
    with pytest.raises(ValueError, match="pos >= 3"):
        previous_token_scores(model, torch.zeros(1, 2, dtype=torch.long))


def test_repeated_tokens_from_a_pool(model):
    tokens = repeated_random_tokens(model, seq_len=10, n_seqs=3, pool=[5, 6, 7])
    assert set(tokens[:, 1:].unique().tolist()) <= {5, 6, 7}
    with pytest.raises(ValueError, match="at least two"):
        repeated_random_tokens(model, seq_len=10, pool=[model.tokenizer.bos_token_id])


def test_attention_to_averages_the_picked_pattern_entries(model):
    from mi_widgets.heads import attention_to
    rows = [torch.tensor([0, 5, 6, 7, 8]), torch.tensor([0, 9, 9])]
    got = attention_to(model, rows, [(0, 3, 1), (0, 4, 4), (1, 2, 1)])
    _, first = model.run_with_cache(rows[0][None])
    _, second = model.run_with_cache(rows[1][None])
    name, h = f"blocks.{model.cfg.n_layers - 1}.attn.hook_pattern", model.cfg.n_heads - 1
    want = (first[name][0, h, 3, 1] + first[name][0, h, 4, 4] + second[name][0, h, 2, 1]) / 3
    assert got.shape == (model.cfg.n_layers, model.cfg.n_heads)
    assert float(got[-1, h]) == pytest.approx(float(want), abs=1e-6)
    with pytest.raises(ValueError, match="picks"):
        attention_to(model, rows, [])
    with pytest.raises(ValueError, match="src <= dest"):
        attention_to(model, rows, [(0, 1, 3)])


def test_detector_masks_on_a_hand_made_row():
    from mi_widgets.heads import detector_masks
    tokens = torch.tensor([[0, 5, 6, 5, 6, 6]])
    m = {k: v[0] for k, v in detector_masks(tokens, window=2).items()}
    assert m["previous token"][3, 2] and not m["previous token"][3, 1]
    assert m["duplicate token"][3, 1] and not m["duplicate token"][3, 3] and m["duplicate token"][5, 4]
    assert m["induction"][3, 2] and m["induction"][4, 3] and m["induction"][5, 5]  # 6 after 6: the query itself
    assert not m["induction"][2].any()  # 6 has no earlier copy at position 2
    assert m["BOS"][1:, 0].all() and not m["BOS"][0].any() and m["BOS"][:, 1:].sum() == 0
    assert m["local"][5, 3] and m["local"][5, 4] and not m["local"][5, 2] and not m["local"][5, 5]
    with pytest.raises(ValueError, match="pos >= 2"):
        detector_masks(torch.tensor([[0]]))


def test_pattern_scores_average_over_the_queries_that_apply():
    from mi_widgets.heads import pattern_scores
    pattern = torch.zeros(1, 1, 3, 3)
    pattern[0, 0, :, 0] = 1.0  # every query attends to position 0
    mask = torch.zeros(1, 3, 3, dtype=torch.bool)
    mask[0, 2, 0] = True  # only query 2 has a key to look for
    assert float(pattern_scores(pattern, mask)[0]) == 1.0
    assert torch.isnan(pattern_scores(pattern, torch.zeros_like(mask))).all()


def test_detectors_agree_with_transformer_lens():
    """TransformerLens's detect_head ("mul") averages over every query; ours over the queries a detector applies
    to, so TL's = ours x the share of queries that apply (measured to 1e-7)."""
    import mi_widgets as mw
    from transformer_lens.head_detector import detect_head

    from mi_widgets.heads import detector_masks, detector_scores
    model = mw.load_model("stories-attn-2l")
    text = "Once upon a time, Tom saw a dog. Once upon a time, Tom saw a dog."
    tokens = model.to_tokens(text)
    ours = detector_scores(model, tokens)
    masks = detector_masks(tokens.cpu())
    for tl_name, key in [("previous_token_head", "previous token"), ("duplicate_token_head", "duplicate token"),
                         ("induction_head", "induction")]:
        share = masks[key].any(-1).float().mean()
        assert torch.allclose(detect_head(model, text, tl_name), ours[key] * share, atol=1e-5), key


def test_copying_and_composition_baseline():
    import mi_widgets as mw

    from mi_widgets.heads import composition_baseline, ov_copying_scores
    model = mw.load_model("stories-attn-2l")
    copying = ov_copying_scores(model)
    assert copying.shape == (2, model.cfg.n_heads) and (copying.abs() <= 1 + 1e-5).all()
    # The layer-1 induction heads copy (their OV circuits have positive eigenvalues, 0.9 and up; measured 0.91-0.99).
    assert copying[1].min() > 0.8
    random = composition_baseline(model, "K", n=50)
    assert random.shape == (50,) and float(random.std()) < 0.01  # random heads of this shape agree closely
    real = model.all_composition_scores("K")[0, :, 1, :].detach()
    assert float(real.max()) > float(random.max())  # the induction circuit's pair stands out
    with pytest.raises(ValueError, match="mode"):
        composition_baseline(model, "X")
