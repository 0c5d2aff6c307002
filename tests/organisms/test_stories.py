"""The story generator: determinism, exact labels, balance of the IOI items, splits and the lexicon."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from mi_widgets.organisms import lexicon as lx
from mi_widgets.organisms.stories import (CAPABILITIES, HELD_OUT_IOI, WORD_RANGE, Story, corpus, generate_stories,
                                          ioi_drills, label_counts, make_name)

NGRAM_ENDS = {"upon a time", "that day on", "ever after", "day", "end."}
PRONOUNS = {"he", "He", "his", "His", "him", "she", "She", "her", "Her", "They", "they"}


@pytest.fixture(scope="module")
def train() -> list[Story]:
    return list(generate_stories(2000, seed=0))


@pytest.fixture(scope="module")
def test_split() -> list[Story]:
    return list(generate_stories(500, seed=0, split="test"))


def _antecedent_ok(story: Story, label, antecedent: str) -> bool:
    first = label.meta["first"]
    return first < label.start and story.text[first: first + len(antecedent)] == antecedent


def _check(story: Story, label) -> None:
    """Assert that one label marks exactly what its capability predicts."""
    text, cap, meta = story.text[label.start: label.end], label.capability, label.meta
    before = story.text[: label.start]
    assert text and text == text.strip(), (cap, text)
    if cap == "ngram":
        assert text in NGRAM_ENDS and meta["phrase"].endswith(text)
    elif cap in ("repeat_noun", "induction_name", "repeat_span"):
        assert _antecedent_ok(story, label, text), (cap, text)
        assert cap != "induction_name" or text[0].isupper()
        assert cap != "repeat_span" or len(text.split()) >= 2
    elif cap == "skip_trigram":
        assert text.isalpha() and text.islower()
    elif cap == "plural_singular":
        assert lx.PLURALS[text] == meta["plural"] != text and _antecedent_ok(story, label, meta["plural"])
    elif cap == "story_start":
        assert before.endswith("\n\n") and story.text[label.end] == " "
    elif cap == "quote_close":
        assert text == '"' and before[-1] in ".!?" and before.count('"') % 2 == 1
    elif cap == "pronoun":
        assert text in PRONOUNS and text != meta["wrong"] and meta["referent"].split()[0] in before
    elif cap == "related_concept":
        assert (meta["cue"], text) in lx.RELATED and _antecedent_ok(story, label, meta["cue"])
    elif cap == "ioi":
        assert text == meta["answer"] != meta["wrong"] and meta["order"] in ("ABBA", "ABAB")
        assert meta["held_out"] == (meta["template"] in HELD_OUT_IOI)
        assert meta["wrong"] in before[-80:] and meta["answer"] in before
    else:
        raise AssertionError(f"unknown capability {cap}")


def test_labels_are_exact(train, test_split):
    for story in train + test_split:
        assert [l.start for l in story.labels] == sorted(l.start for l in story.labels)
        assert sum(l.capability == "story_start" for l in story.labels) == 1
        for label in story.labels:
            _check(story, label)


def test_every_capability_is_common(train):
    counts = label_counts(train[:1000])
    assert set(counts) == set(CAPABILITIES)
    assert all(counts[c] >= 300 for c in CAPABILITIES), counts
    with_span = sum(any(l.capability == "repeat_span" for l in s.labels) for s in train[:1000])
    assert 150 <= with_span <= 250


def test_deterministic():
    first = list(generate_stories(50, seed=3))
    assert first == list(generate_stories(50, seed=3))
    assert [s.text for s in first] != [s.text for s in generate_stories(50, seed=4)]
    assert [s.text for s in first] != [s.text for s in generate_stories(50, seed=3, split="val")]
    assert corpus(3, seed=3, sep="|") == "|".join(s.text for s in first[:3])


def _ioi(stories):
    return [l.meta for s in stories for l in s.labels if l.capability == "ioi"]


def test_ioi_roles_are_balanced(train):
    items = _ioi(train)
    assert len(items) >= 600
    roles = Counter((m["order"], m["answer_is_hero"]) for m in items)
    assert len(roles) == 4 and all(abs(n / len(items) - 0.25) <= 0.025 for n in roles.values()), roles
    first_named = sum(m["order"] == "ABBA" for m in items) / len(items)
    assert abs(first_named - 0.5) <= 0.05
    templates = Counter(m["template"] for m in items)
    assert set(templates) == set(range(12)) - HELD_OUT_IOI and min(templates.values()) >= 40
    assert len({m["gap"] for m in items}) == 4


def test_held_out_templates_only_in_test(train, test_split):
    assert not any(m["held_out"] for m in _ioi(train))
    test_items = _ioi(test_split)
    assert test_items and all(m["held_out"] for m in test_items)
    assert all(not m["held_out"] for m in _ioi(generate_stories(300, split="val")))


def test_ioi_drills_never_show_held_out_templates():
    from mi_widgets.organisms.templates import TEMPLATES

    drills = list(ioi_drills(200, seed=0))
    assert drills == list(ioi_drills(200, seed=0)) and drills != list(ioi_drills(200, seed=1))
    scenes = [scene for text in drills for scene in text.split("\n\n")]
    assert len(scenes) == 200 * 8
    # Each half of a held-out template as a pattern, its slots matching any words. The drills share
    # single words with them ("Once", "for", "at") but never a held-out intro or action.
    pattern = lambda half: re.compile(".+?".join(map(re.escape, re.split(r"\{[^}]*\}", half))), re.IGNORECASE)
    held_out = [pattern(half) for t in HELD_OUT_IOI for half in TEMPLATES["ioi"][t]]
    assert len(held_out) == 6 and not any(p.search(scene) for p in held_out for scene in scenes)
    test_text = next(ioi_drills(1, split="test"))
    assert sum(bool(p.search(test_text)) for p in held_out) >= 3  # the test split does use them
    names = re.compile(r"([A-Z]\w+) (?:and|met|ran into|visited|was waiting for) ([A-Z]\w+)")
    pairs = [names.search(scene) for scene in scenes]
    assert all(pairs) and not any(lx.is_held_out(n) for m in pairs for n in m.groups())
    # Every drill-only intro and action shows up, so the drills really are that varied.
    for half, part in (("ioi_drill_intro", 0), ("ioi_drill_action", 0)):
        assert all(any(pattern(entry[part]).search(scene) for scene in scenes) for entry in TEMPLATES[half])
    # Without the drill-only halves, scenes pair the training templates' own halves, with no adverbs.
    plain = [scene for text in ioi_drills(100, seed=0, drill_halves=False) for scene in text.split("\n\n")]
    own = [pattern(TEMPLATES["ioi"][t][1]) for t in range(len(TEMPLATES["ioi"])) if t not in HELD_OUT_IOI]
    assert all(any(p.search(scene) for p in own) for scene in plain)
    adverb = re.compile(r"\b(?:%s)\b" % "|".join(a for (a,) in TEMPLATES["ioi_drill_adverb"]))
    assert not any(adverb.search(scene) for scene in plain) and any(adverb.search(scene) for scene in scenes)


def _names(stories) -> set[str]:
    return {s.text[l.start: l.end] for s in stories for l in s.labels if l.capability == "induction_name"}


def test_name_pools_are_disjoint(train, test_split):
    train_names, test_names = _names(train), _names(test_split)
    assert len(train_names) > 1000 and len(test_names) > 200
    assert not train_names & test_names
    assert all(lx.is_held_out(n) for n in test_names)


def test_make_name():
    import random

    rng = random.Random(0)
    names = [make_name(rng) for _ in range(2000)]
    assert all(n[0].isupper() and n.lower() not in lx.WORDS and p in ("she", "he") for n, p in names)
    common = {n for ns in lx.COMMON_NAMES.values() for n in ns}
    syllabic = sum(n not in common for n, _ in names) / len(names)
    assert 0.65 <= syllabic <= 0.75
    assert len({n for n, _ in names}) > 1200  # open-ended: few repeats
    assert not any(lx.is_held_out(n) for n, _ in names)


def test_text_quality(train):
    article = re.compile(r"\b(a|an) ([a-z]+)")
    for story in train[:500]:
        assert WORD_RANGE[0] <= len(story.text.split()) <= WORD_RANGE[1]
        assert story.text.count("\n\n") == 4 and story.text.count('"') % 2 == 0
        for art, word in article.findall(story.text):
            assert (art == "an") == (word[0] in "aeiou"), (art, word)


def test_bad_input():
    with pytest.raises(ValueError, match="split"):
        generate_stories(10, split="training")
    with pytest.raises(ValueError, match="n must be"):
        generate_stories(-1)
    assert list(generate_stories(0)) == []


def test_categories():
    for kind, parent in lx.PARENT.items():
        for word in lx.CATEGORIES[kind]:
            assert {kind, parent} <= set(lx.category_of(word)), word
    assert "bird" not in lx.category_of("dog") and lx.category_of("owl") == ["animal", "bird"]
    assert all(len(words) >= 8 for name, words in lx.CATEGORIES.items() if name != "day")
    assert lx.CATEGORIES["digit"][:12] == tuple(str(i) for i in range(1, 13))
    assert lx.CATEGORIES["number_word"][11] == "twelve" and len(lx.CATEGORIES["month"]) == 12
    assert lx.PLURALS["mouse"] == "mice" and lx.PLURALS["butterfly"] == "butterflies"
    assert lx.PLURALS["box"] == "boxes" and lx.PLURALS["zebra"] == "zebras"
    assert len(lx.RELATED) >= 40 and len(set(lx.RELATED)) == len(lx.RELATED)


def test_ioi_scenes_cross_template_halves():
    from mi_widgets.organisms.stories import ioi_scenes
    from mi_widgets.organisms.templates import TEMPLATES

    scenes = ioi_scenes(40, intros=[0, 1], actions=[10], seed=0)
    assert [s.text for s in scenes] == [s.text for s in ioi_scenes(40, intros=[0, 1], actions=[10], seed=0)]
    metas = [l.meta for s in scenes for l in s.labels if l.capability == "ioi"]
    assert len(metas) == 40 and {m["template"] for m in metas} == {10}
    assert [m["order"] for m in metas].count("ABBA") == 20  # balanced role orders
    action = TEMPLATES["ioi"][10][1].split("}", 1)[1].split("{")[0]  # " read a story to "
    for scene, m in zip(scenes, metas):
        assert scene.text.startswith(("When ", f"{m['answer']} and ", f"{m['wrong']} and "))
        assert scene.text.endswith(f"{m['wrong']}{action}{m['answer']}.")
    own = ioi_scenes(4, intros=[0], actions=[3], seed=0)  # "gave it to" keeps its own intro
    assert all(" found " in s.text for s in own)
    with pytest.raises(ValueError, match="out of range"):
        ioi_scenes(4, intros=[0], actions=[99])
    with pytest.raises(ValueError, match="at least one intro"):
        ioi_scenes(4, intros=[], actions=[1])
