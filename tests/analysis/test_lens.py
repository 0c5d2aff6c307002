"""Logit lens: the last reading is the model's own prediction; the view shows it escaped."""

import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.analysis.lens import logit_lens
from mi_widgets.widgets import logit_lens_view


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("norm", ["recompute", "frozen"])
def test_last_layer_reading_is_the_model_output(model, norm):
    tokens = model.to_tokens("Once upon a time, a cat named Bolin")[0]
    probs = logit_lens(model, tokens, norm=norm)
    assert probs.shape == (model.cfg.n_layers + 1, len(tokens), model.cfg.d_vocab)
    torch.testing.assert_close(probs[-1], model(tokens[None])[0].softmax(-1), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:2]))


def test_frozen_and_recomputed_differ_before_the_last_layer(model):
    tokens = model.to_tokens("Once upon a time, a cat named Bolin")[0]
    assert not torch.allclose(logit_lens(model, tokens, "frozen")[0], logit_lens(model, tokens, "recompute")[0])


def test_bad_input(model):
    with pytest.raises(ValueError, match="norm must be"):
        logit_lens(model, model.to_tokens("a")[0], norm="tuned")
    with pytest.raises(ValueError, match="one non-empty row"):
        logit_lens(model, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="non-empty prompt"):
        logit_lens_view(model, "")


def test_view_escapes_tokens_and_has_every_layer(model):
    html = logit_lens_view(model, "<img src=x onerror=alert(1)></script>")._repr_html_()
    assert "<img" not in html and "</script>" not in html and "&lt;" in html
    assert html.count("<tr>") == model.cfg.n_layers + 2  # header + embed + one per block
    box = logit_lens_view(model, "a cat").widget()
    box.children[1].value = "frozen"
    assert "final norm: frozen" in box.children[2].value


# ---------------------------------------------------------------- KL per layer, feature logit effects

from mi_widgets.analysis import lens as L  # noqa: E402
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary  # noqa: E402


def _rows(model, n=3):
    return model.to_tokens(["Once upon a time, a cat named Bolin found a red ball."] * n)


@pytest.mark.parametrize("norm", ["recompute", "frozen"])
def test_lens_kl_matches_the_per_row_lens(model, norm):
    rows = _rows(model, 3)
    kl = L.lens_kl(model, rows, norm, batch_size=2)
    probs = logit_lens(model, rows[0], norm)[:, 1:]  # rows are equal, so one row's mean is the mean
    naive = (probs[-1] * (probs[-1].log() - probs.log())).sum(-1).mean(-1)
    torch.testing.assert_close(kl, naive, rtol=1e-4, atol=1e-5)
    assert kl[-1].abs() < 1e-5 and (kl[:-1] > 0).all()
    with pytest.raises(ValueError, match=r"\[batch, pos\]"):
        L.lens_kl(model, rows[0], norm)


def _final_sae(model, width=16, k=4, seed=0):
    sae = Dictionary(DictConfig(d_in=model.cfg.d_model, width=width, k=k, hook_in=L.FINAL), seed=seed)
    with torch.no_grad():
        sae.W_enc.normal_(generator=torch.Generator().manual_seed(seed))
        sae.scale_in.fill_(0.7)
        sae.scale_out.fill_(1.3)
    return sae


def test_feature_logit_effects_are_the_logit_change_of_adding_the_decoder_row(model):
    sae = _final_sae(model)
    tokens = _rows(model, 1)
    clean = model(tokens)[0, -1]

    def add(act, hook):
        act[:, -1] += sae.W_dec[3].detach() / sae.scale_out
        return act

    edited = model.run_with_hooks(tokens, fwd_hooks=[(L.FINAL, add)])[0, -1]
    torch.testing.assert_close(L.feature_logit_effects(model, sae)[3], edited - clean, rtol=1e-4, atol=1e-4)
    resid = Dictionary(DictConfig(d_in=model.cfg.d_model, width=8, k=2, hook_in="blocks.1.hook_resid_post"))
    with pytest.raises(ValueError, match="pass scale="):
        L.feature_logit_effects(model, resid)
    direction = resid.W_dec.detach()
    torch.testing.assert_close(L.feature_logit_effects(model, resid, scale=2.0),
                               ((direction - direction.mean(-1, keepdim=True)) / 2.0 * model.ln_final.w) @ model.W_U)
    tc = Dictionary(DictConfig(d_in=model.cfg.d_model, width=8, k=2, d_out=model.cfg.d_model,
                               hook_in="blocks.0.ln2.hook_normalized", hook_out="blocks.0.hook_mlp_out"))
    with pytest.raises(ValueError, match="residual stream"):
        L.feature_logit_effects(model, tc)


# ---------------------------------------------------------------- paths from earlier layers


def _frozen_forward(model, tokens, layer, pos, delta, freeze_mlps):
    """Naive version of the frozen paths: a full hooked forward with clean patterns and scales patched in."""
    names = [n for n in model.hook_dict if n.endswith(("hook_pattern", "hook_scale")) or
             (freeze_mlps and n.endswith("hook_mlp_out"))]
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names + [L.FINAL])

    def edit(act, hook):
        act[:, pos] += delta
        return act

    seen = {}
    hooks = [(n, lambda act, hook: cache[hook.name]) for n in names]
    hooks += [(f"blocks.{layer}.hook_resid_post", edit), (L.FINAL, lambda act, hook: seen.setdefault("n", act))]
    model.run_with_hooks(tokens, fwd_hooks=hooks)
    return seen["n"][0] - cache[L.FINAL][0]

def test_path_effects_match_naive_frozen_forwards_and_the_real_ablation(model):
    tokens = _rows(model, 2)
    tokens[1, 3] = tokens[0, 5]
    gen = torch.Generator().manual_seed(0)
    deltas = torch.randn(3, model.cfg.d_model, generator=gen)
    rows, layers, positions = torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), torch.tensor([2, 4, 3])
    out = L.path_effects(model, tokens, rows, layers, positions, deltas, window=3)
    assert out.measured.shape == (3, 3, model.cfg.d_vocab)
    for b in range(3):
        r, l, p = rows[b].item(), layers[b].item(), positions[b].item()
        for path, freeze in (("attention", True), ("frozen", False)):
            naive = _frozen_forward(model, tokens[r: r + 1], l, p, deltas[b], freeze)[p: p + 3]
            torch.testing.assert_close(out.normalized[path][b], naive, rtol=1e-3, atol=1e-4)

        def edit(act, hook, b=b, p=p):
            act[:, p] += deltas[b]
            return act

        real = model.run_with_hooks(tokens[r: r + 1], fwd_hooks=[(f"blocks.{l}.hook_resid_post", edit)])[0]
        torch.testing.assert_close(out.measured[b], (real - model(tokens[r: r + 1])[0])[p: p + 3], rtol=1e-3, atol=1e-4)
    twice = L.path_effects(model, tokens, rows, layers, positions, 2 * deltas, window=3)
    torch.testing.assert_close(twice.normalized["attention"], 2 * out.normalized["attention"], rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(twice.normalized["direct"], 2 * out.normalized["direct"])


def test_path_effects_bad_input(model):
    tokens = _rows(model, 1)
    d = torch.zeros(1, model.cfg.d_model)
    with pytest.raises(ValueError, match="positions 1.."):
        L.path_effects(model, tokens, torch.tensor([0]), torch.tensor([0]), torch.tensor([tokens.shape[1] - 1]), d)
    with pytest.raises(ValueError, match="layers"):
        L.path_effects(model, tokens, torch.tensor([0]), torch.tensor([5]), torch.tensor([1]), d)
    with pytest.raises(ValueError, match="one row, layer"):
        L.path_effects(model, tokens, torch.tensor([0, 0]), torch.tensor([0]), torch.tensor([1]), d)


def test_dictionary_reading_and_correlation(model):
    sae = _final_sae(model)
    dn = torch.randn(2, 3, model.cfg.d_model, generator=torch.Generator().manual_seed(1))
    full = L.dictionary_reading(model, sae, dn)
    coef = (dn * sae.scale_in) @ sae.W_enc.detach().T
    torch.testing.assert_close(full, L.logit_effects(model, coef @ sae.W_dec.detach() / sae.scale_out))
    assert L.dictionary_reading(model, sae, dn, top=1).ne(0).any()
    assert L.dictionary_reading(model, sae, torch.zeros_like(dn), clean=dn).abs().max() == 0
    with pytest.raises(ValueError, match="pre-unembed basis"):
        L.dictionary_reading(model, Dictionary(DictConfig(d_in=model.cfg.d_model, width=8, k=2)), dn)
    shifted = 3 * full + torch.arange(3.0)[None, :, None]  # scaled, and each position shifted
    torch.testing.assert_close(L.vocab_correlation(shifted, full), torch.ones(2))


def test_occurrences_and_ablation_readings(model):
    from mi_widgets.dictionaries.feature_index import FeatureIndex

    tokens = model.to_tokens(["Once upon a time, a cat named Bolin found a red ball. The end."] * 4)
    acts = {l: model.run_with_cache(tokens)[1][f"blocks.{l}.hook_resid_post"][:, 1:].reshape(-1, model.cfg.d_model)
            for l in range(2)}
    saes = {l: Dictionary(DictConfig(d_in=model.cfg.d_model, width=32, k=4, hook_in=f"blocks.{l}.hook_resid_post"),
                          seed=l) for l in range(2)}
    parts = [L.sample_occurrences(FeatureIndex(saes[l], acts[l], tokens), l, 2, 2, window=3, seed=l, max_density=1.0)
             for l in range(2)]
    occ = L.Occurrences(*[torch.cat(x) for x in zip(*parts)])
    assert (occ.pos + 3 <= tokens.shape[1]).all() and (occ.act > 0).all()
    index = FeatureIndex(saes[0], acts[0], tokens)
    assert index.dense(int(occ.latent[0]))[occ.row[0] * (tokens.shape[1] - 1) + occ.pos[0] - 1] == occ.act[0]
    table = L.ablation_readings(model, saes, _final_sae(model), tokens, occ, window=3, top=4, chunk=3)
    assert len(table) == len(occ.act) * 7 and table[["own", "window"]].abs().le(1 + 1e-5).all().all()
    assert table[table.reading == "pre-unembed of measured"].own.notna().all()
    # The measured own-position change is the real ablation's, the same one the readings are scored on.
    measured = L.measured_ablations(model, saes, tokens, occ, chunk=3)
    first = L.path_effects(model, tokens, occ.row[:1], occ.layer[:1], occ.pos[:1], L.ablation_deltas(saes, occ)[:1], 1)
    torch.testing.assert_close(measured[0], first.measured[0, 0])
    with pytest.raises(ValueError, match="latents fire"):
        L.sample_occurrences(index, 0, 1000, 2)


def test_view_shows_kl_per_layer(model):
    html = logit_lens_view(model, "Once upon a time")._repr_html_()
    assert html.count(">KL<") == 1 and "mean divergence" in html


def test_a_model_with_its_layernorms_folded_reads_the_same(model):
    """Hub models load with fold_ln (TransformerLens's LNPre: no norm weights, folded into the next ones):
    every lens reading and path prediction must equal the unfolded model's."""
    import copy

    folded = copy.deepcopy(model)
    folded.process_weights_(fold_ln=True, center_writing_weights=False, center_unembed=False)
    assert folded.cfg.normalization_type == "LNPre" and not hasattr(folded.ln_final, "w")
    tokens = _rows(model, 2)
    stack = L._stack(model, tokens)
    for norm in ("recompute", "frozen"):
        torch.testing.assert_close(L.lens_logits(folded, stack, norm), L.lens_logits(model, stack, norm),
                                   rtol=1e-4, atol=1e-4)
    directions = torch.randn(3, model.cfg.d_model, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(L.logit_effects(folded, directions, 2.0), L.logit_effects(model, directions, 2.0),
                               rtol=1e-4, atol=1e-4)
    args = (tokens, torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 3]), directions[:2])
    a, b = L.path_effects(folded, *args, window=3), L.path_effects(model, *args, window=3)
    for path in a.normalized:
        torch.testing.assert_close(a.normalized[path], b.normalized[path], rtol=1e-3, atol=1e-4)


def test_a_model_with_rmsnorm_is_a_clear_error(model):
    import copy

    rms = copy.deepcopy(model)
    rms.cfg.normalization_type = "RMS"
    with pytest.raises(ValueError, match="written for LayerNorm.*uses 'RMS'"):
        L.logit_effects(rms, torch.ones(1, model.cfg.d_model), 1.0)


def test_nnsight_lens_equals_the_transformerlens_lens_on_the_hugging_face_export():
    from mi_widgets.models import load_model
    from mi_widgets.organisms.hf_export import language_model

    model, lm = load_model("stories-gelu-2l"), language_model("stories-gelu-2l")
    tokens = _rows(model, 2)
    torch.testing.assert_close(L.nnsight_lens_kl(lm, tokens), L.lens_kl(model, tokens)[1:], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="pos >= 2"):
        L.nnsight_lens_kl(lm, tokens[:, :1])


def test_nnsight_lens_on_an_unknown_layout_is_a_clear_error():
    from nnsight import NNsight

    with pytest.raises(ValueError, match="no logit lens for Sequential: its blocks are not under"):
        L.decoder_parts(NNsight(torch.nn.Sequential(torch.nn.Linear(2, 2))))


def test_remote_with_a_bundled_model_is_refused():
    from mi_widgets.models import ModelLoadError
    from mi_widgets.organisms.hf_export import language_model

    with pytest.raises(ModelLoadError, match="bundled model: it exists only on this machine"):
        language_model("stories-gelu-2l", remote=True)
