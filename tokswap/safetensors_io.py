"""Read safetensors headers and write safetensors files one tensor at a time.

`safetensors.save_file` needs every tensor of a file in memory at once; a transplant only changes the
embeddings, so every other tensor is streamed from the source shard to the output, byte range by byte range,
and peak memory stays at the size of the embedding matrices whatever the model's size.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch
from tqdm.auto import tqdm

from .errors import TokswapError

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U64": torch.uint64,
    "U32": torch.uint32,
    "U16": torch.uint16,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_COPY_CHUNK = 64 << 20


@dataclass
class TensorEntry:
    """One tensor to write: where its bytes come from, and how to load it when they must change."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    load: Callable[[], torch.Tensor]
    file_range: tuple[Path, int, int] | None = None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def cast(self, dtype: torch.dtype) -> TensorEntry:
        """The same tensor written as `dtype` (floating tensors only; others keep theirs)."""
        if dtype == self.dtype or not self.dtype.is_floating_point:
            return self
        return TensorEntry(self.name, dtype, self.shape, lambda: self.load().to(dtype))


def _damaged(path: Path, why: str) -> TokswapError:
    return TokswapError(f"{path}: damaged safetensors file ({why})")


def _check_tensor(path: Path, name: str, info, data_size: int) -> None:
    if not isinstance(info, dict) or info.get("dtype") not in DTYPES:
        raise _damaged(path, f"tensor {name} has no known dtype")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise _damaged(path, f"tensor {name} has no valid shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise _damaged(path, f"tensor {name} has no valid data offsets")
    start, end = offsets
    if not 0 <= start <= end or end - start != math.prod(shape) * DTYPES[info["dtype"]].itemsize:
        raise _damaged(path, f"tensor {name}'s offsets do not fit its shape")
    if end > data_size:
        raise TokswapError(f"{path}: truncated safetensors file ({name} ends {end - data_size:,} bytes past the end of the file)")


def read_header(path: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and the offset where its data starts, after checking that it
    describes tensors that all lie inside the file: a truncated or overwritten file is one clear error here
    instead of an overflow or a read past the end later."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise _damaged(path, f"{size} bytes, too short for a header")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            raise _damaged(path, f"its header claims {length:,} bytes, the file has {size:,}")
        try:
            header = json.loads(fh.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _damaged(path, "its header is not JSON") from None
    if not isinstance(header, dict):
        raise _damaged(path, "its header is not a table of tensors")
    for name, info in header.items():
        if name != "__metadata__":
            _check_tensor(path, name, info, size - 8 - length)
    return header, 8 + length


def file_entries(path: Path) -> list[TensorEntry]:
    """Entries that copy each tensor of a safetensors file byte for byte."""
    from safetensors import safe_open

    header, data_start = read_header(path)
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]

        def load(name=name):
            with safe_open(path, framework="pt") as fh:
                return fh.get_tensor(name)

        entries.append(
            TensorEntry(name, DTYPES[info["dtype"]], tuple(info["shape"]), load, (path, data_start + start, data_start + end))
        )
    return entries


def _write_entry(out: BinaryIO, entry: TensorEntry) -> None:
    if entry.file_range is not None:
        path, start, end = entry.file_range
        with open(path, "rb") as src:
            src.seek(start)
            remaining = end - start
            while remaining:
                chunk = src.read(min(_COPY_CHUNK, remaining))
                if not chunk:
                    raise TokswapError(f"{path.name} ended while copying {entry.name}")
                out.write(chunk)
                remaining -= len(chunk)
        return
    tensor = entry.load().to(entry.dtype).contiguous()
    if tuple(tensor.shape) != entry.shape:
        raise ValueError(f"{entry.name}: shape {tuple(tensor.shape)} does not match {entry.shape}")
    out.write(tensor.reshape(-1).view(torch.uint8).numpy().data)


def write_file(path: Path, entries: list[TensorEntry], progress: tqdm | None = None) -> None:
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for entry in entries:
        header[entry.name] = {"dtype": DTYPE_NAMES[entry.dtype], "shape": list(entry.shape), "data_offsets": [offset, offset + entry.nbytes]}
        offset += entry.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(blob)))
        out.write(blob)
        for entry in entries:
            _write_entry(out, entry)
            if progress is not None:
                progress.update(entry.nbytes)


def write_checkpoint(folder: Path, groups: list[list[TensorEntry]]) -> list[str]:
    """Write `model.safetensors`, or numbered shards plus the index when there is more than one group."""
    groups = [group for group in groups if group]
    total = sum(entry.nbytes for group in groups for entry in group)
    names = ["model.safetensors"] if len(groups) == 1 else [f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    with tqdm(total=total, unit="B", unit_scale=True, desc="writing weights") as progress:
        for name, group in zip(names, groups):
            write_file(folder / name, group, progress)
    if len(groups) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": {e.name: n for n, g in zip(names, groups) for e in g}}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return names
