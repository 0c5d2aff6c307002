"""Offline stand-ins for hub models: a local Hugging Face cache holding models with published configurations
and random weights from a fixed seed, so that ``load_model("tiny-stories-1M")`` goes through
TransformerLens's real ``from_pretrained`` path with the hub switched off.

    python tests/standins.py /tmp/hf-home        # then HF_HOME=/tmp/hf-home HF_HUB_OFFLINE=1 ...

Made at test time (``tests/conftest.py``), never committed. The weights are random: a notebook run on a
stand-in checks that the code path works, not what the model can do. The tokenizer is a byte-level BPE
trained on the book's generated stories and padded with unused entries to the model's vocabulary, with
``<|endoftext|>`` last (50,256 for TinyStories-1M, as in GPT-2); it is not GPT-2's own merges (those would
need the hub).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VOCAB = 50_257  # GPT-2's vocabulary, which TinyStories-1M uses
SHRUNK_VOCAB = 4_096  # the shrunk GPT-2's: every logit, lens and token-class step scales with it
EOS = "<|endoftext|>"
COMMIT = "0" * 40  # the snapshot's name in the cache; any 40 hex digits


def _configs() -> dict:
    from transformers import GPT2Config, GPTNeoConfig

    return {
        # TinyStories-1M's published configuration (roneneldan/TinyStories-1M): GPT-Neo, 8 layers of width 64
        # with 16 heads, alternating global and local attention (window 256).
        "roneneldan/TinyStories-1M": GPTNeoConfig(
            vocab_size=VOCAB, max_position_embeddings=2048, hidden_size=64, num_layers=8, num_heads=16,
            attention_types=[[["global", "local"], 4]], window_size=256, intermediate_size=None,
            activation_function="gelu_new", resid_dropout=0.0, embed_dropout=0.0, attention_dropout=0.0,
            bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1, architectures=["GPTNeoForCausalLM"]),
        # GPT-2's architecture under the name "gpt2", shrunk (2 layers of width 128, 4 heads, context 256, a
        # 4,096-token vocabulary) so that every notebook runs in smoke mode in seconds; gpt2-small itself
        # (124M parameters) would not. The full vocabulary is exercised by the TinyStories-1M stand-in.
        "gpt2": GPT2Config(vocab_size=SHRUNK_VOCAB, n_positions=256, n_ctx=256, n_embd=128, n_layer=2, n_head=4,
                           activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                           bos_token_id=SHRUNK_VOCAB - 1, eos_token_id=SHRUNK_VOCAB - 1,
                           architectures=["GPT2LMHeadModel"]),
    }


def _tokenizer(size: int):
    """A byte-level BPE of ``size`` ids, trained on generated stories (a fixed seed), EOS last."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from mi_widgets.organisms.stories import generate_stories

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=4000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    trained.train_from_iterator((s.text for s in generate_stories(400, seed=7, split="train")), trainer)
    state = json.loads(trained.to_str())["model"]
    vocab = dict(state["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["merges"]]
    for i in range(len(vocab), size - 1):  # ids no merge produces: the vocabulary reaches the model's size
        vocab[f"<unused{i}>"] = i
    vocab[EOS] = size - 1
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.add_special_tokens([EOS])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, unk_token=EOS,
                                   model_max_length=2048)


def make_hf_home(root: Path, seed: int = 0) -> Path:
    """Write the stand-ins into ``root/hub`` as a Hugging Face cache (refs/main -> snapshot); returns ``root``."""
    import torch
    from transformers import AutoModelForCausalLM

    root = Path(root)
    for repo, config in _configs().items():
        folder = root / "hub" / ("models--" + repo.replace("/", "--"))
        snapshot = folder / "snapshots" / COMMIT
        if (snapshot / "model.safetensors").exists():
            continue
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
        snapshot.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(snapshot, safe_serialization=True)
        _tokenizer(config.vocab_size).save_pretrained(snapshot)
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(COMMIT)
    return root


STANDINS = ("tiny-stories-1M", "gpt2")
"""The TransformerLens names the stand-ins answer to."""


if __name__ == "__main__":
    print(make_hf_home(Path(sys.argv[1])))
