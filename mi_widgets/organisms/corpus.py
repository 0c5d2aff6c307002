"""From generated stories to tokens: the BPE tokenizer, packed training rows, and labelled token positions.

The stories come from `organisms.stories`. The tokenizer is byte-level BPE trained on them with the
`tokenizers` library; ``<|endoftext|>`` is both the story separator and the BOS token. `capability_tokens` maps a story's
capability labels onto token positions. Introduced in ``notebooks/01_models/01_models.ipynb``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Int

from mi_widgets.models import BOS_TOKEN, data_dir, load_tokenizer, save_tokenizer
from mi_widgets.organisms.stories import Story, generate_stories
from mi_widgets.progress import progress_bar


def tokenizer_dir() -> Path:
    """Where the bundled tokenizer lives: ``data/tokenizer``."""
    return data_dir() / "tokenizer"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, folder: Path | None = None):
    """Train byte-level BPE on ``texts`` and save it as a Hugging Face fast tokenizer in ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS_TOKEN], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(texts, trainer)
    return save_tokenizer(bpe, folder or tokenizer_dir())


def story_tokens(tokenizer, n_tokens: int, *, seed: int, split: str = "train",
                 batch: int = 256) -> Int[np.ndarray, "n_tokens"]:
    """The first ``n_tokens`` tokens of the story stream: BOS, story, BOS, story, ... (int32)."""
    texts = (s.text for s in generate_stories(seed=seed, split=split))
    return text_tokens(tokenizer, texts, n_tokens, desc=f"tokenizing {split} stories", batch=batch)


def text_tokens(tokenizer, texts: Iterator[str], n_tokens: int, *, desc: str = "tokenizing",
                batch: int = 256) -> Int[np.ndarray, "n_tokens"]:
    """The first ``n_tokens`` tokens of an endless stream of texts, each after a BOS token (int32)."""
    out = np.empty(n_tokens, dtype=np.int32)
    bos = tokenizer.bos_token_id
    filled = 0
    with progress_bar(total=n_tokens, desc=desc, unit="tok", leave=False) as bar:
        while filled < n_tokens:
            chunk = list(islice(texts, batch))
            if not chunk:
                raise ValueError(f"the texts ran out after {filled} of {n_tokens} tokens")
            for ids in tokenizer(chunk, add_special_tokens=False)["input_ids"]:
                piece = [bos, *ids][: n_tokens - filled]
                out[filled: filled + len(piece)] = piece
                filled += len(piece)
                if filled == n_tokens:
                    break
            bar.update(min(filled, n_tokens) - bar.n)
    return out


ROW_TOKENS = 256
"""Tokens per row of the notebooks' data: the bundled models' context, and a cap for hub models with longer ones."""


def row_length(model) -> int:
    """The row length the notebooks use for ``model``: its context, at most `ROW_TOKENS` (256).

        story_rows(model.tokenizer, 8, row_length(model), seed=0)   # 8 rows of 256 tokens for tiny-stories-1M too
    """
    return min(model.cfg.n_ctx, ROW_TOKENS)


def story_rows(tokenizer, n_rows: int, n_ctx: int, *, seed: int, split: str = "val") -> Int[torch.Tensor, "n_rows n_ctx"]:
    """``n_rows`` consecutive rows of ``n_ctx`` tokens from the story stream, each starting with BOS.

    The notebooks' data: harvest activations from ``split="train"`` stories and evaluate on ``"val"``.
    """
    if n_rows <= 0 or n_ctx < 2:
        raise ValueError(f"need n_rows >= 1 and n_ctx >= 2, got {n_rows} and {n_ctx}")
    stream = story_tokens(tokenizer, n_rows * (n_ctx - 1), seed=seed, split=split)
    rows = np.empty((n_rows, n_ctx), dtype=np.int64)
    rows[:, 0] = tokenizer.bos_token_id
    rows[:, 1:] = stream.reshape(n_rows, n_ctx - 1)
    return torch.from_numpy(rows)


@dataclass
class RowSampler:
    """Random training rows of ``n_ctx`` tokens cut from a token array, each starting with BOS.

    A fraction ``repeat_frac`` of rows are, after BOS, a span of random tokens (8 to a third of the
    row) tiled to fill the row: every copy after the first can only be predicted by copying from the
    copy before, which is what induction heads do (see `mi_widgets.organisms.model_training.TrainConfig`).
    """

    tokens: np.ndarray
    n_ctx: int
    bos: int
    d_vocab: int
    repeat_frac: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if len(self.tokens) <= self.n_ctx:
            raise ValueError(f"need more than n_ctx={self.n_ctx} tokens, got {len(self.tokens)}")
        if not 0 <= self.repeat_frac <= 1:
            raise ValueError(f"repeat_frac must be in [0, 1], got {self.repeat_frac}")
        self.rng = np.random.default_rng(self.seed)

    def batch(self, batch_size: int, repeat_frac: float | None = None,
              n_ctx: int | None = None) -> Int[torch.Tensor, "batch n_ctx"]:
        """``batch_size`` rows; ``repeat_frac`` overrides the share of repeat rows, ``n_ctx`` the row length."""
        frac = self.repeat_frac if repeat_frac is None else repeat_frac
        n_ctx = n_ctx or self.n_ctx
        starts = self.rng.integers(0, len(self.tokens) - n_ctx, size=batch_size)
        rows = np.stack([self.tokens[s: s + n_ctx] for s in starts])  # [batch, n_ctx]
        rows[:, 0] = self.bos
        for row in np.flatnonzero(self.rng.random(batch_size) < frac):
            length = int(self.rng.integers(8, max(9, n_ctx // 3 + 1)))
            span = self.rng.integers(0, self.d_vocab - 1, size=length)
            span[span >= self.bos] += 1  # never BOS
            rows[row, 1:] = np.tile(span, n_ctx // length + 1)[: n_ctx - 1]
        return torch.from_numpy(rows.astype(np.int64))


def load_bundled_tokenizer():
    """The tokenizer every bundled model shares (``data/tokenizer``)."""
    return load_tokenizer(tokenizer_dir())


def capability_tokens(tokenizer, story: Story) -> tuple[list[int], list[tuple[str, int]]]:
    """The story's tokens (BOS first) and (capability, position) for each labelled token."""
    enc = tokenizer(story.text, add_special_tokens=False, return_offsets_mapping=True)
    ids = [tokenizer.bos_token_id, *enc["input_ids"]]
    marks = []
    for label in story.labels:
        for pos, (a, b) in enumerate(enc["offset_mapping"], start=1):
            if a < label.end and b > label.start:
                marks.append((label.capability, pos))
    return ids, marks
