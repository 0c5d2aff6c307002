"""Synthetic red-team items: each planted capability asked for in wording the story generator never uses.

A template is (prompt, answer, wrong answer or None). Slots: ``{N}``/``{M}`` two characters (held-out
names) with ``{he}``/``{his}``/``{him}``/``{He}`` for N, ``{U}`` a name that is not in the prompt,
``{X} {Y} {S} {IO}`` an indirect-object pair in a random role order, and words from
`mi_widgets.organisms.lexicon`. Used by `mi_widgets.organisms.make_tasks`; introduced in
``notebooks/20_capabilities/20_capabilities.ipynb``.
"""

from __future__ import annotations

import random

from mi_widgets.organisms import lexicon as lx

TEMPLATES: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "ngram": (
        ('{N} opened {his} new book. The first page said, "Once', " upon a time", None),
        ("The {animal} and the {animal2} became friends, and they lived happily", " ever after", None),
        ("{N} never lost {his} {toy} again. From that day", " on", None),
    ),
    "repeat_noun": (
        ("{N} found {an_thing} under the bed. {He} picked up the", " {thing}", " {thing2}"),
        ("There was {an_toy} in the shop window. {N} really wanted the", " {toy}", " {toy2}"),
    ),
    "induction_name": (
        ("A {adj} {animal} called {N} lived by the {place}. Every day,", " {N}", " {U}"),
        ("Nobody in the {place} was as fast as {N}. When the race began,", " {N}", " {U}"),
    ),
    "skip_trigram": (
        ("Before going to sleep, {N} brushed {his}", " teeth", None),
        ("{N} was so sleepy after the party that {he} fell", " asleep", None),
        ("{M} was sad, so {N} gave {M} a big", " hug", None),
    ),
    "plural_singular": (
        ("All the {pl} at the {place} were hungry. {N} fed the smallest", " {sg}", " {pl}"),
        ("{N} drew five {pl} on the wall. The last", " {sg}", " {pl}"),
    ),
    "story_start": (
        ("There was a {adj} {animal} named {N}. {He} liked {food_pl} very much.\n\n", "One", None),
        ("{N} lived in a {adj} house with {his} {fam}.\n\n", "One", None),
    ),
    "quote_close": (
        ('{N} looked up and said, "The sky is so {colour}', '!"', "!"),
        ('{N} whispered, "I am going to sleep now', '."', "."),
        ('"Where is my {toy}', '?"', "?"),
    ),
    "pronoun": (
        ("{N} woke up early. After breakfast,", " {he}", " {she_wrong}"),
        ("{N} could not find {his} {toy}, so", " {he}", " {she_wrong}"),
    ),
    "related_concept": (
        ("The {c_bee} flew back to its hive to make", " honey", " milk"),
        ("{N} walked along the {c_beach} and dug a hole in the", " sand", " snow"),
        ("It started to {c_rain}, so {N} opened {his}", " umbrella", " book"),
        ("The {c_spider} sat in the middle of its", " web", " nest"),
    ),
    "ioi": (
        ("{X} and {Y} were at the {place}. {S} handed a {thing} to", " {IO}", " {S}"),
        ("After school, {X} and {Y} drew pictures. {S} showed the picture to", " {IO}", " {S}"),
    ),
    "repeat_span": (
        ("{N}'s secret words were {w1} {w2} {w3} {w4}. Later, {N} said them again: {w1}", " {w2} {w3} {w4}", None),
        ("The note said: {w1}, {w2}, {w3}, {w4}. {N} read it out loud: {w1},", " {w2}, {w3}, {w4}", None),
    ),
}
_PRONOUNS = {"he": ("he", "his", "him", "He", "she"), "she": ("she", "her", "her", "She", "he")}


def _an(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _slots(rng: random.Random) -> dict[str, str]:
    c, ch = lx.CATEGORIES, rng.choice
    (n, pron), = [lx.make_name(rng, held_out=True)]
    m, _ = lx.make_name(rng, held_out=True, avoid=frozenset({n}))
    u, _ = lx.make_name(rng, held_out=True, avoid=frozenset({n, m}))
    he, his, him, He, wrong = _PRONOUNS[pron]
    thing, thing2 = rng.sample(c["thing"], 2)
    toy, toy2 = rng.sample(c["toy"], 2)
    animal, animal2 = rng.sample(c["mammal"], 2)
    sg = ch([w for w in c["mammal"] + c["bird"] if lx.PLURALS[w] != w])
    hero_first, subject_first = rng.random() < 0.5, rng.random() < 0.5
    x, y = (n, m) if hero_first else (m, n)
    s, io = (x, y) if subject_first else (y, x)
    words = rng.sample(c["animal"] + c["colour"] + c["food"], 4)
    food = ch([f for f in c["food"] if lx.PLURALS.get(f, f) != f])
    return dict(N=n, M=m, U=u, he=he, his=his, him=him, He=He, she_wrong=wrong, thing=thing, thing2=thing2,
                an_thing=_an(thing), toy=toy, toy2=toy2, an_toy=_an(toy), animal=animal, animal2=animal2,
                adj=ch(lx.ANIMAL_ADJ), place=ch(c["place"]), colour=ch(c["colour"]), fam=ch(c["family"]),
                food_pl=lx.PLURALS[food], sg=sg, pl=lx.PLURALS[sg], X=x, Y=y, S=s, IO=io,
                order="ABAB" if subject_first else "ABBA", c_bee="bee", c_beach="beach", c_rain="rain",
                c_spider="spider", **{f"w{i + 1}": w for i, w in enumerate(words)})


def synthetic_items(capability: str, n: int, rng: random.Random) -> list[dict]:
    """``n`` synthetic items for ``capability`` (dicts with prompt, answer, wrong if any, meta)."""
    if capability not in TEMPLATES:
        raise ValueError(f"no synthetic templates for {capability!r}; known: {sorted(TEMPLATES)}")
    items = []
    for k in range(n):
        t = k % len(TEMPLATES[capability])
        prompt, answer, wrong = TEMPLATES[capability][t]
        v = _slots(rng)
        item = {"prompt": prompt.format(**v), "answer": answer.format(**v), "meta": {"template": t}}
        if capability == "ioi":
            item["meta"]["order"] = v["order"]
        if wrong is not None:
            item["wrong"] = wrong.format(**v)
        items.append(item)
    return items
