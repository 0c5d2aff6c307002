"""analysis.model_as_code: rules that never read the answer, a predictor that normalises, and the code scored
against the model it was read from."""

import itertools

import pytest
import torch

import mi_widgets as mw
from mi_widgets.analysis.model_as_code import (CodePredictor, IndirectObject, Induction, NgramTables, QuoteClosing,
                                               RepeatedWords, TokenKinds, default_rules, induction_features, words)
from mi_widgets.organisms.corpus import capability_tokens, story_tokens
from mi_widgets.organisms.stories import generate_stories


@pytest.fixture(scope="module")
def model():
    return mw.load_model("stories-gelu-2l")


@pytest.fixture(scope="module")
def rules(model):
    return default_rules(model, mw.load_model("stories-attn-1l"))


@pytest.fixture(scope="module")
def tables(model):
    return NgramTables(model, story_tokens(model.tokenizer, 30_000, seed=0, split="train"), n_pairs=200)


def stories(model, split, n, seed=0):
    return [torch.tensor(capability_tokens(model.tokenizer, s)[0][:128])
            for s in itertools.islice(generate_stories(seed=seed, split=split), n)]


def encode(model, text):
    return torch.tensor([model.tokenizer.bos_token_id, *model.tokenizer(text, add_special_tokens=False)["input_ids"]])


def test_no_rule_reads_the_future(model, rules):
    """The features at a prefix's positions are the same whether or not the rest of the row follows."""
    row = stories(model, "test", 1)[0]
    for rule in rules:
        whole = rule.proposals(row)[1] if hasattr(rule, "proposals") else rule.features(row)
        for cut in (5, 40, len(row) - 1):
            part = rule.proposals(row[:cut])[1] if hasattr(rule, "proposals") else rule.features(row[:cut])
            assert torch.allclose(whole[:cut], part, atol=1e-5), (rule.name, cut)


def test_induction_proposes_what_followed_the_longest_match():
    row = torch.tensor([0, 5, 6, 7, 5, 6, 7, 5, 9, 6])
    f = induction_features(row, 10)
    assert f[4, 6] == 1 and f[5, 7] == 2 and f[6, 5] == 3 and f[7, 6] == 3 and f[9, 7] == 1
    assert f[:4].sum() == 0 and f[8].sum() == 0  # no earlier copy of 9
    assert f[7].count_nonzero() == 1  # the 1-token match from position 1 proposes the same token, at a lower count


def test_copy_rule_cases(model):
    kinds = TokenKinds.of(model)
    row = encode(model, " Sue ran. Sue")[:-1]  # ends at the second " Su"
    case, copy = Induction(kinds).proposals(row)
    after = model.tokenizer(" Sue", add_special_tokens=False)["input_ids"]
    assert case[-1] == 1  # a one-token match that goes on inside the word (" Su" -> "e") when the name splits
    assert len(after) > 1 and copy[-1, after[1]] == 1.0
    assert case[1] == 0 and copy[1].sum() == 0


def test_word_rules_on_an_indirect_object_scene(model):
    kinds = TokenKinds.of(model)
    row = encode(model, "When Tom and Lily went to the park, Tom gave a ball to")
    first = {n: model.tokenizer(f" {n}", add_special_tokens=False)["input_ids"][0] for n in ("Tom", "Lily")}
    ioi = IndirectObject(kinds, model.tokenizer).features(row)
    assert ioi[-1, first["Lily"]] == 1 and ioi[-1, first["Tom"]] == -1
    assert ioi[5].abs().sum() == 0  # before the subject's second mention the rule says nothing
    names = RepeatedWords(kinds).features(row)
    assert names[-1, first["Lily"]] == 1 and names[1, first["Lily"]] == 0
    assert [w for _, _, w in words([kinds.texts[t] for t in row[1:7].tolist()])] == ["When", "Tom", "and", "Lily", "went"]


def test_quotes_open_and_close(model):
    kinds = TokenKinds.of(model)
    row = encode(model, 'Tom said, "Wow')
    closing = int(torch.nonzero(kinds.closing).flatten()[0])
    f = QuoteClosing(kinds).features(row)
    assert f[-1, closing] == 1 and f[2, closing] == -1  # inside the quote, and before it opened
    assert QuoteClosing(kinds).sources(encode(model, 'Tom said, "Wow!" Then')) == [(len(encode(model, 'Tom said, "Wow')) - 1, 5)]


def test_predictor_normalises_and_a_copy_reaches_what_the_tables_rule_out(model, rules, tables):
    row = encode(model, " Sue ran. Sue")[:-1]
    base_only = CodePredictor(tables, 3)
    lp = base_only.logprobs(row)
    assert torch.allclose(lp.logsumexp(-1), torch.zeros(len(row)), atol=1e-4)
    assert torch.allclose(lp[1], tables.bigram([int(row[1])])[0], atol=1e-5)  # position 1 is the model's own bigram
    copy = next(r for r in rules if hasattr(r, "proposals"))
    code = CodePredictor(tables, 3, [copy], weights=torch.tensor([0.0, -9.0, -9.0, -9.0]))  # lambda 0.5 for case 1
    nxt = model.tokenizer(" Sue", add_special_tokens=False)["input_ids"][1]
    assert code.logprobs(row)[-1, nxt].exp() >= 0.5 - 1e-4
    assert torch.allclose(code.logprobs(row).logsumexp(-1), torch.zeros(len(row)), atol=1e-4)
    with pytest.raises(ValueError, match="order"):
        CodePredictor(tables, 4)
    with pytest.raises(ValueError, match="weights"):
        CodePredictor(tables, 3, [copy], weights=torch.zeros(2))
    with pytest.raises(ValueError, match="row"):
        CodePredictor(tables, 3, [copy]).fit([torch.tensor([0])])


def test_the_code_scored_against_the_model(model, rules, tables):
    """Fitted on training stories, the rules beat the model's own trigram table on held-out ones, and the model
    still beats the code: broken by rules that do nothing, or by a code that leaks the answer (it would beat
    the model)."""
    fit, test = stories(model, "train", 6, seed=1), stories(model, "test", 6)
    trigram = CodePredictor(tables, 3)
    code = CodePredictor(tables, 3, rules).fit(fit)

    def loss(predictor):
        return float(-torch.cat([predictor.next_token_logprobs(r) for r in test]).mean())

    with torch.no_grad():
        model_loss = float(-torch.cat([model(r[None])[0, :-1].log_softmax(-1).gather(1, r[1:, None])[:, 0]
                                       for r in test]).mean())
    assert model_loss < loss(code) < loss(trigram) - 0.2
    labels = [label for label, _, _ in code.weight_table()]
    assert labels == code.labels and len(labels) == len(code.weights)
