"""Options of `omp`, apart from the method so the command line can check them before anything loads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import TokswapError
from ..methods import MethodOptions
from ..options import option

ANCHORS = ("subword", "mean")


@dataclass
class OmpOptions(MethodOptions):
    name: ClassVar[str] = "omp"
    uses_donor: ClassVar[bool] = True
    implementation: ClassVar[str] = "tokswap.omp.method:Omp"

    k: int = option(64, "atoms per token")
    candidates: int = option(64, "atoms preselected per token and round, by |similarity|")
    probes: int | None = option(
        None,
        "search a faiss inverted-file index, visiting this many lists per token, instead of scoring every shared token (default and 0: every one)",
        parse=lambda text: int(text) or None,
    )
    rounds: int = option(1, "candidate searches per token, each further one from the residual")
    ridge: float = option(0.01, "ridge penalty of the final fit on unit atoms, 0 = least squares")
    batch_size: int = option(1024, "tokens per batch")
    anchor: str = option("subword", "what the sparse code corrects", choices=ANCHORS)
    calibrate: bool = option(True, "keep the raw transferred correction length")
    gate: bool = option(True, "do not scale corrections by the share of the donor's the code explains")
    prior: bool = option(True, "keep the transferred rows' output prior instead of reading it from the donor")

    def check(self) -> None:
        if self.anchor not in ANCHORS:
            raise TokswapError(f"omp anchor must be one of {', '.join(ANCHORS)}")
        if self.k < 1 or self.candidates < self.k or self.batch_size < 1 or self.rounds < 1 or self.ridge < 0 or (self.probes is not None and self.probes < 1):
            raise TokswapError("omp needs k >= 1, candidates >= k, probes >= 1, rounds >= 1, ridge >= 0 and batch size >= 1")
