"""Training options, apart from the loop so the command line can list them without importing torch's stack."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TokswapError


@dataclass
class TrainOptions:
    """How to train; `steps` counts from the start of the run, `minutes` is this invocation's budget."""

    steps: int | None = None
    minutes: float | None = None
    device: str | None = None
    seed: int = 0
    batch_size: int = 4
    seq_len: int = 128
    vocab_min: int = 1000
    vocab_max: int = 8000
    recent_steps: int = 32
    negatives: int = 1024
    full_vocab: int = 262144
    lr: float = 1e-3
    warmup: int = 20
    weight_decay: float = 0.01
    clip: float = 1.0
    aux_weight: float = 1.0
    aux_tokens: int = 256
    save_every: int = 50
    width: int = 256
    layers: int = 2
    heads: int = 4
    ffn: int = 512
    max_pieces: int = 8

    def check(self) -> None:
        if (self.steps is None) == (self.minutes is None):
            raise TokswapError("give exactly one of --steps N or --minutes M")
        if (self.steps is not None and self.steps < 1) or (self.minutes is not None and self.minutes <= 0):
            raise TokswapError("--steps and --minutes must be positive")
        if not 257 <= self.vocab_min <= self.vocab_max:
            raise TokswapError("sampled vocabularies need 257 <= vocab min <= vocab max (256 byte tokens come first)")
        if self.negatives < 0 or self.full_vocab < self.vocab_max:
            raise TokswapError("negatives must be >= 0 and the full vocabulary at least vocab max")
        if min(self.batch_size, self.seq_len, self.recent_steps, self.save_every, self.max_pieces, self.layers) < 1:
            raise TokswapError("batch size, sequence length, recent steps, save interval, max pieces and layers must be >= 1")
        if self.width % self.heads:
            raise TokswapError("hypernetwork width must be a multiple of its heads")
