"""llama.cpp's golden tokenizer vectors: `.gguf.inp` test strings and `.gguf.out` expected ids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import TokswapError

SEPARATOR = "\n__ggml_vocab_test__\n"


@dataclass(frozen=True)
class GoldenCase:
    text: str
    ids: list[int]


def mismatches(tokenizer, cases: list[GoldenCase]) -> list[GoldenCase]:
    """The cases `tokenizer` encodes to other ids than llama.cpp did."""
    return [c for c in cases if tokenizer.encode(c.text, add_special_tokens=False) != c.ids]


def read_golden(inp: Path) -> list[GoldenCase]:
    """Test strings are separated (and usually ended) by the separator; the `.out` file has one line of ids per string."""
    out = inp.with_suffix(".out")
    if not inp.is_file() or not out.is_file():
        raise TokswapError(f"{inp}: golden vectors need both {inp.name} and {out.name}")
    texts = inp.read_text(encoding="utf-8").split(SEPARATOR)
    if texts[-1] == "":
        texts.pop()
    lines = out.read_text(encoding="utf-8").split("\n")
    if len(lines) < len(texts) or any(lines[len(texts) :]):
        raise TokswapError(f"{out}: {len(lines)} lines for {len(texts)} test strings")
    try:
        return [GoldenCase(text, [int(tok) for tok in line.split()]) for text, line in zip(texts, lines)]
    except ValueError:
        raise TokswapError(f"{out}: expected space-separated token ids") from None
