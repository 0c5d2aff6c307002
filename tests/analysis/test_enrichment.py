"""Token classes from the lexicon and class enrichment against an exact hypergeometric tail."""

import pytest
import torch

from mi_widgets.analysis import enrichment as E


def test_random_directions_are_seeded_and_follow_the_covariance():
    torch.testing.assert_close(E.random_directions(5, 3, seed=1), E.random_directions(5, 3, seed=1))
    cov = torch.tensor([[4.0, 1.0], [1.0, 1.0]])
    x = E.random_directions(200_000, 2, seed=0, cov=cov)
    torch.testing.assert_close(torch.cov(x.T), cov, rtol=0.03, atol=0.03)


def test_token_classes_of_the_bundled_tokenizer():
    from mi_widgets.organisms.corpus import load_bundled_tokenizer

    tok = load_bundled_tokenizer()
    classes = E.token_classes(tok)

    def of(text):
        j = classes.of_token[tok(text, add_special_tokens=False)["input_ids"][0]]
        return classes.names[j] if j >= 0 else None

    assert (of(" dog"), of(" red"), of(" Monday"), of(" ran"), of(","), of(" seven")) == \
        ("animal", "colour", "calendar", "verb_past", "punctuation", "number")
    assert (of(" dogs"), of(" Tom"), of(" the")) == ("animal", "name", None)
    assert classes.sizes().sum() == (classes.of_token >= 0).sum() and classes.of_token[tok.bos_token_id] == -1


def test_class_enrichment_against_scipy_and_a_planted_class():
    from scipy.stats import hypergeom

    classes = E.TokenClasses(["a", "b"], torch.tensor([0] * 10 + [1] * 30 + [-1] * 60))
    effects = torch.zeros(2, 100)
    effects[0, :6] = 1.0  # top 6: all of class a
    effects[1, [0, 10, 11, 12, 40, 41]] = 1.0  # 1 a, 3 b, 2 unclassed
    out = E.class_enrichment(effects, classes, top=6)
    assert out.best.tolist() == [0, 1]
    torch.testing.assert_close(out.share, torch.tensor([1.0, 0.5]))
    expected = -torch.log10(torch.tensor([hypergeom.sf(5, 100, 10, 6), hypergeom.sf(2, 100, 30, 6)]))  # P(X >= x)
    torch.testing.assert_close(out.score, expected.float(), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="top must be"):
        E.class_enrichment(effects, classes, top=0)
