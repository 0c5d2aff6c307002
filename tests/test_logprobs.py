"""mi_widgets.logprobs: windows, padding, continuations and token scores, against plain forward passes."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.logprobs import (continuation_logprobs, next_token_logits, pad_rows, text_scores, token_losses,
                                 token_scores, windows)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tok"))


@pytest.mark.parametrize("length", [2, 10, 64, 65, 200])
def test_windows_score_every_target_once_with_context(length):
    plan = windows(length, 64)
    targets = [p for _, lo, hi in plan for p in range(lo, hi)]
    assert targets == list(range(1, length))
    for start, lo, hi in plan:
        assert hi - start <= 64 and (start == 0 or lo - start >= 32)


def test_pad_rows():
    tokens, lengths = pad_rows([[0, 5, 6], [0]], pad=9)
    assert tokens.tolist() == [[0, 5, 6], [0, 9, 9]] and lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="at least one row"):
        pad_rows([], pad=9)


def test_continuation_logprobs_sum_token_logprobs(model):
    tok = model.tokenizer
    prompt, cont = "Once upon a", " time, a cat"
    got = continuation_logprobs(model, [prompt, "a"], [cont, " cat"])[0]
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    c_ids = tok(cont, add_special_tokens=False)["input_ids"]
    ids = [tok.bos_token_id, *p_ids, *c_ids]
    lp = model(torch.tensor([ids])).log_softmax(-1)[0]
    want = sum(lp[len(p_ids) + i, c].item() for i, c in enumerate(c_ids))
    assert got.item() == pytest.approx(want, abs=1e-4)


def test_continuation_logprobs_bad_input(model):
    with pytest.raises(ValueError, match="as many"):
        continuation_logprobs(model, ["a"], [])
    with pytest.raises(ValueError, match="no tokens"):
        continuation_logprobs(model, ["a"], [""])


def test_token_losses_match_continuation_scores(model):
    text = "Once upon a time, a cat named Bolin"
    losses = token_losses(model, [text])[0]
    total = continuation_logprobs(model, [""], [text])[0]
    assert losses.sum().item() == pytest.approx(-total.item(), abs=1e-3)
    with pytest.raises(ValueError, match="empty"):
        token_losses(model, ["ok", ""])


def test_token_scores_match_plain_passes_with_prefixes_shared(model):
    rows = [[0, 5, 6, 7, 8, 9], [0, 5, 6], [0, 11, 12], [0, 5, 6, 7], [0, 11, 12], [0]]
    scores = token_scores(model, rows, batch_size=2, also=[[], [(2, 40)], [], [], [(0, 3), (1, 4)], []])
    for row, sc in zip(rows, scores):
        lp = model(torch.tensor([row])).log_softmax(-1)[0]
        want = lp[:-1].gather(-1, torch.tensor(row[1:])[:, None])[:, 0]
        torch.testing.assert_close(sc.logprobs, want, rtol=1e-4, atol=1e-4)
        want_ranks = (lp[:-1] > want[:, None]).sum(-1) + 1
        assert sc.ranks.tolist() == want_ranks.tolist()
    lp = model(torch.tensor([rows[4]])).log_softmax(-1)[0]
    torch.testing.assert_close(scores[4].also, torch.stack([lp[0, 3], lp[1, 4]]), rtol=1e-4, atol=1e-4)
    assert scores[1].also.shape == (1,) and scores[0].also.shape == (0,)
    skipped = token_scores(model, rows[:2], first=[3, 0])
    assert torch.isnan(skipped[0].logprobs[:3]).all() and (skipped[0].ranks[:3] == 0).all()
    torch.testing.assert_close(skipped[0].logprobs[3:], scores[0].logprobs[3:], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(skipped[1].logprobs, scores[1].logprobs, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="outside the row"):
        token_scores(model, [[0, 1]], also=[[(2, 1)]])
    with pytest.raises(ValueError, match="window"):
        token_scores(model, [[0] * (model.cfg.n_ctx + 1)])


def test_text_scores_equal_plain_passes_in_each_window(model):
    ids = [0] + torch.randint(1, model.cfg.d_vocab, (150,), generator=torch.Generator().manual_seed(0)).tolist()
    sc = text_scores(model, [ids, ids[:20]])
    assert len(sc[0].logprobs) == 150 and len(sc[1].logprobs) == 19 and (sc[0].ranks >= 1).all()
    n = model.cfg.n_ctx
    for start, lo, hi in windows(len(ids), n):  # each target against a pass over its own window
        row = [ids[0], *ids[start + 1: start + n]]
        lp = model(torch.tensor([row])).log_softmax(-1)[0]
        want = lp[lo - start - 1: hi - start - 1].gather(-1, torch.tensor(ids[lo:hi])[:, None])[:, 0]
        torch.testing.assert_close(sc[0].logprobs[lo - 1: hi - 1], want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(sc[1].logprobs, sc[0].logprobs[:19], rtol=1e-4, atol=1e-4)


def test_next_token_logits_match_plain_passes_whatever_the_lengths(model):
    rows = [[1, 5, 9, 4], [1, 7], [1, 3, 3, 3, 3, 8]]
    logits = next_token_logits(model, rows, batch_size=2)
    for row, got in zip(rows, logits):
        torch.testing.assert_close(got, model(torch.tensor([row]))[0, -1], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="every row"):
        next_token_logits(model, [[]])
