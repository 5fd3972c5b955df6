"""Every architecture export-gguf writes, onto every kind of target vocabulary users bring, with each head its
llama.cpp graph has: the whole path before llama.cpp, on the unit tests' tiny random models.

For each source (tests/builders.py) x target x head:

  tokenizer  `AutoTokenizer.from_pretrained(OUT)`, as users load a drafter, encodes a probe text as the target does
  verify     `tokswap verify OUT --target TARGET`, then the same on the f32 GGUF exported from OUT
  heal       two steps toward the folder itself over every row (`--teacher OUT --negatives 0`): the divergence
             at the first step (0: the student's softmax is the model's own, scaling and soft-capping included)
             and after a step of plain cross-entropy; then the healed folder exported again

llama.cpp's own run of the files is benchmarks/llamacpp_architectures.py.

    PYTHONPATH=. python benchmarks/architecture_matrix.py [--targets gemma-3-270m llamacpp:llama-spm ...]
        [--architectures llama qwen3 ...] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from builders import MORE, TEXT, TINY_ARCHITECTURES, byte_level_bpe, tiny_model  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from tokswap import load_target, transplant  # noqa: E402
from tokswap.cli import main as tokswap  # noqa: E402
from tokswap.gguf.export import export_gguf  # noqa: E402
from tokswap.heal.options import HealOptions  # noqa: E402
from tokswap.heal.train import heal  # noqa: E402

# SentencePiece with byte fallback (Gemma-3, Llama-2), byte-level BPE (Llama-3, Qwen2, GPT-2), Phi-3's.
TARGETS = ["gemma-3-270m", "llamacpp:llama-spm", "llamacpp:llama-bpe", "llamacpp:qwen2", "llamacpp:gpt-2", "llamacpp:phi-3"]
PROBE = "Hello world, 42 äö. def f(x):\n    return x  # ok\n日本語 <bos> spaces   end"


@dataclass
class Row:
    target: str
    architecture: str
    tied: bool
    tokenizer: bool
    verify_folder: bool
    verify_gguf: bool
    kl_start: float
    kl_trained: float
    healed_exported: bool
    seconds: float


def _quietly(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return tokswap(argv)


def check(source: Path, target: str, work: Path, text: Path) -> dict:
    start = time.perf_counter()
    folder, gguf, healed = work / "folder", work / "model.gguf", work / "healed"
    transplant(str(source), target, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)(PROBE).input_ids == load_target(target).tokenizer(PROBE).input_ids
    export_gguf(str(folder), gguf, kind="f32")
    options = HealOptions(
        steps=2, teacher=str(folder), negatives=0, ce_weight=1.0, train="all", batch_size=2, seq_len=24, warmup=1, lr=3e-2, body_lr=3e-2, teacher_cache_gb=0
    )
    heal(str(folder), [str(text)], healed, options)
    log = [json.loads(line) for line in (healed / "log.jsonl").read_text().splitlines()]
    return {
        "tokenizer": tokenizer,
        "verify_folder": _quietly(["verify", str(folder), "--target", target]) == 0,
        "verify_gguf": _quietly(["verify", str(gguf), "--target", target]) == 0,
        "kl_start": log[0]["kl"],
        "kl_trained": log[1]["kl"],
        "healed_exported": export_gguf(str(healed), work / "healed.gguf", kind="f32").tensors > 0,
        "seconds": round(time.perf_counter() - start, 1),
    }


def table(rows: list[Row]) -> str:
    lines = [f"{'target':18s} {'architecture':13s} {'head':6s} tokenizer verify gguf  {'KL start':>9s} {'KL after':>9s} healed->gguf {'s':>5s}"]
    for r in rows:
        ok = ["yes" if value else "NO" for value in (r.tokenizer, r.verify_folder, r.verify_gguf, r.healed_exported)]
        lines.append(
            f"{r.target:18s} {r.architecture:13s} {'tied' if r.tied else 'untied':6s} {ok[0]:>9s} {ok[1]:>6s} {ok[2]:>4s}  "
            f"{r.kl_start:9.1e} {r.kl_trained:9.1e} {ok[3]:>12s} {r.seconds:5.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=TARGETS)
    parser.add_argument("--architectures", nargs="+", default=list(TINY_ARCHITECTURES), choices=list(TINY_ARCHITECTURES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="architecture-matrix-") as name:
        root = Path(name)
        text = root / "text.txt"
        text.write_text(TEXT * 2 + MORE * 20)
        tokenizer, rows = byte_level_bpe(), []
        for arch in args.architectures:
            for tied in TINY_ARCHITECTURES[arch].heads:
                source = tiny_model(root / f"source-{arch}-{tied}", tokenizer, arch, tied=tied, seed=3)
                for number, target in enumerate(args.targets):
                    work = root / f"{arch}-{tied}-{number}"
                    work.mkdir()
                    rows.append(Row(target, arch, tied, **check(source, target, work, text)))
                    print(json.dumps(asdict(rows[-1])), file=sys.stderr, flush=True)
        print(json.dumps([asdict(row) for row in rows], indent=2) if args.json else table(rows))


if __name__ == "__main__":
    main()
