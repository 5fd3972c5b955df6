"""Text a user points a command at (`--data`, `--calibration`, `--prompts`): files or folders of `.txt`, read
as UTF-8 and refused when empty or binary."""

from __future__ import annotations

import random
from pathlib import Path

from .errors import TokswapError


def text_paths(paths: list[str]) -> list[Path]:
    """Every file named, and every `.txt` inside every folder named."""
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(path.glob("*.txt"))
            if not found:
                raise TokswapError(f"{path} has no .txt files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise TokswapError(f"{text}: no such file or folder")
    return files


def text_files(paths: list[str]) -> dict[str, Path]:
    """Domain name → file, named by its stem (the last of several with one stem)."""
    return {path.stem: path for path in text_paths(paths)}


def read_text_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TokswapError(f"{path} is not UTF-8 text") from None
    if not text.strip():
        raise TokswapError(f"{path} is empty")
    if "\0" in text:
        raise TokswapError(f"{path} is not UTF-8 text (it holds NUL bytes)")
    return text


def read_lines(path: Path) -> list[str]:
    """The non-blank lines of a file of one prompt per line."""
    return [line for line in read_text_file(path).splitlines() if line.strip()]


def draw_windows(texts: list[str], rng: random.Random, count: int, chars: int) -> list[str]:
    """`count` windows of up to `chars` characters, each from a text drawn first, so every text (domain)
    weighs the same whatever its length."""
    out = []
    for _ in range(count):
        text = rng.choice(texts)
        start = rng.randrange(max(1, len(text) - chars))
        out.append(text[start : start + chars])
    return out
