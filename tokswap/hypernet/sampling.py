"""Training data for the hypernetwork: text windows from a folder, and a fresh tokenizer for every step.

Each step's text is a pure function of (seed, step, process), so a resumed run sees exactly the text an
uninterrupted one would, and `accelerate launch` processes see different text. The step's tokenizer is a
byte-level BPE trained with the `tokenizers` library on the text of the steps just before it, with a
vocabulary size drawn at random: fitted to so little text it has many long, text-specific tokens the
source model does not have, which is what the hypernetwork must learn to embed (ZeTT samples tokenizers
the same way, from substring frequencies of recent batches).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers.convert_slow_tokenizer import bytes_to_unicode

from ..errors import TokswapError
from ..texts import draw_windows

_CHAR_TO_BYTE = {c: b for b, c in bytes_to_unicode().items()}


class Corpus:
    """Every `.txt` file under a folder; windows are drawn file first, so each file (domain) weighs the same."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        files = sorted(folder.rglob("*.txt")) if folder.is_dir() else []
        self.texts = [text for text in (f.read_text(encoding="utf-8", errors="replace") for f in files) if text.strip()]
        if not self.texts:
            raise TokswapError(f"{folder}: no .txt files with text to train on")

    def windows(self, rng: random.Random, count: int, chars: int) -> list[str]:
        return draw_windows(self.texts, rng, count, chars)


@dataclass
class SampledTokenizer:
    """A step's tokenizer: its tokens as bytes and an encoder for the step's text."""

    tokenizer: Tokenizer
    token_bytes: list[bytes]

    def encode(self, texts: list[str], length: int) -> list[list[int]]:
        """The first `length` token ids of each text (fewer when a text is shorter)."""
        return [enc.ids[:length] for enc in self.tokenizer.encode_batch(texts)]


def sample_tokenizer(texts: list[str], vocab_size: int) -> SampledTokenizer:
    """A byte-level BPE fitted to `texts`; every byte is a token, so any text can be encoded."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer)
    vocab = tokenizer.get_vocab()
    token_bytes: list[bytes] = [b""] * len(vocab)
    for text, idx in vocab.items():
        token_bytes[idx] = bytes(_CHAR_TO_BYTE[c] for c in text)
    return SampledTokenizer(tokenizer, token_bytes)
