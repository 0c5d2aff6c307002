"""Discovery: text features on hand-made text, the pattern loop, and validation against planted labels."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.analysis.discovery import (PATTERNS, UNEXPLAINED, Pattern, Reference, _copy_lengths, _doc_features,
                                           assign, confident_correct, context, filter_out, loop_table, new_capabilities,
                                           precision_recall, text_features, token_frame)
from mi_widgets.organisms.stories import generate_stories

TEXT = ('Once upon a time, a cat named Bolin lived here. The cats were big.\n\n'
        'One day, Bolin and Tima went out. Bolin gave a ball to Tima. "I like it!" said Tima. A cat sat.')


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def ref(model):
    return Reference.build(model.tokenizer, [TEXT, "Once upon a time, a dog.", "Once upon a time, a fox."] * 3)


def test_copy_lengths_match_a_naive_search():
    ids = [1, 2, 3, 4, 9, 1, 2, 3, 4, 5, 2, 3, 7]

    def naive(p):
        for n in range(min(8, p + 1), 0, -1):
            gram = ids[p - n + 1: p + 1]
            if any(ids[q - n + 1: q + 1] == gram for q in range(n - 1, p)):
                return n
        return 0

    assert _copy_lengths(ids) == [naive(p) for p in range(len(ids))]


def test_features_find_names_quotes_plurals_and_the_story_start(model, ref):
    feats = pd.DataFrame(_doc_features(model.tokenizer, TEXT, ref))
    words = feats.groupby("word").first()
    assert words.loc["Bolin"].proper and words.loc["Tima"].proper and not words.loc["Once"].proper
    bolin = feats[feats.word == "Bolin"]
    assert not bolin.word_seen.iloc[0] and bolin.word_seen.iloc[-1]
    assert feats[feats.word == "Tima"].pair_before.iloc[-1]
    closing = int(feats[feats.quote_close].token_id.iloc[0])
    assert feats.quote_close.sum() == 1 and '"' in model.tokenizer.decode([closing])
    start = feats[feats.story_start]
    assert len(start) == 1 and start.word.iloc[0] == "One"
    assert not words.loc["cats"].plural_seen and feats[feats.word == "cat"].plural_seen.sum() == 0  # "cat" came first
    upon = feats[feats.word == "upon"]
    assert upon.phrase_p.iloc[0] == 1.0 and upon.phrase_docs.iloc[0] == 1.0  # every reference text opens this way
    with pytest.raises(ValueError, match="at least one text"):
        Reference.build(model.tokenizer, [])


def test_token_frame_labels_and_the_loop(model, ref):
    stories = list(generate_stories(2, seed=0, split="test"))
    features = text_features(model.tokenizer, [s.text for s in stories], ref, stories)
    frame = token_frame(model, features)
    assert set(frame.capability) - {""} and frame.prob.between(0, 1).all() and (frame["rank"] >= 1).all()
    assert (frame.correct == (frame["rank"] == 1)).all() and len(frame) == len(features)
    ids = [model.tokenizer.bos_token_id, *model.tokenizer(stories[0].text, add_special_tokens=False)["input_ids"]]
    plain = model(torch.tensor([ids[:40]])).log_softmax(-1)[0]
    want = plain[:-1].gather(-1, torch.tensor(ids[1:40])[:, None])[:, 0]
    got = torch.tensor(frame.logprob.to_numpy()[:39], dtype=torch.float32)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    unlabelled = token_frame(model, text_features(model.tokenizer, [stories[0].text], ref))
    assert unlabelled.capability.isna().all()
    with pytest.raises(ValueError, match="nothing to validate"):
        precision_recall(unlabelled, assign(unlabelled))
    with pytest.raises(ValueError, match="same order"):
        text_features(model.tokenizer, [stories[1].text], ref, stories[:1])
    with pytest.raises(ValueError, match="another tokenizer"):
        token_frame(model, features.assign(token_id=features.token_id + 1))
    groups = assign(frame)
    assert set(groups) <= {p.name for p in PATTERNS} | {UNEXPLAINED}
    names = PATTERNS[4]
    assert names.name == "induction_name" and len(filter_out(frame, names)) == len(frame) - len(names.select(frame))
    table = precision_recall(frame, groups)
    assert table.precision.between(0, 1).all() and table.recall.between(0, 1).all()
    with pytest.raises(ValueError, match="threshold"):
        confident_correct(frame, 1.0)


def test_assign_takes_the_first_matching_pattern():
    frame = pd.DataFrame({"a": [True, True, False], "b": [True, False, False]})
    patterns = [Pattern("first", "", lambda f: f.a), Pattern("second", "", lambda f: f.b)]
    assert assign(frame, patterns).tolist() == ["first", "first", UNEXPLAINED]
    assert assign(frame, patterns[::-1]).tolist() == ["second", "first", UNEXPLAINED]


def test_precision_recall_by_hand():
    frame = pd.DataFrame({"capability": ["x", "x", "", "y"]})
    groups = pd.Series(["x", UNEXPLAINED, "x", "x"])
    row = precision_recall(frame, groups).iloc[0]
    assert row.precision == pytest.approx(1 / 3) and row.labelled_precision == 0.5 and row.recall == 0.5
    assert row.unlabelled_share == pytest.approx(1 / 3)  # the unlabelled token labelled_precision leaves out


def test_new_capabilities():
    small = pd.DataFrame({"token_id": [1, 2, 3], "correct": [True, False, True], "prob": [0.9, 0.1, 0.4]})
    large = pd.DataFrame({"token_id": [1, 2, 3], "correct": [True, True, True], "prob": [0.9, 0.8, 0.9]})
    assert new_capabilities(small, large).token_id.tolist() == [2, 3]
    with pytest.raises(ValueError, match="same tokens"):
        new_capabilities(small.iloc[:2], large)


def test_loop_table_and_context():
    frame = pd.DataFrame({"doc": [0, 0, 0, 1], "pos": [1, 2, 3, 1], "token": ["a", "b", "a", "c"],
                          "prob": [0.1, 0.9, 0.8, 0.7], "x": [True, False, True, False]})
    table = loop_table(frame, [Pattern("xs", "x is set", lambda f: f.x)])
    assert table.tokens.tolist() == [2, 2] and table.share.tolist() == [0.5, 0.5] and table.common[0] == "'a'"
    assert table.pattern.tolist() == ["xs", UNEXPLAINED]
    tokens, probs, at = context(frame, 1, before=1, after=1)
    assert tokens == ["a", "b", "a"] and probs == [0.1, 0.9, 0.8] and at == 1
