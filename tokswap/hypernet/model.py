"""The hypernetwork: a small transformer encoder that reads a token's source pieces and predicts its rows.

Residual form (ZeTT, Minixhofer et al. 2024): prediction = mean of the piece rows (`subword`) + scale ×
network output. The output layers start at zero, so an untrained hypernetwork is exactly `subword`, and
training only has to learn what spelling alone gets wrong. `scale` is the RMS entry of the source matrix,
so the network works in unit-sized numbers whatever the source model's embedding scale.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..checkpoint import Embeddings
from ..errors import TokswapError
from ..pieces import piece_means
from ..safetensors_io import read_header

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class HypernetConfig:
    """Everything needed to rebuild the network and to check it is applied to the model it was trained for."""

    source: str
    source_rows: int
    hidden: int
    tied: bool
    scales: dict[str, float]
    fingerprints: dict[str, float]
    width: int = 256
    layers: int = 2
    heads: int = 4
    ffn: int = 512
    max_pieces: int = 8
    format: str = field(default="tokswap-hypernet-1")

    @property
    def kinds(self) -> tuple[str, ...]:
        return ("input",) if self.tied else ("input", "output")

    def save(self, folder: Path) -> None:
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> HypernetConfig:
        try:
            data = json.loads((folder / CONFIG_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise TokswapError(f"{folder} is not a tokswap hypernetwork ({CONFIG_FILE}: {exc})") from None
        if data.get("format") != "tokswap-hypernet-1":
            raise TokswapError(f"{folder} is not a tokswap hypernetwork (unknown format {data.get('format')!r})")
        return cls(**data)


def fingerprint(matrix: torch.Tensor) -> float:
    """A cheap checksum of a source matrix, to refuse a hypernetwork trained for another model."""
    return matrix[:4096].double().abs().mean().item()


def describe_source(source: str, matrices: Embeddings, **sizes) -> HypernetConfig:
    """A config for the embedding matrices of the model `source`."""
    return HypernetConfig(
        source=source,
        source_rows=matrices.rows,
        hidden=matrices.input.shape[1],
        tied=matrices.tied,
        scales={kind: matrices.matrix(kind).pow(2).mean().sqrt().item() for kind in matrices.kinds},
        fingerprints={kind: fingerprint(matrices.matrix(kind)) for kind in matrices.kinds},
        **sizes,
    )


class Hypernet(nn.Module):
    """Pieces (their input and, when untied, output rows, concatenated) → one residual row per head."""

    def __init__(self, config: HypernetConfig):
        super().__init__()
        self.config = config
        features = config.hidden * len(config.kinds)
        self.project = nn.Linear(features, config.width)
        self.position = nn.Embedding(config.max_pieces, config.width)
        layer = nn.TransformerEncoderLayer(config.width, config.heads, config.ffn, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.width)
        self.heads = nn.ModuleDict({kind: nn.Linear(config.width, config.hidden) for kind in config.kinds})
        for head in self.heads.values():
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """features (N, L, F) in units of each matrix's scale, mask (N, L) True on real pieces."""
        positions = torch.arange(features.shape[1], device=features.device)
        x = self.project(features) + self.position(positions)
        x = self.encoder(x, src_key_padding_mask=~mask)
        weights = mask.unsqueeze(-1).to(x.dtype)
        pooled = self.norm((x * weights).sum(1) / weights.sum(1).clamp_min(1))
        return {kind: head(pooled) for kind, head in self.heads.items()}


def padded_pieces(pieces: list[list[int]], cap: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Piece ids (N, L) cut to the first `cap` pieces and right-padded with 0, and the mask of real pieces."""
    width = max(1, min(cap, max((len(p) for p in pieces), default=1)))
    ids = torch.zeros(len(pieces), width, dtype=torch.long)
    mask = torch.zeros(len(pieces), width, dtype=torch.bool)
    for i, ps in enumerate(pieces):
        ps = ps[:cap]
        ids[i, : len(ps)] = torch.tensor(ps, dtype=torch.long)
        mask[i, : len(ps)] = True
    return ids.to(device), mask.to(device)


def predict(net: nn.Module, matrices: Embeddings, pieces: list[list[int]], bases: Embeddings | None = None, config: HypernetConfig | None = None) -> Embeddings:
    """Rows for tokens spelled by `pieces`, one matrix per head: the subword mean plus the scaled network residual.

    Tokens with no pieces (bytes the source cannot spell) keep the subword fallback, the matrix mean.
    `bases` may pass precomputed subword means (on the CPU, where `piece_means` works); `config` is needed
    when `net` is wrapped (distributed training) and has none of its own.
    """
    config = config or net.config
    device = matrices.input.device
    if bases is None:
        bases = matrices.map(lambda matrix: piece_means(matrix.cpu(), pieces))
    ids, mask = padded_pieces(pieces, config.max_pieces, device)
    features = torch.cat([matrices.matrix(kind)[ids] / config.scales[kind] for kind in config.kinds], dim=-1)
    spelled = mask[:, :1]
    residuals = net(features, mask | ~spelled)

    def row(kind: str) -> torch.Tensor:
        base = bases.matrix(kind).to(device)
        return torch.where(spelled, base + config.scales[kind] * residuals[kind], base)

    return Embeddings(row("input"), None if config.tied else row("output"))


def save_hypernet(net: Hypernet, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    net.config.save(folder)
    save_file({name: t.detach().cpu().contiguous() for name, t in net.state_dict().items()}, str(folder / WEIGHTS_FILE))


def load_hypernet(folder: str | Path) -> Hypernet:
    folder = Path(folder)
    if not (folder / WEIGHTS_FILE).is_file():
        raise TokswapError(f"{folder} is not a tokswap hypernetwork (no {WEIGHTS_FILE}; train one with `tokswap hypernet train`)")
    read_header(folder / WEIGHTS_FILE)  # a damaged file is one line naming it
    net = Hypernet(HypernetConfig.load(folder))
    try:
        net.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    except (RuntimeError, OSError) as exc:
        raise TokswapError(f"{folder}: unreadable hypernetwork weights ({str(exc).splitlines()[0]})") from None
    return net.eval()
