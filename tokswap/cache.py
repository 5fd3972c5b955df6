"""Where fetched demo artefacts live between runs."""

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("TOKSWAP_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tokswap")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
