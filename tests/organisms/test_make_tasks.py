"""Task generation: items are cut at token boundaries from held-out stories, and each variant does what it says."""

from __future__ import annotations

import random
import re

import pytest

from mi_widgets.models import load_tokenizer
from mi_widgets.organisms.corpus import tokenizer_dir
from mi_widgets.organisms.make_tasks import (FILLERS, TaskSpec, _last_boundary, _tokens_agree, build_tasks, story_items,
                                             variant)
from mi_widgets.organisms.redteam import TEMPLATES, synthetic_items
from mi_widgets.organisms.stories import CAPABILITIES, generate_stories


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(tokenizer_dir())


@pytest.fixture(scope="module")
def items(tok):
    rng = random.Random(0)
    return [i for n, s in enumerate(generate_stories(6, seed=3, split="test")) for i in story_items(tok, s, n, rng)]


def test_story_items_are_token_aligned_prefixes(tok, items):
    stories = list(generate_stories(6, seed=3, split="test"))
    assert {i["capability"] for i in items} >= {"pronoun", "induction_name", "quote_close", "ngram"}
    for item in items:
        assert stories[item["meta"]["story"]].text.startswith(item["prompt"] + item["answer"])
        assert _tokens_agree(tok, item["prompt"], item["answer"])
    quotes = [i for i in items if i["capability"] == "quote_close"]
    assert all(i["answer"].endswith('"') and i["wrong"] == i["answer"][:-1] for i in quotes if "wrong" in i)
    pronouns = [i for i in items if i["capability"] == "pronoun"]
    assert all(i["wrong"].strip().lower() != i["answer"].strip().lower() for i in pronouns)


def test_variants_change_what_they_name(items):
    rng = random.Random(1)
    item = next(i for i in items if i["capability"] == "induction_name" and i["prompt"].count(". ") > 2)
    renamed = variant(item, "names", rng)
    assert item["answer"].strip() not in renamed["prompt"] and renamed["meta"]["variant"] == "names"
    far = variant(item, "distance", rng)
    assert sum(f in far["prompt"] for f in FILLERS) == 3 and far["answer"] == item["answer"]
    donors = [(i["meta"]["story"], i["prompt"]) for i in items]
    local = variant(item, "local", rng, donors)
    sentence = item["prompt"][item["prompt"].rindex(". ") + 2:]
    kept = local["prompt"][: -len(sentence)]
    assert local["prompt"].endswith(sentence) and not item["prompt"].startswith(kept)  # new context...
    assert abs(len(kept) - (len(item["prompt"]) - len(sentence))) <= max(41, len(kept) // 3)  # ...of about its length
    source = next(i for i in items if i["meta"]["story"] != item["meta"]["story"] and i["prompt"].startswith(kept.strip()))
    assert source is not None  # taken from the start of another story
    assert variant(item, "local", rng, []) is None  # no donor, no variant
    worded = variant({**item, "prompt": "Tom went to see a big dog."}, "wording", rng)
    assert worded["prompt"] == "Tom walked to see a large dog."
    assert variant({**item, "prompt": "Nothing to swap here"}, "wording", rng) is None
    with pytest.raises(ValueError, match="unknown variant"):
        variant(item, "shuffle", rng)


def test_local_cut_keeps_an_open_quotation_whole(items):
    item = {"prompt": 'Tom smiled. He said, "I am here. I am', "answer": ' happy',
            "meta": {"variant": "original", "story": 0}, "names": {}, "capability": "x"}
    local = variant(item, "local", random.Random(0), [(1, "Ann sang. The sky was blue. It rained.")])
    assert local["prompt"] == 'Ann sang. He said, "I am here. I am'


def test_needs_earlier_reads_what_the_answer_depends_on(items):
    by_cap = {}
    for i in items:
        by_cap.setdefault(i["capability"], []).append(i)
    assert all(i["meta"]["needs_earlier"] is False for i in by_cap["quote_close"] if "needs_earlier" in i["meta"])
    for item in by_cap["induction_name"]:
        if "needs_earlier" in item["meta"]:
            sentence = item["prompt"][_last_boundary(item["prompt"]):]
            assert item["meta"]["needs_earlier"] == (re.search(rf"\b{item['answer'].strip()}\b", sentence) is None)


def test_synthetic_items_fill_every_template():
    rng = random.Random(0)
    assert set(TEMPLATES) == set(CAPABILITIES)
    for cap in CAPABILITIES:
        made = synthetic_items(cap, 6, rng)
        assert len(made) == 6 and all("{" not in i["prompt"] + i["answer"] for i in made)
    ioi = synthetic_items("ioi", 8, rng)
    assert all(i["answer"].strip() in i["prompt"] and i["answer"] != i["wrong"] for i in ioi)
    with pytest.raises(ValueError, match="no synthetic templates"):
        synthetic_items("juggling", 1, rng)


def test_build_tasks_small(tok):
    tasks = build_tasks(tok, TaskSpec(n_original=3, n_variant=2, n_stories=40, seed=5))
    assert set(tasks) == set(CAPABILITIES)
    for cap, rows in tasks.items():
        kinds = [r["meta"]["variant"] for r in rows]
        assert kinds.count("original") == 3 and kinds.count("synthetic") == 2
        assert len({r["id"] for r in rows}) == len(rows)
        ids = {r["id"] for r in rows if r["meta"]["variant"] == "original"}
        assert all(r["meta"]["source"] in ids for r in rows if r["meta"]["variant"] not in ("original", "synthetic"))
    with pytest.raises(ValueError, match="raise n_stories"):
        build_tasks(tok, TaskSpec(n_original=50, n_stories=5))
