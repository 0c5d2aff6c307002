"""analysis.head_wiki: equal-length labelled rows, and mean ablation that changes only the ablated head's effect."""

import itertools

import pytest
import torch

import mi_widgets as mw
from mi_widgets.analysis.head_wiki import ablation_effects, head_wiki, labelled_batch
from mi_widgets.organisms.corpus import story_rows
from mi_widgets.organisms.stories import generate_stories


@pytest.fixture(scope="module")
def model():
    return mw.load_model("stories-attn-2l")


@pytest.fixture(scope="module")
def stories():
    return list(itertools.islice(generate_stories(seed=0, split="val"), 10))


def test_labelled_batch_keeps_long_enough_stories_and_their_labels(model, stories):
    tokens, marks = labelled_batch(model.tokenizer, stories, 96)
    assert tokens.shape[1] == 96 and len(marks) == len(tokens) <= len(stories)
    assert (tokens[:, 0] == model.tokenizer.bos_token_id).all()
    assert all(0 < p < 96 for m in marks for _, p in m) and any(marks)
    with pytest.raises(ValueError, match="none of the"):
        labelled_batch(model.tokenizer, stories, 10_000)


def test_ablation_effects_and_the_wiki(model, stories):
    tokens, marks = labelled_batch(model.tokenizer, stories, 96)
    effects = ablation_effects(model, tokens, marks, progress=False)
    assert list(effects.index) == [f"L{l}H{h}" for l in range(2) for h in range(model.cfg.n_heads)]
    assert "all tokens" in effects.columns and effects.notna().all().all()
    # Mean-ablating the previous-token head the induction heads depend on costs the most on repeated spans
    # (measured 6 nats over 43 stories); broken by an ablation that did nothing or hit the wrong head.
    assert effects["all tokens"].max() > 0.1
    rows = {"stories-attn-2l": story_rows(model.tokenizer, 2, 64, seed=0, split="val")}
    wiki = head_wiki({"stories-attn-2l": model}, rows, {"stories-attn-2l": (tokens, marks)}, progress=False)
    assert len(wiki) == 2 * model.cfg.n_heads and {"previous token", "copying", "matters most for"} <= set(wiki.columns)
    assert (wiki["ablation loss change"].to_numpy() == effects["all tokens"].to_numpy()).all()
