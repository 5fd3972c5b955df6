"""A GGUF file's header and metadata, read without loading its tensors or parsing its vocabulary."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import TokswapError, first_line


def gguf_tensor_count(path: Path) -> int:
    """Tensors in a GGUF file, read from its fixed header: gguf-py parses every vocabulary entry first (seconds)."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if len(head) < 24 or head[:4] != b"GGUF":
        raise TokswapError(f"{path}: not a GGUF file")
    version, tensors, keys = struct.unpack("<IQQ", head[4:24])
    if version not in (1, 2, 3) or tensors > 1 << 24 or keys > 1 << 24:
        raise TokswapError(f"{path}: damaged GGUF file (version {version}, {tensors} tensors, {keys} metadata keys)")
    return tensors


def gguf_metadata(path: Path) -> dict:
    """The file's metadata, arrays as their lengths: milliseconds even for a 262k vocabulary. A file cut short
    or overwritten is one clear error."""
    from transformers.integrations.gguf.reader import read_gguf_metadata

    gguf_tensor_count(path)
    try:
        return read_gguf_metadata(str(path), ())[0]
    except struct.error:
        raise TokswapError(f"{path}: damaged GGUF file (it ends inside its metadata after {path.stat().st_size:,} bytes)") from None
    except Exception as exc:  # noqa: BLE001 - whatever the reader trips on, the file is unusable
        raise TokswapError(f"{path}: damaged GGUF file ({first_line(exc)})") from None


@dataclass(frozen=True)
class GgufField:
    """One metadata value with its GGUF types, so it can be written back exactly: strings stay bytes."""

    type: int
    value: object
    item_type: int | None = None


_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def _string(blob: memoryview, pos: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from("<Q", blob, pos)
    return bytes(blob[pos + 8 : pos + 8 + length]), pos + 8 + length


def _value(blob: memoryview, pos: int, kind: int, keep: bool) -> tuple[object, int]:
    if kind in _SCALARS:
        return struct.unpack_from("<" + _SCALARS[kind], blob, pos)[0], pos + struct.calcsize(_SCALARS[kind])
    if kind == _STRING:
        return _string(blob, pos)
    if kind != _ARRAY:
        raise ValueError(f"unknown metadata type {kind}")
    item, count = struct.unpack_from("<IQ", blob, pos)
    pos += 12
    if item in _SCALARS:
        width = struct.calcsize(_SCALARS[item])
        values = list(struct.unpack_from(f"<{count}{_SCALARS[item]}", blob, pos)) if keep else count
        return values, pos + count * width
    values = []
    for _ in range(count):
        value, pos = _value(blob, pos, item, keep)
        values.append(value)
    return values if keep else count, pos


def gguf_fields(path: Path, wanted: Callable[[str], bool]) -> dict[str, GgufField]:
    """The metadata keys `wanted` picks, with their types and whole values (a 262k vocabulary in about a
    second: gguf-py's reader builds a view per entry of every array first, half a minute on Gemma-3)."""
    gguf_tensor_count(path)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        blob = memoryview(mapped)
        try:
            (keys,) = struct.unpack_from("<Q", blob, 16)
            pos, fields = 24, {}
            for _ in range(keys):
                key, pos = _string(blob, pos)
                name = key.decode("utf-8")
                (kind,) = struct.unpack_from("<I", blob, pos)
                keep = wanted(name)
                value, after = _value(blob, pos + 4, kind, keep)
                if keep:
                    item = struct.unpack_from("<I", blob, pos + 4)[0] if kind == _ARRAY else None
                    fields[name] = GgufField(kind, value, item)
                pos = after
        except (struct.error, ValueError, UnicodeDecodeError) as exc:
            raise TokswapError(f"{path}: damaged GGUF metadata ({first_line(exc)})") from None
        finally:
            blob.release()
    return fields
