"""Write one task file per planted capability (``data/tasks/<capability>.jsonl``) with red-team variants.

    python -m mi_widgets.organisms.make_tasks            # rewrites data/tasks from its seed

Items come from held-out stories (split ``test``: held-out names and indirect-object templates, never
in the training text). Each labelled span becomes (prompt, answer): the prompt is the story up to the
first token of the span, the answer the span's tokens. The TinyStories capability proposal asks to red-team each capability, so
every task also holds variants of the same items (``meta.variant``):

- ``names``: every character renamed (fresh held-out names of the same gender);
- ``distance``: three unrelated sentences inserted before the sentence that holds the answer;
- ``wording``: common words of the prompt swapped for synonyms;
- ``local``: the answer's own sentence after unrelated text of about the same length from another story
  (a control: a capability that needs earlier text should fail, while the prompt stays story-like);
- ``synthetic``: short prompts in new wording, written for each capability.

Each variant item names the original it was made from (``meta.source``), so variants can be compared
item by item. ``meta.needs_earlier`` says whether what the answer depends on (the antecedent, the
referent of a pronoun, the indirect object's name) lies before the answer's own sentence; it is absent
where nothing can be cut (story starts).

Introduced in ``notebooks/20_capabilities/20_capabilities.ipynb``.
"""

from __future__ import annotations

import argparse
import random
import re
from collections import defaultdict
from dataclasses import dataclass

from mi_widgets.organisms import lexicon as lx
from mi_widgets.organisms.redteam import synthetic_items
from mi_widgets.organisms.stories import CAPABILITIES, Label, Story, generate_stories
from mi_widgets.organisms.task_format import tasks_dir, write_task
from mi_widgets.organisms.templates import RELATED

VARIANTS = ("original", "names", "distance", "wording", "local", "synthetic")
FILLERS = ("The clock on the wall went tick, tock.", "A little cloud floated by.", "Somewhere, a dog barked.",
           "The grass was soft and green.", "A leaf fell from a tree.", "The kettle began to whistle.")
SYNONYMS = {"went": "walked", "saw": "spotted", "big": "large", "little": "small", "happy": "glad",
            "very": "really", "ran": "hurried", "loved": "liked", "friend": "pal", "looked": "gazed"}
_SYNONYM = re.compile(r"\b(" + "|".join(SYNONYMS) + r")\b")
_BOUNDARY = re.compile(r'(?<=[.!?]) |(?<=[.!?]") |\n')  # where a new sentence may start


@dataclass(frozen=True)
class TaskSpec:
    n_original: int = 120  # held-out story items per capability
    n_variant: int = 30  # items per red-team variant
    n_stories: int = 700  # test-split stories to draw from
    per_story: int = 2  # at most this many items per story and capability, for variety
    seed: int = 4


def _tokens_agree(tok, prompt: str, answer: str) -> bool:
    """True when prompt and answer tokenized apart give the tokens of the joined text (no merge across the cut)."""
    ids = lambda t: tok(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    return ids(prompt) + ids(answer) == ids(prompt + answer) and bool(ids(answer))


def _cut(spans: list[tuple[int, int]], label: Label) -> tuple[int, int]:
    """Character offsets of the first and past-the-last token (of ``spans``) that overlap the label."""
    hit = [(a, b) for a, b in spans if a < label.end and b > label.start]
    return hit[0][0], hit[-1][1]


def _names(story: Story) -> dict[str, str]:
    """The story's character names and their pronoun ("he"/"she"; "?" when no pronoun tells)."""
    out: dict[str, str] = {}
    for label in story.labels:
        if label.capability in ("induction_name", "ioi"):
            out.setdefault(story.text[label.start:label.end], "?")
        if label.capability == "pronoun" and " and " not in label.meta["referent"]:
            form = story.text[label.start:label.end].lower()
            out[label.meta["referent"]] = "she" if form in ("she", "her") else "he"
    return out


def _wrong(capability: str, names: dict[str, str], label: Label, prompt: str, answer: str,
           rng: random.Random) -> str | None:
    """The obvious wrong answer of an item, when its capability has one."""
    lead = answer[: len(answer) - len(answer.lstrip())]
    word = answer.strip()
    if capability in ("pronoun", "ioi"):
        return lead + label.meta["wrong"]
    if capability == "plural_singular":
        return lead + label.meta["plural"]
    if capability == "quote_close":
        return answer.replace('"', "") or None
    if capability == "induction_name":  # the other character mentioned last
        others = [n for n in names if n != word and n in prompt]
        return lead + max(others, key=prompt.rfind) if others else None
    if capability == "repeat_noun":
        pool = [w for c in lx.category_of(word)[:1] for w in lx.CATEGORIES[c] if w != word and w not in prompt]
        return lead + rng.choice(pool) if pool else None
    if capability == "related_concept":
        return lead + rng.choice([t for _, t in RELATED if t != word])
    return None


def story_items(tok, story: Story, index: int, rng: random.Random) -> list[dict]:
    """One item per label of the story (original variant), in story order."""
    items, names = [], _names(story)
    spans = tok(story.text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    for label in story.labels:
        start, end = _cut(spans, label)
        prompt, answer = story.text[:start], story.text[start:end]
        if not _tokens_agree(tok, prompt, answer):
            continue
        meta = {"variant": "original", "story": index, "paragraph": prompt.count("\n\n")}
        meta.update({k: v for k, v in label.meta.items() if k in ("order", "template", "gap", "phrase", "cue")})
        if "first" in label.meta:
            chars = label.start - label.meta["first"]
            meta.update(distance_chars=chars, distance="near" if chars < 150 else "mid" if chars < 500 else "far")
        if label.capability == "pronoun":
            meta["form"] = answer.strip().lower()
        needs = _needs_earlier(label, prompt, answer)
        if needs is not None:
            meta["needs_earlier"] = needs
        item = {"capability": label.capability, "prompt": prompt, "answer": answer, "meta": meta, "names": names}
        wrong = _wrong(label.capability, names, label, prompt, answer, rng)
        if wrong:
            item["wrong"] = wrong
        items.append(item)
    return items


_IN_SENTENCE = {"ngram", "skip_trigram", "quote_close"}  # a phrase, a cue word, an open quote: all in the sentence
_COPIED = {"repeat_noun", "induction_name", "repeat_span"}  # the answer repeats earlier text


def _needs_earlier(label: Label, prompt: str, answer: str) -> bool | None:
    """Whether what the answer depends on is missing from its own sentence (None: no earlier text to cut).

    What it depends on: the cue of a related concept, the plural of a singular, the earlier copy of a
    repeated name or span, a pronoun's referent, the indirect object's name."""
    cut = _last_boundary(prompt)
    if cut is None:
        return None
    if label.capability in _IN_SENTENCE:
        return False
    meta = label.meta
    word = (meta.get("cue") or meta.get("plural") or meta.get("referent")
            or (meta["answer"] if label.capability == "ioi" else None)
            or (answer.strip() if label.capability in _COPIED else None))
    if word is None:
        return None
    return not re.search(rf"(?<!\w){re.escape(word)}(?!\w)", prompt[cut:])


def _last_boundary(prompt: str) -> int | None:
    """Start of the prompt's last sentence, outside any open quotation (None: the prompt is one sentence)."""
    ends = [m.end() for m in _BOUNDARY.finditer(prompt) if prompt[:m.end()].count('"') % 2 == 0]
    return ends[-1] if ends else None


def _rename(item: dict, rng: random.Random) -> dict | None:
    mapping, used = {}, set(item["names"])
    for name, pron in item["names"].items():
        while True:
            new, new_pron = lx.make_name(rng, held_out=True, avoid=frozenset(used))
            if pron in ("?", new_pron):
                break
        mapping[name] = new
        used.add(new)
    if not mapping:
        return None
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(mapping, key=len, reverse=True))) + r")\b")
    swap = lambda text: pattern.sub(lambda m: mapping[m[1]], text)  # noqa: E731
    return {**item, "prompt": swap(item["prompt"]), "answer": swap(item["answer"]),
            **({"wrong": swap(item["wrong"])} if "wrong" in item else {})}


def _donor_context(donors: list[str], length: int, rng: random.Random) -> str | None:
    """Whole sentences from the start of another story's prompt, as close to ``length`` characters as they come."""
    for donor in rng.sample(donors, min(8, len(donors))):
        ends = [0] + [m.end() for m in _BOUNDARY.finditer(donor) if donor[:m.end()].count('"') % 2 == 0]
        best = min(ends[1:], key=lambda e: abs(e - length), default=None)
        if best is not None and abs(best - length) <= max(40, length // 4):
            return donor[:best]
    return None


def variant(item: dict, kind: str, rng: random.Random, donors: list[str] | None = None) -> dict | None:
    """The ``kind`` red-team variant of an original item (None when it does not apply to this item).

    ``donors`` (``local`` only): (story index, prompt) of other items; the opening sentences of a prompt
    from another story replace the context that the variant deletes."""
    prompt, cut = item["prompt"], _last_boundary(item["prompt"])
    if kind == "names":
        new = _rename(item, rng)
    elif kind == "distance":
        if cut is None:
            return None
        extra = " ".join(rng.sample(FILLERS, 3)) + ("\n\n" if prompt[cut - 1: cut] == "\n" else " ")
        new = {**item, "prompt": prompt[:cut] + extra + prompt[cut:]}
    elif kind == "wording":
        changed = _SYNONYM.sub(lambda m: SYNONYMS[m[1]], prompt)
        new = {**item, "prompt": changed} if changed != prompt else None
    elif kind == "local":
        story = item["meta"]["story"]
        context = _donor_context([d for n, d in donors or [] if n != story], cut, rng) if cut else None
        if context is None:
            return None
        new = {**item, "prompt": context + ("" if context[-1:].isspace() else " ") + prompt[cut:]}
    else:
        raise ValueError(f"unknown variant {kind!r}; expected one of {VARIANTS[1:-1]}")
    return new and {**new, "meta": {**item["meta"], "variant": kind}}


def build_tasks(tok, spec: TaskSpec = TaskSpec()) -> dict[str, list[dict]]:
    """Every capability's items (task-file rows), original ones first, then each variant."""
    rng = random.Random(f"tasks:{spec.seed}")
    found: dict[str, list[dict]] = defaultdict(list)
    for index, story in enumerate(generate_stories(spec.n_stories, seed=spec.seed, split="test")):
        per_cap: dict[str, list[dict]] = defaultdict(list)
        for item in story_items(tok, story, index, rng):
            per_cap[item["capability"]].append(item)
        for cap, items in per_cap.items():
            found[cap] += rng.sample(items, min(spec.per_story, len(items)))
    out = {}
    for cap in CAPABILITIES:
        if len(found[cap]) < spec.n_original:
            raise ValueError(f"only {len(found[cap])} {cap} items in {spec.n_stories} stories; raise n_stories")
        originals = rng.sample(found[cap], spec.n_original)
        for n, item in enumerate(originals, start=1):
            item["meta"]["source"] = f"{cap}-original-{n:03d}"
        rows = list(originals)
        donors = [(i["meta"]["story"], i["prompt"]) for c in CAPABILITIES for i in found[c][:50]]
        local_rng = random.Random(f"local:{spec.seed}:{cap}")  # its own stream: the other variants stay as they were
        for kind in VARIANTS[1:-1]:
            made = [v for v in (variant(i, kind, local_rng if kind == "local" else rng,
                                        donors if kind == "local" else None) for i in originals)
                    if v and _tokens_agree(tok, v["prompt"], v["answer"])]
            rows += made[: spec.n_variant]
        rows += [{**s, "meta": {**s["meta"], "variant": "synthetic"}}
                 for s in synthetic_items(cap, spec.n_variant, rng) if _tokens_agree(tok, s["prompt"], s["answer"])]
        counts: dict[str, int] = defaultdict(int)
        out[cap] = []
        for row in rows:
            kind = row["meta"]["variant"]
            counts[kind] += 1
            out[cap].append({"id": f"{cap}-{kind}-{counts[kind]:03d}", "prompt": row["prompt"], "answer": row["answer"],
                             **({"wrong": row["wrong"]} if row.get("wrong") else {}), "meta": row["meta"]})
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: write the task files in ``data/tasks`` from held-out stories."""
    from mi_widgets.models import load_tokenizer
    from mi_widgets.organisms.corpus import tokenizer_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=TaskSpec.seed)
    args = parser.parse_args(argv)
    tasks = build_tasks(load_tokenizer(tokenizer_dir()), TaskSpec(seed=args.seed))
    for cap, rows in tasks.items():
        path = write_task(tasks_dir() / f"{cap}.jsonl", rows)
        print(f"{path}: {len(rows)} items")


if __name__ == "__main__":
    main()
