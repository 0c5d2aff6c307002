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
