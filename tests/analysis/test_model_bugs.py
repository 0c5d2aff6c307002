"""analysis.induction_bugs and analysis.skip_trigram_bugs: the prompts hold what each bug needs and nothing else,
the statistics count what they say, and a model that copies shows the bugs where they are planted."""

from __future__ import annotations

import pytest
import torch

import mi_widgets as mw
from mi_widgets.analysis.induction_bugs import (ambiguous_prompts, answer_probability, continuation_rates,
                                                logit_difference, split_token_prompts, split_words, stop_prompts)
from mi_widgets.analysis.skip_trigram_bugs import Sites, bigram_counts, bug_effect, skip_trigram_sites
from mi_widgets.organisms.corpus import story_rows

NAMES = ["Lily", "Timmy", "Benny", "Zara"]


@pytest.fixture(scope="module")
def model():
    return mw.load_model("stories-attn-2l")


def test_split_words_are_one_token_with_a_space_and_several_without(model):
    found = split_words(model.tokenizer, NAMES + ["a"])
    # " Benny" and " Zara" are two tokens even with the space, "a" is one token either way: left out.
    assert {model.tokenizer.decode(bare) for _, bare in found} == {"Lily", "Timmy"}
    assert all(len(bare) >= 2 for _, bare in found)
    for spaced, bare in found:
        word = model.tokenizer.decode(bare)
        assert model.tokenizer.decode([spaced]) == " " + word


def test_split_token_prompts_differ_only_in_the_earlier_occurrence(model):
    prompts = split_token_prompts(model, NAMES, 8, seed=0)
    whole, split, none = prompts["whole"], prompts["split"], prompts["none"]
    assert whole.tokens.shape == split.tokens.shape == none.tokens.shape
    assert torch.equal(whole.answer, split.answer) and torch.equal(whole.tokens[:, -1], split.tokens[:, -1])
    for row, x in zip(whole.tokens.tolist(), whole.answer.tolist()):
        at = row.index(x)
        assert row[at - 1] == row[-1]  # the one-token word, then the answer; the prompt ends on the word again
    for row, x in zip(split.tokens.tolist(), split.answer.tolist()):
        at = row.index(x)
        assert row[at - 1] != row[-1] and model.tokenizer.decode(row[at - 2: at]).strip() in NAMES
    with pytest.raises(ValueError, match="none of the words"):
        split_token_prompts(model, ["a"], 4)  # one token with and without the space


def test_the_two_layer_model_copies_a_whole_name_and_not_a_split_one(model):
    """The planted positive: copying after the one-token name is strong, so a failure on the split name is a bug."""
    prompts = split_token_prompts(model, NAMES, 24, seed=1)
    whole, split = (float(answer_probability(model, prompts[k]).mean()) for k in ("whole", "split"))
    assert whole > 0.3 and split < whole / 10


def test_ambiguous_prompts_put_the_match_in_both_orders(model):
    prompts = ambiguous_prompts(model, 6, seed=0)
    for order, first in (("match first", True), ("match last", False)):
        for row, x, y in zip(prompts[order].tokens.tolist(), prompts[order].answer.tolist(), prompts[order].other.tolist()):
            p, a = row[-2], row[-1]
            assert row.count(a) == 3 and row[row.index(x) - 2: row.index(x)] == [p, a]
            assert (row.index(x) < row.index(y)) == first
    assert logit_difference(model, prompts["match first"]).shape == (6,)


def test_stop_prompts_end_the_span_with_punctuation_or_a_word(model):
    prompts = stop_prompts(model, [".", "!"], 6, seed=0)
    stops = {model.tokenizer(e, add_special_tokens=False)["input_ids"][0] for e in (".", "!")}
    assert all(row[-1] in stops for row in prompts["punctuation"].tokens.tolist())
    assert not any(row[-1] in stops for row in prompts["word"].tokens.tolist())
    with pytest.raises(ValueError, match="one token"):
        stop_prompts(model, ["..."], 2)


def test_continuation_rates_count_repeats_that_go_on():
    rows = torch.tensor([[0, 5, 6, 7, 1, 9, 5, 6, 7, 1, 8],    # the repeat of 5 6 7 goes on with 1, then 9 -> 8 stops
                         [0, 5, 6, 2, 4, 9, 5, 6, 2, 3, 9]])   # after "5 6 2" (2 a stop) 4 came, now 3: stops
    rates = continuation_rates(rows, stops=[2], match=3)
    assert rates["n word"] == 2 and rates["word"] == 0.5  # 5 6 7 -> 1 went on; 6 7 1 -> 8 did not
    assert rates["n punctuation"] == 1 and rates["punctuation"] == 0.0


def test_skip_trigram_sites_never_follow_and_controls_are_unpushed():
    source = mw.load_model("stories-attn-1l")
    rows = story_rows(source.tokenizer, 4, 128, seed=0, split="val")
    train = story_rows(source.tokenizer, 200, 128, seed=0, split="train")
    pairs, _ = bigram_counts(train)
    sites = skip_trigram_sites(source, rows, train)
    assert sites.bug and sites.control
    assert all((int(rows[r, p]), c) not in pairs and c != int(rows[r, p + 1]) for r, p, c in sites.bug)
    bug_pairs = {(int(rows[r, p]), c) for r, p, c in sites.bug}
    assert all((int(rows[r, p]), c) in bug_pairs for r, p, c in sites.control)
    effect = bug_effect(source, rows, sites)
    assert effect["pairs"] > 0 and effect["effect"] > 0  # chosen where the one-layer model's own circuits push
    assert bug_effect(source, rows, Sites(sites.bug, [])) == {"effect": pytest.approx(float("nan"), nan_ok=True),
                                                              "pairs": 0}
    with pytest.raises(ValueError, match="push"):
        skip_trigram_sites(source, rows, train, push=0.1, quiet=0.2)
