"""analysis.first_position: the split of a prediction adds up exactly, with heads by source and MLPs by feature."""

import pytest
import torch

import mi_widgets as mw
from mi_widgets.analysis.first_position import decompose_prediction, direct_path


@pytest.fixture(scope="module")
def model():
    return mw.load_model("stories-gelu-4l")


@pytest.fixture(scope="module")
def transcoders():
    return {layer: mw.load_dictionary(f"mlp{layer}-tc") for layer in range(4)}


def ids(model, text):
    return [model.tokenizer.bos_token_id, *model.tokenizer(text, add_special_tokens=False)["input_ids"]]


@pytest.mark.parametrize("text", ["Once", " said", ". Then", " gave a ball to"])
def test_the_parts_add_up_to_the_centred_logit(model, transcoders, text):
    tokens = ids(model, text)
    logits = model(torch.tensor([tokens]))[0, -1].detach()
    whole = decompose_prediction(model, tokens)
    split = decompose_prediction(model, tokens, transcoders)
    assert whole.token == split.token == int(logits.argmax())
    assert whole.logit == pytest.approx(float(logits.max() - logits.mean()), abs=1e-4)
    # Tolerance 1e-4 logits (measured 1e-6): a head split by source that dropped the BOS part, or a transcoder
    # split that forgot its skip path or error term, is off by tenths of a logit or more.
    assert whole.check_sum < 1e-4 and split.check_sum < 1e-4
    n_sources = len(tokens)
    heads = [n for n in whole.names if " from " in n]
    assert len(heads) == model.cfg.n_layers * model.cfg.n_heads * n_sources
    assert any(n.endswith("from BOS") for n in heads)
    assert {"L0 MLP skip", "L0 MLP bias", "L0 MLP error"} <= set(split.names) and "L0 MLP" not in split.names
    # Each MLP's pieces add up to the whole MLP's share.
    for layer in range(4):
        pieces = sum(v for n, v in zip(split.names, split.values) if n.startswith(f"L{layer} MLP"))
        assert pieces == pytest.approx(whole.values[whole.names.index(f"L{layer} MLP")], abs=1e-4)
    assert sum(whole.grouped().values()) == pytest.approx(whole.logit - whole.constant, abs=1e-4)


def test_needed_counts_the_largest_components_first():
    from mi_widgets.analysis.first_position import Decomposition
    import numpy as np
    d = Decomposition(0, ["a", "b", "c", "d"], np.array([5.0, -1.0, 3.0, 2.0]), 1.0, 10.0)  # target 9
    assert d.needed(0.5) == 1 and d.needed(0.85) == 2 and d.needed(0.9) == 3 and d.needed(1.0) == 3
    assert d.top(2) == [("a", 5.0), ("c", 3.0)]
    assert Decomposition(0, ["a"], np.array([-1.0]), 0.0, -1.0).needed(0.9) == 2  # nothing positive to reach
    with pytest.raises(ValueError, match="share"):
        d.needed(0)


def test_a_chosen_token_and_the_direct_path(model):
    tokens = ids(model, "Once")
    other = model.tokenizer(" the", add_special_tokens=False)["input_ids"][0]
    d = decompose_prediction(model, tokens, token=other)
    assert d.token == other and d.check_sum < 1e-4
    direct = direct_path(model, tokens[1])
    embeddings = d.values[d.names.index("embed")] + d.values[d.names.index("pos_embed")]
    assert float(direct[other]) == pytest.approx(float(embeddings), abs=1e-4)


def test_bad_input_is_refused_clearly(model, transcoders):
    with pytest.raises(ValueError, match="empty"):
        decompose_prediction(model, [])
    with pytest.raises(ValueError, match="token ids"):
        decompose_prediction(model, [0, 10**6])
    with pytest.raises(ValueError, match="layers"):
        decompose_prediction(model, ids(model, "Once"), {7: transcoders[0]})
    with pytest.raises(ValueError, match="context"):
        decompose_prediction(model, [0] * (model.cfg.n_ctx + 1))
