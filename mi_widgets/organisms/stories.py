"""TinyStories-style children's stories with ground-truth capability labels.

Stories are assembled from templates whose slots are filled at random. Every slot a model
could predict from context (a repeated name, a pronoun, the answer of an indirect-object
sentence, ...) becomes a `Label` at exact character offsets. The data keeps the general
mechanism the cheapest one: names are built from syllables, IOI role orders are balanced,
and made-up spans are often repeated. Introduced in ``notebooks/01_models/01_models.ipynb``.

The templates live in `mi_widgets.organisms.templates.TEMPLATES`. In them ``{key}`` fills a slot, ``{an key}``
adds "a"/"an", ``{=word}`` is literal text, and ``{key:capability}`` labels what was filled in.
Repeated names and pronouns are labelled automatically; n-grams and closing quotes are found
in the finished text.
"""

from __future__ import annotations

import collections
import functools
import itertools
import operator
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from mi_widgets.organisms import lexicon as lx
from mi_widgets.organisms import templates as tp
from mi_widgets.organisms.lexicon import make_name

__all__ = ["CAPABILITIES", "HELD_OUT_IOI", "SPLITS", "WORD_RANGE", "Label", "Story", "corpus",
           "generate_stories", "ioi_drills", "ioi_scenes", "label_counts", "make_name"]

CAPABILITIES = (
    "ngram", "repeat_noun", "induction_name", "skip_trigram", "plural_singular", "story_start",
    "quote_close", "pronoun", "related_concept", "ioi", "repeat_span",
)
SPLITS = ("train", "val", "test")
HELD_OUT_IOI = frozenset({9, 10, 11})  # IOI templates that only the test split uses
WORD_RANGE = (80, 250)  # story length in words, as in TinyStories for small children


@dataclass(frozen=True, slots=True)
class Label:
    """One predictable span of a story: `story.text[start:end]` is the predicted text."""

    start: int  # char offset into Story.text (inclusive)
    end: int  # char offset (exclusive)
    capability: str  # one of CAPABILITIES
    meta: dict  # e.g. the ioi answer/wrong/template/order; "first": offset of the antecedent


@dataclass(frozen=True, slots=True)
class Story:
    text: str
    labels: tuple[Label, ...]


_T = tp.TEMPLATES

# ---------------------------------------------------------------- rendering

_SLOT = re.compile(r"\{(=|an )?([^{}:]+)(?::(\w+))?\}")
_LOOKBACK = {"repeat_noun", "induction_name", "plural_singular", "related_concept", "repeat_span"}
_ANTECEDENT = {"plural_singular": "plural", "related_concept": "cue"}  # meta key of the antecedent
_NGRAMS = re.compile(r"Once upon a time|From that day on|happily ever after|One day|The end\.")
_CLOSING_QUOTE = re.compile(r'(?<=[.!?])"')  # opening quotes always follow a space
_START = operator.attrgetter("start")


@functools.cache
def _parse(template: str) -> tuple[tuple[str, str | None, str, str | None], ...]:
    """Split a template into (literal, slot kind, slot key, capability) pieces."""
    pieces, last = [], 0
    for m in _SLOT.finditer(template):
        pieces.append((template[last:m.start()], m[1] or "", m[2], m[3]))
        last = m.end()
    return (*pieces, (template[last:], None, "", None))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


_Item = str | tuple[str, dict]  # a sentence template, optionally with label meta per capability


class _Writer:
    """Renders sentence templates left to right, labelling slots at exact character offsets."""

    def __init__(self, values: dict[str, str], pronouns: dict[str, dict]):
        self.values, self.pronouns = values, pronouns
        self.names = {values["A"], values["B"], values["P"]}
        self.parts: list[str] = []
        self.pos = 0
        self.seen: dict[str, int] = {}  # slot text -> offset of its first occurrence
        self.labels: list[Label] = []

    def write(self, template: str, meta: dict | None = None) -> None:
        parts, values, seen, pos = self.parts, self.values, self.seen, self.pos  # locals: hot loop
        for literal, kind, key, cap in _parse(template):
            parts.append(literal)
            pos += len(literal)
            if kind is None:
                continue
            text = key if kind == "=" else values[key]
            if kind == "an ":
                text = f"{_article(text)} {text}"
            parts.append(text)
            if cap or key in self.pronouns or text in self.names:
                self._label(pos, pos + len(text), key, text, cap, meta or {})
            seen.setdefault(text, pos)
            pos += len(text)
        self.pos = pos

    def _label(self, start: int, end: int, key: str, text: str, cap: str | None, meta: dict) -> None:
        if cap is None and key in self.pronouns:
            self.labels.append(Label(start, end, "pronoun", dict(self.pronouns[key])))
            return
        if cap is None and text not in self.seen:  # the first mention of a name
            return
        cap = cap or "induction_name"
        info = dict(meta.get(cap, ()))
        if cap in _LOOKBACK:
            info["first"] = self.seen[info[_ANTECEDENT[cap]] if cap in _ANTECEDENT else text]
        self.labels.append(Label(start, end, cap, info))

    def render(self, paragraphs: list[list[_Item]]) -> Story:
        for i, paragraph in enumerate(paragraphs):
            for j, item in enumerate(paragraph):
                sep = " " if j else "\n\n" if i else ""
                self.parts.append(sep)
                self.pos += len(sep)
                self.write(*((item, None) if isinstance(item, str) else item))
        text = "".join(self.parts)
        found = [Label(m.start() + m[0].index(" ") + 1, m.end(), "ngram", {"phrase": m[0]})
                 for m in _NGRAMS.finditer(text)]
        found += [Label(m.start(), m.end(), "quote_close", {}) for m in _CLOSING_QUOTE.finditer(text)]
        return Story(text, tuple(sorted(self.labels + found, key=_START)))


# ---------------------------------------------------------------- story assembly

_HE = ("he", "He", "his", "His", "him")
_SHE = ("she", "She", "her", "Her", "her")
_SCENES = tuple(tp.RELATED_SCENES.items())
_PLURAL_NOUNS = tuple(  # (singular, the PLURAL_PLACES key saying where a crowd of it is seen)
    (w, [c for c in lx.category_of(w) if c in lx.PLURAL_PLACES][-1])
    for w, p in lx.PLURALS.items() if p != w and w not in lx.CATEGORIES["body_part"]
)
_ANIMAL_KINDS = {"mammal", "bird", "fish", "insect", "animal"}
_FOODS = tuple(w for w in lx.CATEGORIES["food"] if w in lx.PLURALS)
_MAGIC_WORDS = sum((lx.CATEGORIES[c] for c in ("animal", "colour", "food", "toy", "thing", "day")), ())


@dataclass(frozen=True)
class _Mode:
    held_out_names: bool  # draw names from the test-only pool
    ioi_templates: tuple[int, ...]
    drill_halves: bool = False  # drills also draw from the drill-only intros and actions


_TRAIN = _Mode(False, tuple(i for i in range(len(_T["ioi"])) if i not in HELD_OUT_IOI), True)
_MODES = {"train": _TRAIN, "val": _TRAIN, "test": _Mode(True, tuple(sorted(HELD_OUT_IOI)))}


def _characters(rng: random.Random, mode: _Mode) -> tuple[dict, dict]:
    """Names and pronoun slots of hero A, friend B and pet P; "AB.They" refers to A and B."""
    values: dict[str, str] = {}
    pronouns: dict[str, dict] = {}
    for key in ("A", "B", "P"):
        name, pron = make_name(rng, held_out=mode.held_out_names, avoid=frozenset(values.values()))
        values[key], values[key + ".kind"] = name, _kind(rng, pron)
        forms, wrong = (_SHE, _HE) if pron == "she" else (_HE, _SHE)
        for slot, form, bad in zip(_HE, forms, wrong):
            values[f"{key}.{slot}"] = form
            pronouns[f"{key}.{slot}"] = {"referent": name, "wrong": bad}
    for form, single in (("They", "A.He"), ("they", "A.he")):
        values["AB." + form] = form
        pronouns["AB." + form] = {"referent": f"{values['A']} and {values['B']}", "wrong": values[single]}
    return values, pronouns


def _kind(rng: random.Random, pron: str) -> str:
    """What a character is: "little girl", "fluffy brown rabbit", ..."""
    if rng.random() < 0.6:
        return f"{rng.choice(lx.KID_ADJ)} {'girl' if pron == 'she' else 'boy'}"
    colour = rng.choice(lx.CATEGORIES["colour"]) + " " if rng.random() < 0.3 else ""
    return f"{rng.choice(lx.ANIMAL_ADJ)} {colour}{rng.choice(lx.CHARACTER_ANIMALS)}"


def _words(rng: random.Random, v: dict) -> None:
    """Fill the word slots that any template may use."""
    c, ch = lx.CATEGORIES, rng.choice
    day, month, age = rng.randrange(7), rng.randrange(12), rng.randrange(2, 9)
    v["home"], v["homedesc"], v["homedetail"] = ch(lx.HOMES)
    v["fam0"], v["fam1"] = rng.sample(c["family"], 2)
    v["vp0"], v["vp1"] = rng.sample(c["verb_past"], 2)
    v["food"] = ch(_FOODS)
    v.update(
        kind=v["A.kind"], kindnoun=v["A.kind"].rsplit(" ", 1)[1], bkind=v["B.kind"],
        townadj=ch(lx.TOWN_ADJ), town=ch(lx.TOWNS), where=ch(lx.WHERE), homeadj=ch(lx.HOME_ADJ),
        age=c["number_word"][age], age1=c["number_word"][age + 1], colour=ch(c["colour"]),
        month=c["month"][month], month1=c["month"][(month + 1) % 12], dstart=ch(c["day"]),
        d0=c["day"][day], d1=c["day"][(day + 1) % 7], d2=c["day"][(day + 2) % 7],
        feeling=ch(c["feeling"]), place=ch(c["place"]), place2=ch(c["place"]),
        weather=ch(c["weather"]), toy=ch(c["toy"]), toyadj=ch(lx.TOY_ADJ), toy2=ch(c["toy"]),
        thing=ch(c["thing"]), thingadj=ch(lx.THING_ADJ), food_pl=lx.PLURALS[v["food"]],
        hidespot=ch(lx.HIDESPOTS), body=ch(c["body_part"]), small=ch(lx.SMALL_ANIMALS),
        adj2=ch(lx.SIZE_ADJ), pet=ch(lx.PETS),
        hideseq=", ".join(c["number_word"][: rng.randint(5, 10)]).capitalize(),
    )


def _balanced(rng: random.Random) -> Iterator[tuple[bool, bool]]:
    """(hero first in the intro, subject first) in shuffled blocks of all four, so orders stay equal."""
    combos = list(itertools.product((True, False), repeat=2))
    while True:
        rng.shuffle(combos)
        yield from combos


def _ioi(rng: random.Random, v: dict, mode: _Mode, order: tuple[bool, bool], mix: bool = False) -> list[_Item]:
    """One indirect-object scene; ``mix`` pairs any intro with any action of the split's drill pool.

    The scene's ``template`` is the index of its action in ``TEMPLATES["ioi"]``, or -1 for a
    drill-only action.
    """
    t = rng.choice(mode.ioi_templates)
    intro, action = _T["ioi"][t]
    if mix:
        extra = mode.drill_halves * len(_T["ioi_drill_action"])
        k = rng.randrange(len(mode.ioi_templates) + extra)
        t, action = ((mode.ioi_templates[k], _T["ioi"][mode.ioi_templates[k]][1]) if k < len(mode.ioi_templates)
                     else (-1, _T["ioi_drill_action"][k - len(mode.ioi_templates)][0]))
        intro = _T["ioi"][t][0] if t >= 0 else intro
        if " it " not in action:  # "gave it to" needs its own intro's object
            intros = [_T["ioi"][i][0] for i in mode.ioi_templates]
            intro = rng.choice(intros + [i[0] for i in _T["ioi_drill_intro"]] * mode.drill_halves)
            action = _after(intro, action)
        # Zero to two adverbs after the subject, so the subject is no fixed number of tokens before the answer.
        adverbs = [a[0] for a in rng.sample(_T["ioi_drill_adverb"], rng.choice((0, 0, 1, 1, 2)))]
        if adverbs and mode.drill_halves:
            action = action.replace("{S} ", "{S} " + " and ".join(adverbs) + " ", 1)
    gap = 0 if intro.endswith(",") else rng.randint(0, 3)
    block = _ioi_block(v, intro, action, t, order, [g[0] for g in rng.sample(_T["gap"], gap)])
    if rng.random() < 0.6:
        block.append(rng.choice(_T["ioi_reaction"])[0])
    return block


def _after(intro: str, action: str) -> str:
    """The action as written after ``intro``: lower-case "then" when the intro ends mid-sentence (",")."""
    return action.replace("Then ", "then ", 1) if intro.endswith(",") else action


def _ioi_block(v: dict, intro: str, action: str, t: int, order: tuple[bool, bool], fillers: list[str]) -> list[_Item]:
    """Intro, filler sentences and the labelled action of a scene; ``order`` is (hero first, subject first)."""
    hero_first, subject_first = order
    x, y = ("A", "B") if hero_first else ("B", "A")
    s, io = (x, y) if subject_first else (y, x)
    v.update(X=v[x], Y=v[y], S=v[s], IO=v[io])
    meta = {"answer": v[io], "wrong": v[s], "template": t, "order": "ABAB" if subject_first else "ABBA",
            "held_out": t in HELD_OUT_IOI, "gap": len(fillers), "answer_is_hero": io == "A"}
    return [intro, *fillers, (action, {"ioi": meta})]


def _plural(rng: random.Random, v: dict) -> list[_Item]:
    sg, group = rng.choice(_PLURAL_NOUNS)
    seq = lx.CATEGORIES["digit" if rng.random() < 0.4 else "number_word"]
    k = rng.randint(3, 7)
    v.update(sg=sg, pl=lx.PLURALS[sg], plplace=rng.choice(lx.PLURAL_PLACES[group]),
             countseq=", ".join(seq[:k]), countn=seq[k - 1])
    scenes = _T["plural"] + _T["plural_animal" if group in _ANIMAL_KINDS else "plural_object"]
    return [(s, {"plural_singular": {"plural": v["pl"]}}) for s in rng.choice(scenes)]


def _related(rng: random.Random, v: dict) -> list[_Item]:
    (v["c"], v["t"]), (cue, target) = rng.choice(_SCENES)
    fillers = [f[0] for f in rng.sample(_T["filler"], rng.randint(0, 1))]
    return [cue, *fillers, (target, {"related_concept": {"cue": v["c"]}})]


def _series(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1]


def _span(rng: random.Random, v: dict) -> tuple[str, str, str]:
    """First, second and last sentence around a made-up span that is said three times."""
    k = rng.randrange(len(tp.SPAN_KINDS))
    kind, n, syl = tp.SPAN_KINDS[k], rng.randint(3, 5), lx.SONG_SYLLABLES
    if kind == "song":
        text = " ".join(rng.choice(syl) + (rng.choice(syl) if rng.random() < 0.5 else "") for _ in range(n + 1))
    elif kind == "magic":
        text = " ".join(rng.sample(_MAGIC_WORDS, n))
    elif kind == "list":
        text = _series([f"{_article(w)} {w}" for w in rng.sample(_FOODS + lx.CATEGORIES["toy"], n)])
    elif kind == "code":
        text = ", ".join(rng.choices(lx.CATEGORIES["digit"][:9], k=n + 1))
    else:
        text = _series(rng.sample(lx.CATEGORIES["colour"], n))
    if kind in ("song", "magic"):  # these open a quoted sentence
        text = text[0].upper() + text[1:]
    v["s0"], v["srest"] = text.split(" ", 1)
    return _T["span_first"][k][0], _T["span_again"][k][0], _T["span_last"][k][0]


def _blocks(rng: random.Random, v: dict, mode: _Mode, orders: Iterator) -> tuple[list[_Item], ...]:
    """Optional scenes of the action paragraph (shuffled), of the help paragraph, and of the ending."""
    blocks: list[list[_Item]] = []
    if rng.random() < 0.65:
        blocks.append(_ioi(rng, v, mode, next(orders)))
    if rng.random() < 0.5:
        blocks.append(_plural(rng, v))
    for chance, name in ((0.25, "thing"), (0.1, "game")):
        if rng.random() < chance:
            blocks.append(list(rng.choice(_T[name])))
    late: list[_Item] = []
    if rng.random() < 0.6:
        scene = _related(rng, v)
        if rng.random() < 0.5:
            late += scene
        else:
            blocks.append(scene)
    span = _span(rng, v) if rng.random() < 0.21 else ()
    if span:
        blocks.append([span[0]])
        late.append(span[1])
    rng.shuffle(blocks)
    return list(itertools.chain(*blocks)), late, list(span[2:])


def _compose(rng: random.Random, mode: _Mode, orders: Iterator) -> Story:
    v, pronouns = _characters(rng, mode)
    _words(rng, v)
    has_home, has_pet = rng.random() < 0.5, rng.random() < 0.35
    facts = [*rng.sample(_T["fact"], 1 + (rng.random() < 0.3)), rng.choice(_T["toy"])]
    facts += [rng.choice(_T["home"])] * has_home
    rng.shuffle(facts)
    facts += [rng.choice(_T["pet"])] * has_pet  # last, so no later "she" could mean the pet
    middle, late, last = _blocks(rng, v, mode, orders)
    pet_line = rng.choice(_T["pet_line"]) if has_pet else ()
    action = [*rng.choice(_T["start"]), *pet_line, *middle, *rng.choice(_T["skip"])[: rng.random() < 0.6]]
    k = rng.randrange(len(_T["problem"]))
    ending = [rng.choice(_T["summary"])[0], *last, rng.choice(_T["final"])[0]]
    if has_home and rng.random() < 0.7:
        ending.insert(1, rng.choice(_T["home_ending"])[0])
    if rng.random() < 0.35:
        ending.append("The end.")
    paragraphs = [[*rng.choice(_T["opener"]), *itertools.chain(*facts)], action, list(_T["problem"][k]),
                  [*_T["help"][k], *rng.choice(_T["thanks"]), *late], ending]
    return _Writer(v, pronouns).render(paragraphs)


def _story(rng: random.Random, mode: _Mode, orders: Iterator) -> Story:
    while True:  # the rare story outside WORD_RANGE is drawn again
        story = _compose(rng, mode, orders)
        if WORD_RANGE[0] <= len(story.text.split()) <= WORD_RANGE[1]:
            return story


# ---------------------------------------------------------------- public API

def generate_stories(n: int | None = None, *, seed: int = 0, split: str = "train") -> Iterator[Story]:
    """A deterministic stream of `n` stories (endless if `n` is None).

    'train' never uses the held-out IOI templates (`HELD_OUT_IOI`) or the held-out name pool.
    'val' follows the train distribution on its own random stream (for validation loss).
    'test' uses only held-out IOI templates and held-out names, to measure generalisation.
    """
    if split not in _MODES:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if n is not None and n < 0:
        raise ValueError(f"n must be None or >= 0, got {n}")
    rng = random.Random(f"{split}:{seed}")  # str seeds are stable across runs, unlike hash()
    orders = _balanced(rng)
    return (_story(rng, _MODES[split], orders) for _ in (itertools.count() if n is None else range(n)))


def ioi_drills(n: int | None = None, *, seed: int = 0, split: str = "train", scenes: int = 8,
               drill_halves: bool = True) -> Iterator[str]:
    """A deterministic stream of `n` texts of `scenes` short indirect-object scenes each (training drills).

    Every scene has two fresh names, so the answer must be copied from the scene itself. Any intro
    is paired with any action: for 'train' and 'val', those of the training templates and the
    drill-only halves of `TEMPLATES` (33 intros by 29 actions, with "to", "for" and "at" before the
    answer, and zero to two adverbs after the subject). They never show a held-out template's own
    wording or a held-out name, so the 'test' split, which pairs only the held-out templates' halves,
    still measures generalisation. ``drill_halves=False`` pairs only the templates' own halves (81 pairs
    for 'train'), with no adverbs.
    """
    if split not in _MODES:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    rng = random.Random(f"ioi-drill:{split}:{seed}")
    mode, orders = _MODES[split], _balanced(rng)
    mode = replace(mode, drill_halves=mode.drill_halves and drill_halves)

    def scene() -> str:
        v, pronouns = _characters(rng, mode)
        _words(rng, v)
        return _Writer(v, pronouns).render([_ioi(rng, v, mode, next(orders), mix=True)]).text

    return ("\n\n".join(scene() for _ in range(scenes)) for _ in (itertools.count() if n is None else range(n)))


def ioi_scenes(n: int, *, intros: Sequence[int], actions: Sequence[int], seed: int = 0,
               held_out_names: bool = False) -> list[Story]:
    """`n` single indirect-object scenes, each the intro of a template from `intros` then the action of one
    from `actions` (indices into ``TEMPLATES["ioi"]``), nothing in between, role orders balanced.

    Crossing the halves of seen and held-out templates shows which half a model's answer depends on. An
    action that says "it" ("gave it to") keeps its own intro. The label's ``template`` is the action's.
    """
    n_templates = len(_T["ioi"])
    if n < 1 or not intros or not actions:
        raise ValueError("need n >= 1 and at least one intro and one action")
    bad = [t for t in (*intros, *actions) if not 0 <= t < n_templates]
    if bad:
        raise ValueError(f"template indices {bad} are out of range: there are {n_templates} IOI templates")
    rng = random.Random(f"ioi-scenes:{seed}")
    mode, orders = _Mode(held_out_names, tuple(actions)), _balanced(rng)
    out = []
    for _ in range(n):
        v, pronouns = _characters(rng, mode)
        _words(rng, v)
        t = rng.choice(actions)
        intro = _T["ioi"][t if " it " in _T["ioi"][t][1] else rng.choice(intros)][0]
        action = _after(intro, _T["ioi"][t][1])
        out.append(_Writer(v, pronouns).render([_ioi_block(v, intro, action, t, next(orders), [])]))
    return out


def corpus(n: int, *, seed: int = 0, split: str = "train", sep: str = "<|endoftext|>") -> str:
    """`n` stories joined by `sep`, ready for tokenizer training."""
    return sep.join(s.text for s in generate_stories(n, seed=seed, split=split))


def label_counts(stories: Iterable[Story]) -> collections.Counter:
    """Number of labels per capability."""
    return collections.Counter(label.capability for s in stories for label in s.labels)
