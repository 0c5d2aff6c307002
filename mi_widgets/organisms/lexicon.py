"""The words behind `mi_widgets.organisms.stories`: word categories, plurals, related concepts and names.

The categories (with an `animal` hierarchy) give the geometry notebooks labelled word sets; the
plurals and related-concept pairs give the story generator its ground truth. Names
are built from syllables so that a model cannot memorise them: copying a name from context is
cheaper than remembering it. Introduced in ``notebooks/01_models/01_models.ipynb``.
"""

from __future__ import annotations

import random

from mi_widgets.organisms.templates import RELATED


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ANIMAL_KINDS = {
    "mammal": _words(
        "dog cat rabbit mouse bear lion tiger zebra monkey elephant giraffe horse cow pig sheep fox "
        "wolf deer squirrel puppy kitten bunny goat hippo hamster hedgehog"
    ),
    "bird": _words("owl duck parrot robin eagle penguin chicken goose swan crow hen sparrow"),
    "fish": _words("goldfish shark salmon tuna trout clownfish catfish eel guppy"),
    "insect": _words("bee ant butterfly ladybug beetle grasshopper caterpillar dragonfly cricket moth"),
}
_OTHER_ANIMALS = _words("frog snake turtle octopus crab snail worm spider lizard")
CATEGORIES: dict[str, tuple[str, ...]] = {
    "animal": sum(_ANIMAL_KINDS.values(), ()) + _OTHER_ANIMALS,
    **_ANIMAL_KINDS,
    "colour": _words("red blue green yellow orange purple pink brown black white gray"),
    "number_word": _words("one two three four five six seven eight nine ten eleven twelve"),
    "digit": tuple(str(i) for i in range(1, 13)),
    "day": _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday"),
    "month": _words(
        "January February March April May June July August September October November December"
    ),
    "food": _words(
        "apple banana cake cookie bread cheese carrot soup pie sandwich pizza egg peach cherry "
        "strawberry honey candy muffin grape milk"
    ),
    "toy": _words("ball doll kite drum robot train truck balloon puzzle block marble whistle boat car teddy"),
    "place": _words(
        "park garden forest beach school zoo farm lake river town shop library playground jungle "
        "ocean hill pond market"
    ),
    "feeling": _words(
        "happy sad angry scared excited tired proud lonely surprised calm worried shy bored hungry sleepy"
    ),
    "body_part": _words("head hand foot nose ear eye arm leg tooth knee finger mouth toe"),
    "family": _words("mom dad grandma grandpa sister brother aunt uncle cousin"),
    "verb_past": _words("ran jumped played laughed danced sang swam walked climbed smiled"),
    "weather": _words("sunny rainy windy snowy cloudy stormy foggy hot cold"),
    "thing": _words("box cup hat shoe sock leaf rock stick shell key bag book feather coin bell flower"),
}
PARENT: dict[str, str] = {kind: "animal" for kind in _ANIMAL_KINDS}


def category_of(word: str) -> list[str]:
    """All categories of `word`, ancestors included (`"owl"` -> `["animal", "bird"]`)."""
    cats = [cat for cat, members in CATEGORIES.items() if word in members]
    for cat in list(cats):
        while cat in PARENT and PARENT[cat] not in cats:
            cat = PARENT[cat]
            cats.append(cat)
    return cats


_IRREGULAR = {
    "mouse": "mice", "goose": "geese", "tooth": "teeth", "foot": "feet", "wolf": "wolves",
    "leaf": "leaves", "sheep": "sheep", "deer": "deer", "salmon": "salmon", "trout": "trout",
    "tuna": "tuna", "catfish": "catfish", "goldfish": "goldfish", "clownfish": "clownfish",
}
_UNCOUNTABLE = {"bread", "cheese", "soup", "honey", "milk"}


def _pluralise(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


PLURALS: dict[str, str] = {
    w: _pluralise(w)
    for cat in ("animal", "food", "toy", "body_part", "thing")
    for w in CATEGORIES[cat]
    if w not in _UNCOUNTABLE
}

# Words the templates draw on besides the categories above.
KID_ADJ = ("little", "happy", "kind", "curious", "brave", "friendly", "shy", "silly", "sweet", "smart")
ANIMAL_ADJ = ("little", "big", "fluffy", "tiny", "old", "happy", "hairy", "friendly", "curious", "brave")
CHARACTER_ANIMALS = CATEGORIES["mammal"] + CATEGORIES["bird"] + CATEGORIES["insect"] + _OTHER_ANIMALS
PETS = ("dog", "cat", "puppy", "kitten", "bunny", "parrot", "turtle", "hamster")
HOMES = (  # (home, where it is, a detail for the sentence that repeats it)
    ("house", "with many rooms", "had a red door"), ("cottage", "near the woods", "was small and warm"),
    ("castle", "on a hill", "had tall towers"), ("boat", "by the sea", "rocked on the waves"),
    ("cave", "in the hills", "was cozy and dry"), ("hut", "by the lake", "had a round roof"),
    ("cabin", "by the river", "had a big window"), ("tent", "in the woods", "was green and snug"),
    ("barn", "on a big farm", "smelled like hay"), ("garage", "behind a shop", "was full of old boxes"),
)
HOME_ADJ = ("big", "small", "little", "old", "cozy", "pretty")
TOWNS = ("town", "village", "city", "forest", "valley")
TOWN_ADJ = ("small", "quiet", "sunny", "busy", "little", "green", "old")
WHERE = ("near the woods", "by the sea", "in a small town", "on a big farm", "next to a river")
TOY_ADJ = ("red", "blue", "shiny", "new", "old", "soft", "little", "big", "green", "yellow")
THING_ADJ = ("shiny", "small", "old", "pretty", "strange", "little", "round")
SIZE_ADJ = ("big", "little", "small", "tiny", "funny", "pretty", "special")
HIDESPOTS = ("bed", "table", "chair", "sofa", "bush", "bench")
SMALL_ANIMALS = ("mouse", "frog", "bunny", "squirrel", "duck", "kitten", "bird", "hedgehog")
PLURAL_PLACES = {  # where a crowd of each kind of noun can be seen
    "mammal": ("zoo", "farm"), "bird": ("pond", "farm", "park"), "fish": ("aquarium", "lake"),
    "insect": ("garden", "meadow"), "animal": ("pond", "garden"), "food": ("market", "shop"),
    "toy": ("toy shop", "fair"), "thing": ("market", "yard sale"),
}
SONG_SYLLABLES = ("la", "li", "lo", "da", "di", "doo", "bo", "ba", "tum", "tee", "zip", "zap", "pa",
                  "ri", "ko", "na", "mee", "wum", "fa", "so")


# Names. Gender follows the last syllable, as in real names ("Bolinka" she, "Bolinko" he).
_ONSETS = _words("b d f g h j k l m n p r s t v z br dr fl gr kl pl tr sn")
_MIDDLES = _words("lin mar tus pel ben dor fin gal kit lom nib rud sol ten vik wen ri mo ta ku")
_ENDINGS = {
    "she": _words("la na ka ri sa lie mi nie ra bel ta lia"),
    "he": _words("bo do ko lin mo nus rik ton van zo bert mak"),
}
COMMON_NAMES = {
    "she": _words(
        "Lily Mia Anna Lucy Sue Emma Sara Amy Ella Zoe Kate Jane Ruby Molly Sophie Chloe Ava Nora "
        "Alice Hannah Jenny Lisa Maya Nina Olivia Polly Rosie Sally Tina Wendy Bella Clara Eva Fiona "
        "Gina Julia Katie Laura Lola Megan Susie Tess Vicky Emily Lena Kim Beth Jill Ann Meg"
    ),
    "he": _words(
        "Tom Max Ben Tim Sam Jack Leo Joe Bob Jake Timmy Billy Mark Dan Finn Kevin Luke Noah Oliver "
        "Peter Ryan Toby Eli Adam Alex Charlie Danny Eddie Fred George Harry Henry Jim Kyle Liam Mike "
        "Ned Oscar Paul Ray Roy Ted Tony Will Zack Jimmy Bobby Sid Otto Hugo"
    ),
}
SYLLABLE_SHARE = 0.7  # share of characters with syllable-built names
HELD_OUT_MODULUS = 8  # names whose hash is 0 mod this are reserved for the test split
WORDS = frozenset(w.lower() for ws in CATEGORIES.values() for w in ws) | {w for p in RELATED for w in p}


def _stable_hash(text: str) -> int:
    """32-bit FNV-1a; unlike `hash`, it does not change between interpreter runs."""
    h = 2166136261
    for ch in text:
        h = ((h ^ ord(ch)) * 16777619) & 0xFFFFFFFF
    return h


def is_held_out(name: str) -> bool:
    """Whether `name` belongs to the test-split name pool."""
    return _stable_hash(name) % HELD_OUT_MODULUS == 0


_COMMON_POOLS = {
    (held, pron): tuple(n for n in names if is_held_out(n) == held and n.lower() not in WORDS)
    for pron, names in COMMON_NAMES.items()
    for held in (False, True)
}


def _syllable_name(rng: random.Random, pron: str) -> str:
    head = rng.choice(_ONSETS) + rng.choice("aeiou")
    middle = rng.choice(_MIDDLES) if rng.random() < 0.6 else ""
    return (head + middle + rng.choice(_ENDINGS[pron])).capitalize()


def make_name(
    rng: random.Random, *, held_out: bool = False, avoid: frozenset[str] = frozenset()
) -> tuple[str, str]:
    """A character name and its pronoun ("she" or "he").

    `held_out` selects the test-split pool; `avoid` lists names already used in a story.
    """
    pron = rng.choice(("she", "he"))
    syllabic = rng.random() < SYLLABLE_SHARE
    while True:
        if syllabic:
            name = _syllable_name(rng, pron)
            if is_held_out(name) != held_out or name.lower() in WORDS:
                continue
        else:
            name = rng.choice(_COMMON_POOLS[held_out, pron])
        if name not in avoid:
            return name, pron
