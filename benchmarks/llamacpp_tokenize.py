"""llama.cpp's own `llama-tokenize` as the second witness that tokswap reads GGUF tokenizers as llama.cpp does.

Tokenizes each dev text (and each golden test string) with tokswap and with `llama-tokenize` (no BOS, no
escapes) for every faithful `llamacpp:` vocabulary and the packaged models, and prints how many agree. The
binary is built once into the cache (`llamacpp_build`), or given with `--llama-tokenize`.

    PYTHONPATH=. python benchmarks/llamacpp_tokenize.py [--data ../shared/corpus/dev] [--llama-tokenize PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llamacpp_build import built_tool, llamacpp_ids

from tokswap.demo import FAITHFUL_LLAMACPP_VOCABS, LLAMACPP_PREFIX
from tokswap.gguf_reading.golden import read_golden
from tokswap.gguf_reading.tokenizer import golden_vectors
from tokswap.specs import resolve
from tokswap.tokenizer_io import load_tokenizer


def witness(tool: Path, name: str, texts: dict[str, str]) -> dict:
    spec = resolve(name)
    tokenizer = load_tokenizer(spec)
    golden = golden_vectors(spec.path)
    cases = {**texts, **({f"golden {i}": c.text for i, c in enumerate(read_golden(golden))} if golden else {})}
    differ = [key for key, text in cases.items() if tokenizer.encode(text, add_special_tokens=False) != llamacpp_ids(tool, spec.path, text)]
    return {"texts": len(cases), "agree": len(cases) - len(differ), "differ": differ}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"))
    parser.add_argument("--llama-tokenize", type=Path, help="an existing llama-tokenize binary")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tool = args.llama_tokenize or built_tool("llama-tokenize")
    texts = {path.stem: path.read_text(encoding="utf-8") for path in sorted(Path(args.data).glob("*.txt"))}
    names = ["smollm2-135m", "gemma-3-270m", *(LLAMACPP_PREFIX + name for name in FAITHFUL_LLAMACPP_VOCABS)]
    figures = {}
    for name in names:
        figures[name] = witness(tool, name, texts)
        if not args.json:
            row = figures[name]
            print(f"{name:26s} {row['agree']:3d}/{row['texts']} agree with llama-tokenize" + (f"; differ: {', '.join(row['differ'])}" if row["differ"] else ""), flush=True)
    if args.json:
        json.dump(figures, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
