"""Options of the `hypernet` method and of `tokswap hypernet train`, apart from the network and the loop so
the command line can list and check them without importing torch's stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import TokswapError
from ..methods import MethodOptions
from ..options import LoopOptions, option


@dataclass
class HypernetOptions(MethodOptions):
    name: ClassVar[str] = "hypernet"
    implementation: ClassVar[str] = "tokswap.hypernet.method:HypernetMethod"

    hypernet: str | None = option(None, "a hypernetwork trained for MODEL with `tokswap hypernet train`", metavar="DIR")
    batch_size: int = option(4096, "tokens per batch")

    def check(self) -> None:
        if self.hypernet is None:
            raise TokswapError("method 'hypernet' needs --hypernet DIR (train one with `tokswap hypernet train`)")
        if self.batch_size < 1:
            raise TokswapError("hypernet batch size must be >= 1")


@dataclass
class TrainOptions(LoopOptions):
    """How to train; `steps` counts from the start of the run, `minutes` is this invocation's budget."""

    batch_size: int = option(4, "text windows per step")
    seq_len: int = option(128, "tokens per window")
    vocab_min: int = option(1000, "smallest sampled vocabulary")
    vocab_max: int = option(8000, "largest sampled vocabulary")
    recent_steps: int = option(32, "steps of earlier text each step's tokenizer is fitted to")
    negatives: int = option(1024, "new tokens of a larger vocabulary added to each step's softmax")
    full_vocab: int = option(262144, "size of the target vocabulary the negatives stand for")
    weight_decay: float = option(0.01, "AdamW weight decay")
    aux_weight: float = option(1.0, "weight of the squared error to the source rows of source tokens")
    aux_tokens: int = option(256, "source tokens per step in that error")
    width: int = option(256, "hypernetwork width")
    layers: int = option(2, "transformer layers")
    heads: int = option(4, "attention heads")
    ffn: int = option(512, "feed-forward width")
    max_pieces: int = option(8, "source pieces read per token")

    def check(self) -> None:
        super().check()
        if not 257 <= self.vocab_min <= self.vocab_max:
            raise TokswapError("sampled vocabularies need 257 <= vocab min <= vocab max (256 byte tokens come first)")
        if self.negatives < 0 or self.full_vocab < self.vocab_max:
            raise TokswapError("negatives must be >= 0 and the full vocabulary at least vocab max")
        if min(self.batch_size, self.seq_len, self.recent_steps, self.max_pieces, self.layers) < 1:
            raise TokswapError("batch size, sequence length, recent steps, max pieces and layers must be >= 1")
        if self.width % self.heads:
            raise TokswapError("hypernetwork width must be a multiple of its heads")
