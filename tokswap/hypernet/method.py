"""`hypernet`: new rows predicted by a hypernetwork trained with `tokswap hypernet train` for this source model.

The network reads each token's source pieces (input and, for untied models, output rows); tokens are
predicted in batches of similar piece counts, so padding costs little even for 262k-token vocabularies.
"""

from __future__ import annotations

import math

import torch

from ..checkpoint import Embeddings
from ..errors import TokswapError
from ..methods import FillRequest
from .model import Hypernet, fingerprint, load_hypernet, predict
from .options import HypernetOptions


class HypernetMethod(HypernetOptions):
    def _check_source(self, net: Hypernet, source: Embeddings) -> None:
        """Refuse source matrices other than the ones the network was trained on."""
        config = net.config
        if source.tied != config.tied:
            raise TokswapError(f"hypernetwork {self.hypernet} was trained for a {'tied' if config.tied else 'untied'} model; this source is not")
        for kind in config.kinds:
            matrix = source.matrix(kind)
            if tuple(matrix.shape) != (config.source_rows, config.hidden) or not math.isclose(fingerprint(matrix), config.fingerprints[kind], rel_tol=1e-4):
                raise TokswapError(f"hypernetwork {self.hypernet} was trained for {config.source}, not for this source model")

    def fill(self, request: FillRequest) -> Embeddings:
        net = load_hypernet(self.hypernet)
        self._check_source(net, request.source)
        pieces = request.pieces
        device = torch.device(request.device)
        net.to(device)
        on_device = request.source.map(lambda matrix: matrix.to(device))
        result = request.source.map(lambda matrix: matrix.new_empty(len(pieces), matrix.shape[1]))
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                rows = predict(net, on_device, [pieces[i] for i in chunk])
                positions = torch.tensor(chunk, dtype=torch.long)
                for kind in result.kinds:
                    result.matrix(kind)[positions] = rows.matrix(kind).float().cpu()
        return result
