"""Where fetched artefacts and computed results live between runs."""

import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("TOKSWAP_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tokswap")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_tensors(folder: str, key: str, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """`compute()`'s tensors, stored as `cache_dir(folder)/key.safetensors` on the first call and read back after:
    the key must name everything the result depends on. The file appears whole or not at all."""
    path = cache_dir(folder) / f"{key}.safetensors"
    if path.is_file():
        return load_file(path)
    tensors = {name: tensor.contiguous() for name, tensor in compute().items()}
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    save_file(tensors, partial)
    os.replace(partial, path)
    return tensors
