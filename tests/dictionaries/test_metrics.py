"""dictionaries.metrics: reconstruction statistics and splicing a dictionary in, against exact cases."""

import pytest
import torch

from mi_widgets.activations import harvest_activations
from mi_widgets.dictionaries.dictionary import DictConfig, Dictionary
from mi_widgets.dictionaries.metrics import reconstruction_stats, splice_stats

HOOKS = ["blocks.0.hook_resid_post", "blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out", "ln_final.hook_normalized"]


def test_splice_stats_identity_and_zero(tiny_model, tiny_tokens):
    """A dictionary that reconstructs exactly recovers all the loss; zero-ablation changes it."""
    acts = harvest_activations(tiny_model, HOOKS[0], tiny_tokens, progress=False)[HOOKS[0]]
    d = acts.shape[1]
    sae = Dictionary(DictConfig(d_in=d, width=d, k=d, hook_in=HOOKS[0]))
    with torch.no_grad():
        # Latent i is coordinate i shifted by 100: always positive, so all d survive top-k and ReLU,
        # and decoding adds b_dec = -100 back.
        sae.W_enc.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
        sae.b_enc.zero_()
        sae.b_dec.fill_(-100.0)
    stats = reconstruction_stats(sae, acts)
    assert stats.l0 == d and stats.dead_fraction == 0 and stats.fvu < 1e-6
    splice = splice_stats(tiny_model, sae, tiny_tokens, batch_size=4)
    assert abs(splice.loss_zero - splice.loss_clean) > 1e-3
    assert abs(splice.loss_recovered - 1) < 1e-3 and abs(splice.loss_recovered_mean - 1) < 1e-3
    assert abs(splice.loss_increase) < 1e-4 and abs(splice.relative_increase) < 1e-4


def test_transcoder_splice_replaces_mlp_output(tiny_model, tiny_tokens):
    """A transcoder that outputs zeros is exactly the zero-ablation of the MLP; its FVU is 1 against the mean."""
    hook_in, hook_out = HOOKS[1], HOOKS[2]
    tc = Dictionary(DictConfig(d_in=32, width=16, k=2, d_out=32, skip=True, hook_in=hook_in, hook_out=hook_out))
    with torch.no_grad():
        tc.W_dec.zero_()
    splice = splice_stats(tiny_model, tc, tiny_tokens, batch_size=5)
    assert splice.loss_spliced == pytest.approx(splice.loss_zero, abs=1e-6)
    acts = harvest_activations(tiny_model, [hook_in, hook_out], tiny_tokens, progress=False)
    with pytest.raises(ValueError, match="needs its targets"):
        reconstruction_stats(tc, acts[hook_in])
    stats = reconstruction_stats(tc, acts[hook_in], acts[hook_out])
    assert stats.fvu > 1.0  # zeros are worse than the mean


def test_mean_ablation_puts_the_sites_mean_at_every_position(tiny_model, tiny_tokens):
    """A dictionary that outputs the site's mean activation is exactly the mean ablation: loss recovered 0."""
    hook = HOOKS[0]
    acts = harvest_activations(tiny_model, hook, tiny_tokens, progress=False)[hook]  # BOS dropped, as in the mean
    sae = Dictionary(DictConfig(d_in=acts.shape[1], width=8, k=2, hook_in=hook))
    with torch.no_grad():
        sae.W_dec.zero_()
        sae.b_dec.copy_(acts.mean(0))
    splice = splice_stats(tiny_model, sae, tiny_tokens, batch_size=4)
    assert splice.loss_spliced == pytest.approx(splice.loss_mean, abs=1e-5)
    assert splice.loss_recovered_mean == pytest.approx(0.0, abs=1e-4)
    assert splice.loss_mean != pytest.approx(splice.loss_zero, abs=1e-3)  # a different baseline from zeros
    assert set(splice.as_dict()) >= {"loss_mean", "loss_recovered_mean", "relative_increase"}


def test_splicing_together_is_splicing_one_when_there_is_one():
    import mi_widgets as mw
    from mi_widgets.dictionaries.metrics import splice_stats, splice_stats_together
    from mi_widgets.organisms.corpus import story_rows

    model = mw.load_model("stories-gelu-4l")
    tokens = story_rows(model.tokenizer, 2, 64, seed=3, split="val")
    tcs = [mw.load_dictionary(f"mlp{layer}-tc") for layer in range(4)]
    one, alone = splice_stats_together(model, tcs[:1], tokens), splice_stats(model, tcs[0], tokens)
    assert one.loss_spliced == pytest.approx(alone.loss_spliced, abs=1e-5)
    assert one.loss_mean == pytest.approx(alone.loss_mean, abs=1e-5)
    four = splice_stats_together(model, tcs, tokens)
    # Four imperfect replacements at once cost more than one (a hook that replaced only the last would not).
    assert four.loss_spliced > one.loss_spliced and four.loss_zero > one.loss_zero
    with pytest.raises(ValueError, match="same hook"):
        splice_stats_together(model, [tcs[0], tcs[0]], tokens)
