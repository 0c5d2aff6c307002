"""Training rows and the training loop's bookkeeping (a few steps on a tiny model)."""

import numpy as np
import pytest
import torch
from conftest import make_tiny_model

from mi_widgets.organisms.corpus import RowSampler
from mi_widgets.organisms.model_training import TrainConfig, lr_at, tokens_after, train


def test_repeat_rows_are_tiled_random_spans():
    sampler = RowSampler(np.arange(5, 1000, dtype=np.int32) % 250, n_ctx=64, bos=0, d_vocab=250, seed=0)
    rows = sampler.batch(8, repeat_frac=1.0, n_ctx=40)
    assert rows.shape == (8, 40) and (rows[:, 0] == 0).all() and (rows[:, 1:] != 0).all()
    for row in rows[:, 1:].numpy():  # spans are 8 to 13 tokens (a third of the row)
        assert any((row[p:] == row[:-p]).all() for p in range(8, 14))
    stories = sampler.batch(4, repeat_frac=0.0)
    assert stories.shape == (4, 64) and (stories[:, 0] == 0).all()


def test_same_seed_same_rows():
    tokens = np.arange(2000, dtype=np.int32) % 250
    a = RowSampler(tokens, 32, 0, 250, seed=3).batch(4, repeat_frac=0.5)
    b = RowSampler(tokens, 32, 0, 250, seed=3).batch(4, repeat_frac=0.5)
    assert torch.equal(a, b)


def _tiny_setup(tmp_path):
    """A tiny attention-only model and a sampler of its rows; returns (model, sampler, n_ctx)."""
    model = make_tiny_model(tmp_path, attn_only=True)
    n_ctx, vocab = model.cfg.n_ctx, model.cfg.d_vocab
    return model, RowSampler(np.arange(5000, dtype=np.int32) % (vocab - 1) + 1, n_ctx, 0, vocab, seed=0), n_ctx


def test_train_counts_tokens_of_both_phases(tmp_path):
    model, sampler, n_ctx = _tiny_setup(tmp_path)
    cfg = TrainConfig(tokens=2 * 4 * n_ctx, batch_size=4, induction_warmup_steps=3, repeat_rows=6,
                      repeat_row_len=16, repeat_rows_with_stories=2, eval_every=2, warmup_steps=2)
    val = sampler.batch(4, repeat_frac=0.0)
    log = train(model, sampler, val, cfg)
    assert log.steps == [0, 1, 2, 3, 4]
    assert log.tokens_seen == 3 * 6 * 16 + 2 * (4 + 2) * n_ctx == tokens_after(5, cfg, n_ctx)
    assert tokens_after(2, cfg.__dict__, n_ctx) == 2 * 6 * 16
    assert log.eval_steps == [0, 2, 4] and len(log.val_loss) == 3
    assert all(np.isfinite(log.train_loss))


def test_on_step_sees_every_step_after_its_update(tmp_path):
    model, sampler, n_ctx = _tiny_setup(tmp_path)
    cfg = TrainConfig(tokens=3 * 2 * n_ctx, batch_size=2, induction_warmup_steps=2, repeat_rows=2, repeat_row_len=16,
                      repeat_rows_with_stories=0, induction_target=0.0, eval_every=10, warmup_steps=1)
    seen = []
    train(model, sampler, sampler.batch(2, repeat_frac=0.0), cfg,
          on_step=lambda step, m: seen.append((step, m.embed.W_E.detach().clone())))
    assert [s for s, _ in seen] == [1, 2, 3, 4, 5]  # steps done: warm-up and story steps alike
    assert not torch.equal(seen[0][1], seen[-1][1])  # called after the optimizer moved the weights


def test_drill_rows_are_counted_and_required(tmp_path):
    model, sampler, n_ctx = _tiny_setup(tmp_path)
    cfg = TrainConfig(tokens=2 * 4 * n_ctx, batch_size=4, induction_warmup_steps=0, repeat_rows_with_stories=1,
                      ioi_rows=3, eval_every=5, warmup_steps=1, cooldown_frac=0.5)
    with pytest.raises(ValueError, match="drills"):
        train(model, sampler, sampler.batch(2, repeat_frac=0.0), cfg)
    log = train(model, sampler, sampler.batch(2, repeat_frac=0.0), cfg, drills=sampler)
    assert log.tokens_seen == 2 * (4 + 1 + 3) * n_ctx == tokens_after(2, cfg, n_ctx)
    # A drill phase between the warm-ups and the stories: repeat_rows drill rows of repeat_row_len tokens.
    cfg = TrainConfig(tokens=2 * 4 * n_ctx, batch_size=4, induction_warmup_steps=0, repeat_rows_with_stories=1,
                      ioi_rows=3, ioi_warmup_steps=2, repeat_rows=5, repeat_row_len=16, eval_every=5, warmup_steps=1)
    log = train(model, sampler, sampler.batch(2, repeat_frac=0.0), cfg, drills=sampler)
    assert log.steps == [0, 1, 2, 3]
    assert log.tokens_seen == 2 * (5 * 16 + n_ctx) + 2 * (4 + 1 + 3) * n_ctx == tokens_after(4, cfg, n_ctx)


def test_template_drills_feed_the_first_drill_steps_only(tmp_path):
    model, sampler, n_ctx = _tiny_setup(tmp_path)
    calls = {"drills": 0, "template_drills": 0}

    class Counted:
        def __init__(self, name):
            self.name = name

        def batch(self, *args, **kwargs):
            calls[self.name] += 1
            return sampler.batch(*args, **kwargs)

    cfg = TrainConfig(tokens=2 * 4 * n_ctx, batch_size=4, induction_warmup_steps=0, repeat_rows_with_stories=1,
                      ioi_rows=3, ioi_warmup_steps=3, ioi_template_steps=2, repeat_rows=5, repeat_row_len=16,
                      eval_every=5, warmup_steps=1)
    with pytest.raises(ValueError, match="template_drills"):
        train(model, sampler, sampler.batch(2, repeat_frac=0.0), cfg, drills=sampler)
    train(model, sampler, sampler.batch(2, repeat_frac=0.0), cfg, drills=Counted("drills"),
          template_drills=Counted("template_drills"))
    assert calls == {"template_drills": 2, "drills": 1 + 2}  # 2 template steps; 1 drill step, 2 story steps


def test_cooldown_decays_to_a_tenth():
    cfg = TrainConfig(lr=1e-3, warmup_steps=1, cooldown_frac=0.2)
    assert lr_at(50, cfg, steps_left=20, cooldown_steps=20) == pytest.approx(1e-3)
    assert lr_at(60, cfg, steps_left=10, cooldown_steps=20) == pytest.approx(0.55e-3)
    assert lr_at(70, cfg, steps_left=0, cooldown_steps=20) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="cooldown"):
        TrainConfig(cooldown_frac=1.0)


def test_lr_warms_up_then_stays_constant():
    cfg = TrainConfig(lr=1e-3, warmup_steps=10)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == lr_at(5000, cfg) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=2.0)


def test_attention_only_warmup_leaves_mlps_untouched(tmp_path):
    model = make_tiny_model(tmp_path, attn_only=False)
    n_ctx, vocab = model.cfg.n_ctx, model.cfg.d_vocab
    sampler = RowSampler(np.arange(5000, dtype=np.int32) % (vocab - 1) + 1, n_ctx, 0, vocab, seed=0)
    mlp_before = model.blocks[0].mlp.W_in.detach().clone()
    attn_before = [model.blocks[layer].attn.W_Q.detach().clone() for layer in (0, 1)]
    cfg = TrainConfig(tokens=1, batch_size=2, induction_warmup_steps=3, repeat_rows=4, repeat_row_len=16,
                      eval_every=10, warmup_layers=1, induction_target=0)
    log = train(model, sampler, sampler.batch(2, repeat_frac=0.0), cfg)  # 3 warm-up steps, no story step
    assert log.warmup_steps == 3
    assert torch.equal(model.blocks[0].mlp.W_in, mlp_before)
    assert not torch.equal(model.blocks[0].attn.W_Q, attn_before[0])
    assert torch.equal(model.blocks[1].attn.W_Q, attn_before[1])  # only the first block trains


def test_text_tokens_packs_texts_after_bos():
    from mi_widgets.organisms.corpus import load_bundled_tokenizer, text_tokens

    tok = load_bundled_tokenizer()
    tokens = text_tokens(tok, iter(["Once upon a time.", "The end."] * 50), 20)
    assert tokens[0] == tok.bos_token_id and tok.decode(tokens[1:6]) == "Once upon a time."
    with pytest.raises(ValueError, match="ran out after"):
        text_tokens(tok, iter(["Once upon a time."]), 100)
