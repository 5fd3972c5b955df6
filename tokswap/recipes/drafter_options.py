"""Options of `tokswap drafter`, apart from the stages so the command line checks them without torch."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TokswapError
from ..options import GGUF_TYPES, Options, option

TAIL_SHARE = 0.04  # of --minutes kept for export and the hot vocabulary (0.1 and 0.7 min for Gemma-3-270M)
MIN_TRAINING_MINUTES = 0.5  # when measurement takes the whole budget


@dataclass
class DrafterOptions(Options):
    minutes: float = option(30.0, "the whole run's budget (transplant, training, export, measurement); training takes what the other stages leave", metavar="M")
    method: str = option("subword", "how the transplant initialises new rows (see transplant)")
    gguf: str | None = option(None, "also write the GGUF llama.cpp drafts with, of this weight type (default q8_0 when TARGET is a GGUF)", choices=GGUF_TYPES)
    hot_vocab: int | None = option(None, "also write draft_vocab.safetensors: the N target tokens the drafter may propose", metavar="N")
    draft_tokens: int = option(5, "tokens drafted per target call when measuring", metavar="N")
    measure_tokens: int = option(48, "tokens decoded per held-out prompt when measuring", metavar="N")

    def check(self) -> None:
        if not self.minutes > 0:
            raise TokswapError("--minutes must be positive")
        if self.hot_vocab is not None and self.hot_vocab < 1:
            raise TokswapError("--hot-vocab must be >= 1")
        if min(self.draft_tokens, self.measure_tokens) < 1:
            raise TokswapError("--draft-tokens and --measure-tokens must be >= 1")
