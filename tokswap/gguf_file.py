"""A GGUF file's header and metadata, read without loading its tensors or parsing its vocabulary."""

from __future__ import annotations

import struct
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
