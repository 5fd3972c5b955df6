"""`hypernet`: new rows predicted by a hypernetwork trained with `tokswap hypernet train` for this source model.

The network reads each token's source pieces (input and, for untied models, output rows); tokens are
predicted in batches of similar piece counts, so padding costs little even for 262k-token vocabularies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ..errors import TokswapError
from ..methods import FillRequest
from .model import Hypernet, fingerprint, load_hypernet, predict


@dataclass
class HypernetMethod:
    name: ClassVar[str] = "hypernet"
    uses_donor: ClassVar[bool] = False

    hypernet: str | None = None
    batch_size: int = 4096
    _net: Hypernet | None = field(default=None, init=False, repr=False)

    def _load(self) -> Hypernet:
        if self.hypernet is None:
            raise TokswapError("method 'hypernet' needs --hypernet DIR (train one with `tokswap hypernet train`)")
        if self.batch_size < 1:
            raise TokswapError("hypernet batch size must be >= 1")
        if self._net is None:
            self._net = load_hypernet(self.hypernet)
        return self._net

    def _matrices(self, net: Hypernet, request: FillRequest) -> dict[str, torch.Tensor]:
        """The source matrices the network reads, after checking they are the ones it was trained on."""
        config = net.config
        source = request.source
        matrices = {"input": source.input, "output": source.output} if source is not None else {request.kind: request.matrix}
        if source is not None and (source.output is None) != config.tied:
            raise TokswapError(f"hypernetwork {self.hypernet} was trained for a {'tied' if config.tied else 'untied'} model; this source is not")
        for kind in config.kinds:
            matrix = matrices.get(kind)
            if matrix is None:
                raise TokswapError(f"hypernetwork {self.hypernet} reads the source's {kind} embeddings, which were not given")
            if tuple(matrix.shape) != (config.source_rows, config.hidden) or not math.isclose(fingerprint(matrix), config.fingerprints[kind], rel_tol=1e-4):
                raise TokswapError(f"hypernetwork {self.hypernet} was trained for {config.source}, not for this source model")
        return {kind: matrices[kind] for kind in config.kinds}

    def fill(self, request: FillRequest) -> torch.Tensor:
        net = self._load()
        matrices = self._matrices(net, request)
        head = "input" if net.config.tied else request.kind
        pieces = [request.plan.source_pieces[row] for row in request.rows]
        device = torch.device(request.device)
        net.to(device)
        on_device = {kind: m.to(device) for kind, m in matrices.items()}
        result = request.matrix.new_empty(len(pieces), request.matrix.shape[1])
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                rows = predict(net, on_device, [pieces[i] for i in chunk])[head]
                result[torch.tensor(chunk, dtype=torch.long)] = rows.float().cpu()
        return result
