"""How well a model does each planted capability, read from the labels of generated stories.

`capability_token_scores` scores every labelled token (top-1 accuracy, loss), `capability_table` sums
them up per capability, and `ioi_table` scores each indirect-object item by its logit difference (answer
against the other name), with the template and role order it came from. Both feed the model cards (`organisms.cards`). Introduced in
``notebooks/01_models/01_models.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mi_widgets.logprobs import continuation_logprobs, text_scores
from mi_widgets.organisms.corpus import capability_tokens
from mi_widgets.organisms.stories import Story


def capability_token_scores(model, stories: Sequence[Story], batch_size: int = 16) -> pd.DataFrame:
    """One row per labelled token of ``stories``: its capability, whether the model's top guess is right, its loss."""
    if not stories:
        raise ValueError("need at least one story")
    encoded = [capability_tokens(model.tokenizer, s) for s in stories]
    scores = text_scores(model, [ids for ids, _ in encoded], batch_size)
    rows = []
    for (_, marks), sc in zip(encoded, scores):
        for capability, pos in marks:
            rows.append((capability, int(sc.ranks[pos - 1] == 1), -sc.logprobs[pos - 1].item()))
    return pd.DataFrame(rows, columns=["capability", "correct", "loss"])


def capability_table(model, stories: Sequence[Story], batch_size: int = 16) -> pd.DataFrame:
    """Per planted capability: labelled tokens, top-1 accuracy and mean loss of the model on them."""
    frame = capability_token_scores(model, stories, batch_size)
    return (frame.groupby("capability").agg(tokens=("correct", "size"), accuracy=("correct", "mean"),
                                           loss=("loss", "mean")).reset_index())


def ioi_table(model, stories: Sequence[Story]) -> pd.DataFrame:
    """Indirect-object items: log P(answer) - log P(other name) after the prompt, per item."""
    items = []
    for story in stories:
        for label in story.labels:
            if label.capability == "ioi":
                cut = label.start - 1 if story.text[label.start - 1: label.start] == " " else label.start
                gap = story.text[cut: label.start]
                items.append(dict(prompt=story.text[:cut], answer=gap + label.meta["answer"],
                                  wrong=gap + label.meta["wrong"], order=label.meta["order"],
                                  template=label.meta["template"], held_out=label.meta["held_out"]))
    if not items:
        raise ValueError("the stories hold no indirect-object items")
    frame = pd.DataFrame(items)
    right = continuation_logprobs(model, frame.prompt.tolist(), frame.answer.tolist())
    wrong = continuation_logprobs(model, frame.prompt.tolist(), frame.wrong.tolist())
    frame["logprob_diff"] = (right - wrong).double().numpy()  # equals the logit difference for one-token names
    frame["correct"] = frame.logprob_diff > 0
    return frame
