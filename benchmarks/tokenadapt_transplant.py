"""`tokenadapt` at full vocabulary scale: first run (empty auxiliary-vector cache) and cached run, wall time and
peak memory, then bits per byte of its variants next to `subword`.

Runs the real CLI on SmolLM2-135M → Gemma-3 (262,144 tokens) in child processes with $TOKSWAP_CACHE pointed at
a temporary folder that links the real cache's model artefacts but not its auxiliary vectors or neighbour
search, so the first run encodes and searches every token. Timed runs hold /tmp/tokswap-bench.lock. Each `--variant NAME=FLAGS` adds a tokenadapt
output scored beside the defaults (e.g. `--variant "tau0.1=--temperature 0.1"`).

    PYTHONPATH=. python benchmarks/tokenadapt_transplant.py [--data ../shared/corpus/dev] [--chars 8000] [--variant NAME=FLAGS ...] [--json]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from measure import bits_per_byte, measured_run, print_bits_per_byte

from tokswap.cache import cache_dir

GB = 1e9
LOCK = Path("/tmp/tokswap-bench.lock")
VARIANTS = {
    "tokenadapt": [],
    "tokenadapt w=0": ["--global-weight", "0"],
    "tokenadapt self": ["--aux-model", "self"],
}


@contextmanager
def bench_lock():
    """Hold the machine's benchmark lock so timed runs never overlap."""
    with open(LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def seeded_cache(work: Path) -> Path:
    """A cache folder linking every artefact of the real one (models, converted GGUFs) except what tokenadapt
    computes: the auxiliary vectors and the neighbour search."""
    real, seeded = cache_dir(), work / "cache"
    seeded.mkdir()
    for entry in real.iterdir():
        if entry.name not in ("aux-vectors", "neighbours"):
            (seeded / entry.name).symlink_to(entry)
    return seeded


def transplant(args: argparse.Namespace, method: str, flags: list[str], out: Path) -> dict:
    command = [sys.executable, "-m", "tokswap.cli", "transplant", args.source, "--tokenizer", args.target, "--method", method, *flags, "-o", str(out), "--force"]
    _, wall, peak = measured_run(command)
    report = json.loads((out / "tokswap_report.json").read_text())
    return {"command": shlex.join(["tokswap", *command[3:]]), "seconds": round(wall, 1), "peak_gb": round(peak / GB, 2), "timings": report["timings"]}


def print_figures(figures: dict) -> None:
    for name, run in figures["transplant"].items():
        print(f"{name:22s} {run['seconds']:7.1f} s, peak {run['peak_gb']:.2f} GB, steps {run['timings']}\n{'':22s} {run['command']}")
    if "bits_per_byte" in figures:
        print_bits_per_byte(figures["bits_per_byte"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="smollm2-135m")
    parser.add_argument("--target", default="gemma-3-270m")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"))
    parser.add_argument("--domains", nargs="+", default=["en", "code", "de", "fr", "zh"])
    parser.add_argument("--chars", type=int, default=8000, help="characters of each dev text to score")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS", help="another tokenadapt output to score")
    parser.add_argument("--skip-timing", action="store_true", help="only bits per byte (the aux cache may be warm)")
    parser.add_argument("--skip-bpb", action="store_true", help="only the timed runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not Path(args.data).is_dir():
        sys.exit(f"{args.data}: no such folder (pass --data)")
    variants = dict(VARIANTS)
    for spec in args.variant:
        name, _, flags = spec.partition("=")
        variants[name] = shlex.split(flags)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        outputs = {name: work / f"out{i}" for i, name in enumerate([*variants, "subword"])}
        figures: dict = {"transplant": {}}
        if not args.skip_timing:
            os.environ["TOKSWAP_CACHE"] = str(seeded_cache(work))
            with bench_lock():
                figures["transplant"]["tokenadapt first"] = transplant(args, "tokenadapt", [], outputs["tokenadapt"])
                figures["transplant"]["tokenadapt cached"] = transplant(args, "tokenadapt", [], outputs["tokenadapt"])
                figures["transplant"]["subword"] = transplant(args, "subword", [], outputs["subword"])
        for name, flags in variants.items():
            if not outputs[name].exists() and not args.skip_bpb:
                figures["transplant"][name] = transplant(args, "tokenadapt", flags, outputs[name])
        if not outputs["subword"].exists():
            figures["transplant"]["subword"] = transplant(args, "subword", [], outputs["subword"])
        if not args.skip_bpb:
            figures["bits_per_byte"] = bits_per_byte(outputs, Path(args.data), args.domains, args.chars, work)
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        print_figures(figures)


if __name__ == "__main__":
    main()
