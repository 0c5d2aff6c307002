"""analysis.task_metrics: the metrics of a task against plain forward passes, and the summaries."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.analysis.task_metrics import rival_probs, score_task, summarize, uneven
from mi_widgets.organisms.task_format import load_task, write_task


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tok"))


# One-token and two-token answers and wrong answers, and an empty prompt.
ITEMS = [
    {"id": "t1", "prompt": "Once upon a", "answer": " time", "wrong": " cat"},
    {"id": "t2", "prompt": "a cat named", "answer": " Bolin found", "wrong": " red ball"},
    {"id": "t3", "prompt": "", "answer": "Once", "meta": {"variant": "original"}},
]


def _plain_logprob(model, prompt, answer):
    tok = model.tokenizer
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    a = tok(answer, add_special_tokens=False)["input_ids"]
    lp = model(torch.tensor([[tok.bos_token_id, *p, *a]])).log_softmax(-1)[0]
    steps = [lp[len(p) + i, t] for i, t in enumerate(a)]
    ranks = [int((lp[len(p) + i] > lp[len(p) + i, t]).sum()) + 1 for i, t in enumerate(a)]
    return sum(s.item() for s in steps), max(ranks)


def test_score_task_matches_plain_passes(tmp_path, model):
    task = load_task(write_task(tmp_path / "t.jsonl", ITEMS))
    scores = score_task(model, task, "tiny", batch_size=2)
    assert len(scores) == 3 and (scores.model == "tiny").all()
    for row in scores.itertuples():
        logprob, rank = _plain_logprob(model, row.prompt, row.answer)
        assert row.logprob == pytest.approx(logprob, abs=1e-3) and row.rank == rank
        assert row.prob == pytest.approx(math.exp(logprob), rel=1e-3) and row.correct == (rank == 1)
        assert 0 <= row.token_accuracy <= 1 and (row.token_accuracy == 1) == row.correct
        if isinstance(row.wrong, str):
            assert row.logit_diff == pytest.approx(logprob - _plain_logprob(model, row.prompt, row.wrong)[0], abs=1e-3)
        else:
            assert math.isnan(row.logit_diff)
    first = scores.iloc[0]  # one-token answer and wrong answer: the log-prob difference is the logit difference
    tok = model.tokenizer
    ids = [tok.bos_token_id, *tok("Once upon a", add_special_tokens=False)["input_ids"]]
    logits = model(torch.tensor([ids]))[0, -1]
    a, w = tok(" time")["input_ids"][-1], tok(" cat")["input_ids"][-1]
    assert first.logit_diff == pytest.approx((logits[a] - logits[w]).item(), abs=1e-3)
    assert len(first.tokens) == len(first.losses) and first.tokens[first.answer_start:] == (" time",)


def test_long_prompts_are_cut_from_the_left(tmp_path, model):
    task = pd.DataFrame([{"task": "t", "id": "x", "prompt": "Once upon a time " * 60, "answer": " cat", "wrong": None}])
    scores = score_task(model, task)
    assert scores.answer_tokens.iloc[0] == 1 and math.isfinite(scores.logprob.iloc[0])
    with pytest.raises(ValueError, match="no items"):
        score_task(model, task.iloc[:0])


def test_summary_and_uneven():
    scores = pd.DataFrame({"task": "t", "model": "m", "correct": [True] * 12 + [False] * 12, "token_accuracy": 0.5,
                           "prob": 0.5, "rank": [1] * 12 + [3] * 12, "logit_diff": [1.0] * 12 + [-1.0] * 12,
                           "variant": ["a"] * 12 + ["b"] * 12, "form": ["x", "y"] * 12, "gap": [1.0, None] * 12})
    s = summarize(scores).iloc[0]
    assert s["items"] == 24 and s.accuracy == 0.5 and s.beats_wrong == 0.5 and s.median_rank == 2
    u = uneven(scores, ["form", "gap", "variant", "absent"]).iloc[0]
    assert u.field == "variant" and u.best == "a" and u.worst == "b" and u.spread == 1.0


def test_uneven_permutation_null_flags_real_splits_only():
    rng = torch.Generator().manual_seed(0)
    n = 120
    field = ["x", "y", "z"] * (n // 3)
    noise = (torch.rand(n, generator=rng) < 0.5).tolist()  # accuracy that depends on no field
    planted = [f == "x" or (f == "y" and i % 4 == 0) for i, f in enumerate(field)]  # x right, z wrong
    scores = pd.DataFrame({"task": ["noise"] * n + ["planted"] * n, "model": "m", "correct": noise + planted,
                           "form": field * 2, "gap": (torch.arange(2 * n) % 5).tolist()})
    u = uneven(scores, ["form", "gap"], min_items=10, permutations=199, seed=0).set_index("task")
    assert u.loc["planted", "p"] == pytest.approx(1 / 200) and u.loc["planted", "spread"] == 1.0
    # The largest of several spreads is well above zero by chance alone; the null says so.
    assert u.loc["noise", "spread"] > 0.1 and u.loc["noise", "p"] > 0.05
    again = uneven(scores, ["form", "gap"], min_items=10, permutations=199, seed=0)
    assert again.p.tolist() == u.p.tolist()
    assert "p" not in uneven(scores, ["form"]).columns


def test_rival_probs_reads_the_answer_position(model):
    tok = model.tokenizer
    task = pd.DataFrame([{"id": "a", "prompt": "Once upon a", "answer": " time", "wrong": None},
                         {"id": "b", "prompt": "a cat named", "answer": " Bolin found", "wrong": None}])
    out = rival_probs(model, task, [" cat", " time"]).set_index("id")
    for row in task.itertuples():
        ids = [tok.bos_token_id, *tok(row.prompt, add_special_tokens=False)["input_ids"]]
        p = model(torch.tensor([ids]))[0, -1].softmax(-1)
        first = tok(row.answer, add_special_tokens=False)["input_ids"][0]
        rivals = p[[tok(" cat")["input_ids"][-1], tok(" time")["input_ids"][-1]]]
        assert out.loc[row.id, "p_answer"] == pytest.approx(p[first].item(), rel=1e-3)
        assert out.loc[row.id, "p_rivals"] == pytest.approx(rivals.sum().item(), rel=1e-3)
        assert out.loc[row.id, "rival_wins"] == bool(rivals.sum() > p[first])
        assert out.loc[row.id, "p_top"] == pytest.approx(p.max().item(), rel=1e-3)
        assert out.loc[row.id, "top"] == tok.decode([int(p.argmax())])
    with pytest.raises(ValueError, match="exactly one token"):
        rival_probs(model, task, [" Bolin found"])
