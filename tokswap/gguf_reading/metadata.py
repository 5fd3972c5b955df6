"""A GGUF file's header and metadata, read and checked without loading its tensors."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import TokswapError, first_line


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


@dataclass(frozen=True)
class GgufField:
    """One metadata value with its GGUF types, so it can be written back exactly: strings stay bytes."""

    type: int
    value: object
    item_type: int | None = None


_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def _string(blob: memoryview, pos: int, keep: bool) -> tuple[bytes | None, int]:
    (length,) = struct.unpack_from("<Q", blob, pos)
    return bytes(blob[pos + 8 : pos + 8 + length]) if keep else None, pos + 8 + length


def _value(blob: memoryview, pos: int, kind: int, whole: bool) -> tuple[object, int]:
    """A value and the offset past it; an array is its length unless `whole`."""
    if kind in _SCALARS:
        return struct.unpack_from("<" + _SCALARS[kind], blob, pos)[0], pos + struct.calcsize(_SCALARS[kind])
    if kind == _STRING:
        return _string(blob, pos, True)
    if kind != _ARRAY:
        raise ValueError(f"unknown metadata type {kind}")
    item, count = struct.unpack_from("<IQ", blob, pos)
    pos += 12
    if item in _SCALARS:
        end = pos + count * struct.calcsize(_SCALARS[item])
        return list(struct.unpack_from(f"<{count}{_SCALARS[item]}", blob, pos)) if whole else count, end
    values = []
    for _ in range(count):
        value, pos = _value(blob, pos, item, whole) if item != _STRING else _string(blob, pos, whole)
        values.append(value)
    return values if whole else count, pos


def _fields(path: Path, whole: Callable[[str], bool]) -> dict[str, GgufField]:
    """Every metadata key with its types, arrays whole for the keys `whole` picks and as their lengths otherwise;
    the tensor table after them is walked too, so a file cut anywhere before its tensor data is found."""
    tensors = gguf_tensor_count(path)
    fields = {}
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        blob = memoryview(mapped)
        try:
            version, _, keys = struct.unpack_from("<IQQ", blob, 4)
            if version == 1:
                raise ValueError("GGUF v1 counts in 32 bits; no file in use still does")
            pos = 24
            for _ in range(keys):
                key, pos = _string(blob, pos, True)
                name = key.decode("utf-8")
                (kind,) = struct.unpack_from("<I", blob, pos)
                value, after = _value(blob, pos + 4, kind, whole(name))
                item = struct.unpack_from("<I", blob, pos + 4)[0] if kind == _ARRAY else None
                fields[name] = GgufField(kind, value, item)
                pos = after
            for _ in range(tensors):
                _, pos = _string(blob, pos, False)
                (dims,) = struct.unpack_from("<I", blob, pos)
                pos += 4 + 8 * dims + 12
            if pos > len(blob):
                raise struct.error("past the end")
        except struct.error:
            raise TokswapError(f"{path}: damaged GGUF file (it ends inside its metadata after {len(blob):,} bytes)") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokswapError(f"{path}: damaged GGUF file ({first_line(exc)})") from None
        finally:
            blob.release()
    if "general.architecture" not in fields:
        raise TokswapError(f"{path}: damaged GGUF file (no general.architecture in its metadata)")
    return fields


def gguf_metadata(path: Path) -> dict:
    """The file's metadata, strings decoded and arrays as their lengths. A file cut short or overwritten is one
    clear error."""
    try:
        return {key: f.value.decode("utf-8") if isinstance(f.value, bytes) else f.value for key, f in _fields(path, lambda key: False).items()}
    except UnicodeDecodeError as exc:
        raise TokswapError(f"{path}: damaged GGUF file ({first_line(exc)})") from None


def gguf_fields(path: Path, wanted: Callable[[str], bool]) -> dict[str, GgufField]:
    """The metadata keys `wanted` picks, with their types and whole values (a 262k vocabulary in well under a
    second: gguf-py's reader builds a view per entry of every array first, half a minute on Gemma-3)."""
    return {key: field for key, field in _fields(path, wanted).items() if wanted(key)}
