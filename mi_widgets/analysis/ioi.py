"""Indirect-object identification (IOI) prompts in clean/corrupt pairs, one aligned batch per template.

    families = ioi_families(model, templates=range(12), n=64, seed=0)
    f = families[0]
    f.clean, f.abc, f.answer, f.wrong, f.positions["S2"]    # [batch, pos] tokens; [batch] ids and positions

A clean prompt names two people and stops where the indirect object is due: "When Tom and Lily went to the
park, Tom gave a ball to" (answer " Lily", wrong " Tom"). Its corruptions keep every token but the names:
*ABC* (Wang et al. 2022) puts three fresh names in the three slots, so no name is repeated and the task has no
answer; *swap* makes the second mention of the subject the other person, so the other name is right. Names are
one token under the model's tokenizer, and each family keeps only prompts of its most common token layout, so
position ``p`` is the same word in every prompt of a family: patching can go position by position. Named
positions (IO, S1, S2, END...) differ between the two role orders and are given per prompt. Used in
``notebooks/41_patching``.
"""

from __future__ import annotations

import collections
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from jaxtyping import Int

from mi_widgets.patching import Metric, logit_diff, logit_diff_metric
from mi_widgets.organisms.lexicon import COMMON_NAMES, WORDS, is_held_out
from mi_widgets.organisms.stories import HELD_OUT_IOI, ioi_scenes
from mi_widgets.organisms.templates import TEMPLATES

POSITIONS = ("IO", "S1", "S1+1", "S2", "S2+1", "END-1", "END")
"""Named positions: the indirect object's and the subject's first mention, the token after the subject's first
mention, the subject's second mention and the token after it, and the last two tokens (the answer is predicted
at END)."""
PREFIX = "It was a sunny day. "
"""Text before every scene: in the training stories a scene follows other sentences."""


@dataclass
class IOIFamily:
    """Aligned clean/corrupt prompts of one template, both role orders."""

    template: int
    held_out: bool  # a template the models never saw in training
    wording: str  # the template, e.g. "When {X} and {Y} went to the {place}, | {S} gave ... to {IO}."
    clean: Int[torch.Tensor, "batch pos"]
    abc: Int[torch.Tensor, "batch pos"]  # three fresh names in the name slots
    swap: Int[torch.Tensor, "batch pos"]  # the subject's second mention is the other person
    answer: Int[torch.Tensor, "batch"]  # the indirect object's token
    wrong: Int[torch.Tensor, "batch"]  # the subject's token
    order: list[str]  # "ABBA" or "ABAB" per prompt
    positions: dict[str, Int[torch.Tensor, "batch"]]  # POSITIONS -> index per prompt
    str_tokens: list[str]  # the first clean prompt's tokens (position labels)

    def __len__(self) -> int:
        return self.clean.shape[0]

    def corrupt(self, corruption: str) -> Int[torch.Tensor, "batch pos"]:
        """The corrupt prompts: ``"abc"`` or ``"swap"``."""
        if corruption not in ("abc", "swap"):
            raise ValueError(f"corruption must be 'abc' or 'swap', got {corruption!r}")
        return self.abc if corruption == "abc" else self.swap

    def logit_diffs(self, model, tokens: Int[torch.Tensor, "batch pos"] | None = None) -> torch.Tensor:
        """Each prompt's logit difference (answer - wrong) on ``tokens`` (default: the clean prompts)."""
        with torch.no_grad():
            return logit_diff(model(self.clean if tokens is None else tokens), self.answer, self.wrong)

    def metric(self, model, corruption: str = "abc") -> Metric:
        """The normalised logit difference: 1 on the clean prompts, 0 on the ``corruption``."""
        return logit_diff_metric(self.answer, self.wrong, float(self.logit_diffs(model).mean()),
                                 float(self.logit_diffs(model, self.corrupt(corruption)).mean()))

    def position_matrix(self, names: Iterable[str] = POSITIONS) -> Int[torch.Tensor, "batch n_names"]:
        """The named positions as columns, the ``positions`` argument of `mi_widgets.patching.patch_scan`."""
        return torch.stack([self.positions[n] for n in names], dim=1)

    def axis_labels(self) -> list[str]:
        """Position labels for a heat map: the first prompt's tokens, with the named slots marked."""
        labels = list(self.str_tokens)
        for name in ("IO", "S1", "S2"):
            p = int(self.positions[name][0])
            labels[p] = f"{name}:{labels[p].strip()}"
        return labels


def one_token_names(model, held_out: bool = False) -> list[str]:
    """The common first names (of the train or test name pool) that are one token after a space."""
    pool = [n for names in COMMON_NAMES.values() for n in names if is_held_out(n) == held_out and n.lower() not in WORDS]
    return [n for n in pool if len(model.to_tokens(" " + n, prepend_bos=False)[0]) == 1]


def _slots(text: str) -> list[str]:
    return re.findall(r"\{(IO|S)\}", text)


def ioi_families(model, templates: Iterable[int] = range(len(TEMPLATES["ioi"])), n: int = 64, seed: int = 0,
                 draws: int = 4, prefix: str = PREFIX) -> list[IOIFamily]:
    """One `IOIFamily` of up to ``n`` prompts per template, names drawn with ``seed``.

    ``draws`` x ``n`` scenes are written per template (`ioi_scenes`, role orders balanced) and the prompts of
    the most common token layout kept. Names are the training pool's one-token names. ``prefix`` goes before
    each scene, so that no name starts the text (a name is one token only after a space).
    """
    names = one_token_names(model)
    if len(names) < 5:
        raise ValueError(f"only {len(names)} common names are one token for this tokenizer; ABC prompts need 5")
    templates = list(templates)
    if not templates or n < 1:
        raise ValueError("need at least one template and n >= 1")
    rng = random.Random(f"ioi-families:{seed}")
    token = {name: model.to_single_token(" " + name) for name in names}
    families = []
    for t in templates:
        rows = []
        for scene in ioi_scenes(draws * n, intros=[t], actions=[t], seed=seed):
            label = next(lab for lab in scene.labels if lab.capability == "ioi")
            text = prefix + scene.text[: label.start].rstrip()
            for who, slot in ((label.meta["answer"], "{IO}"), (label.meta["wrong"], "{S}")):
                text = re.sub(rf"\b{re.escape(who)}\b", slot, text)
            if _slots(text) not in (["IO", "S", "S"], ["S", "IO", "S"]):
                continue  # a scene whose other words contain a name
            io, s, c, d, e = rng.sample(names, 5)
            clean = text.replace("{IO}", io).replace("{S}", s)
            fresh = iter((c, d, e))
            abc = re.sub(r"\{(IO|S)\}", lambda _: next(fresh), text)
            swap = text.replace("{IO}", io).replace("{S}", s)
            swap = swap[: swap.rfind(" " + s)] + " " + io + swap[swap.rfind(" " + s) + len(s) + 1:]
            rows.append((text, clean, abc, swap, io, s, label.meta["order"]))
        encoded = []
        for r in rows:
            tokens = model.to_tokens(r[1])[0]
            at = (tokens == token[r[4]]).nonzero()[:, 0].tolist() + (tokens == token[r[5]]).nonzero()[:, 0].tolist()
            if len(at) == 3:  # else a name token also occurs in another word
                encoded.append((tokens, (len(tokens), tuple(sorted(at))), r))
        layouts = collections.Counter(layout for _, layout, _ in encoded)
        if not layouts:
            raise ValueError(f"template {t} gave no usable prompts")
        layout = layouts.most_common(1)[0][0]
        kept = [(tokens, r) for tokens, key, r in encoded if key == layout][:n]
        length = layout[0]
        clean = torch.stack([tokens for tokens, _ in kept])
        abc = torch.stack([model.to_tokens(r[2])[0] for _, r in kept])
        swap = torch.stack([model.to_tokens(r[3])[0] for _, r in kept])
        answer = torch.tensor([token[r[4]] for _, r in kept])
        wrong = torch.tensor([token[r[5]] for _, r in kept])
        positions = {name: [] for name in POSITIONS}
        for row, (_, r) in enumerate(kept):
            io_at = (clean[row] == answer[row]).nonzero()[:, 0].tolist()
            s_at = (clean[row] == wrong[row]).nonzero()[:, 0].tolist()
            positions["IO"].append(io_at[0])
            positions["S1"].append(s_at[0])
            positions["S1+1"].append(s_at[0] + 1)
            positions["S2"].append(s_at[1])
            positions["S2+1"].append(s_at[1] + 1)
            positions["END-1"].append(length - 2)
            positions["END"].append(length - 1)
        families.append(IOIFamily(
            template=t, held_out=t in HELD_OUT_IOI, wording=" ".join(TEMPLATES["ioi"][t]), clean=clean, abc=abc,
            swap=swap, answer=answer, wrong=wrong, order=[r[6] for _, r in kept],
            positions={k: torch.tensor(v) for k, v in positions.items()},
            str_tokens=model.to_str_tokens(clean[0])))
    return families
