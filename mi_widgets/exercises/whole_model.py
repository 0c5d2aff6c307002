"""44_whole_model: the direct path at position 1, a bigram table from the embeddings, an induction rule, and
scoring a rule on one capability."""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from mi_widgets.analysis.first_position import direct_path
from mi_widgets.analysis.model_as_code import embedding_bigram, induction_features
from mi_widgets.exercises.core import Case, Exercise, register
from mi_widgets.models import load_model


@lru_cache(maxsize=1)
def _model():
    return load_model("stories-gelu-2l")


def _centred_unembed(model):
    return model.W_U - model.W_U.mean(1, keepdim=True)


def _read(model, token: int, position: int):
    """Embeddings of ``token`` at ``position`` through the final LayerNorm frozen at position 1's scale."""
    _, cache = model.run_with_cache(torch.tensor([[model.tokenizer.bos_token_id, token]]),
                                    names_filter="ln_final.hook_scale")
    x = model.W_E[token] + model.W_pos[position]
    return (x - x.mean()) / cache["ln_final.hook_scale"][0, 1] * model.ln_final.w


def _direct_cases():
    model = _model()
    ids = [model.tokenizer(t, add_special_tokens=False)["input_ids"][0] for t in (" the", "Once", " said")]
    return [Case((model, i), f"the token {model.tokenizer.decode([i])!r}") for i in ids]


register(Exercise(
    "whole_model.direct_path", lambda model, token: direct_path(model, token).cpu(), _direct_cases,
    mistakes=[(lambda model, token: (model.W_E[token] + model.W_pos[1]) @ _centred_unembed(model),
               "the embeddings go through the final LayerNorm first: centre them, divide by the frozen scale, "
               "multiply by its weight"),
              (lambda model, token: _read(model, token, 1) @ model.W_U,
               "centre the logits: take the unembedding's mean over the vocabulary out of `W_U`"),
              (lambda model, token: _read(model, token, 0) @ _centred_unembed(model),
               "position 1's embedding is `W_pos[1]`: BOS sits at position 0"),
              (lambda model, token: (model.ln_final((model.W_E[token] + model.W_pos[1])[None, None])[0, 0]
                                     - model.ln_final.b) @ _centred_unembed(model),
               "freeze the scale at the model's own value at position 1 (`ln_final.hook_scale`) rather than "
               "recomputing it from the embeddings alone")],
    atol=1e-3))


register(Exercise(
    "whole_model.bigram_table", lambda model: embedding_bigram(model), lambda: [Case((_model(),), "stories-gelu-2l")],
    mistakes=[(lambda model: model.unembed(model.ln_final((model.W_E + model.W_pos[1])[None]))[0],
               "these are logits: finish with log_softmax over the last dimension"),
              (lambda model: model.unembed(model.ln_final(model.W_E[None]))[0].log_softmax(-1),
               "add position 1's embedding, `W_pos[1]`: the token sits at position 1"),
              (lambda model: ((model.W_E + model.W_pos[1]) @ model.W_U + model.b_U).log_softmax(-1),
               "apply the final LayerNorm before the unembedding"),
              (lambda model: model.unembed(model.ln_final((model.W_E + model.W_pos[1])[None]))[0].log_softmax(0),
               "normalise each row (over the next token, the last dimension), not each column")],
    atol=1e-3))


def _induction_reference(row, d_vocab: int):
    return (induction_features(row, d_vocab) > 0).float()


def _induction_cases():
    return [Case((torch.tensor([0, 5, 6, 7, 5, 6, 7, 5, 9, 6]), 10), "a span seen twice, and a stray copy"),
            Case((torch.tensor([0, 3, 3, 3, 4]), 6), "a token repeated back to back"),
            Case((torch.tensor([0, 1, 2, 3, 4]), 5), "no repeats: all zeros")]


def _self_match(row, d_vocab):
    p, s = torch.nonzero((row[:-1, None] == row[None, :-1]).tril(), as_tuple=True)
    out = torch.zeros(len(row), d_vocab)
    out[p, row[s + 1]] = 1.0
    return out


def _copies_the_token(row, d_vocab):
    p, s = torch.nonzero((row[:, None] == row[None, :]).tril(-1), as_tuple=True)
    out = torch.zeros(len(row), d_vocab)
    out[p, row[s]] = 1.0
    return out


register(Exercise(
    "whole_model.induction_rule", _induction_reference, _induction_cases,
    mistakes=[(_self_match, "a position must not match itself (s < p): with s == p the rule reads the answer, "
               "row[p + 1]"),
              (_copies_the_token, "propose the token *after* the earlier copy, row[s + 1], not the copy itself")]))


def _capability_reference(logprobs, marks, capability: str) -> float:
    picked = [-float(logprobs[q - 1]) for c, q in marks if c == capability]
    return sum(picked) / len(picked) if picked else math.nan


def _capability_cases():
    lp = -torch.arange(1.0, 9.0) / 4  # log-probs of tokens 1..8
    marks = [("ioi", 3), ("ngram", 4), ("ioi", 6), ("ngram", 8)]
    return [Case((lp, marks, "ioi"), "two labelled tokens"), Case((lp, marks, "ngram"), "the row's last token"),
            Case((lp, marks, "pronoun"), "a capability with no labels (NaN)")]


register(Exercise(
    "whole_model.capability_loss", _capability_reference, _capability_cases,
    mistakes=[(lambda lp, marks, c: _capability_reference(torch.cat([lp[1:], lp[:1]]), marks, c),
               "the token at position q is predicted at q - 1: you read the prediction one position later"),
              (lambda lp, marks, c: -_capability_reference(lp, marks, c),
               "a loss is minus the log-probability"),
              (lambda lp, marks, c: sum(-float(lp[q - 1]) for cc, q in marks if cc == c),
               "return the mean over the labelled tokens, not the sum")]))
