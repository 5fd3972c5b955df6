"""Training throughput of `tokswap heal`, this tree against another checkout, in one run.

For each teacher and `--train` mode, both codes train the same folder for `--steps` steps from an empty
teacher cache (every teacher forward paid), alternating code by code so neither gets the quieter minutes;
tokens per second is the report's (training seconds, loading excluded), peak memory the process's.

    python benchmarks/heal_speed.py --start drafter/ --baseline-tree ../old-checkout --work speed/
        [--teachers source gemma-3-270m] [--modes new embeddings all] [--steps 12] [--after-args=--generated=0]

`--after-args` go to this tree's `heal` only: options the baseline lacks, set so both compute the same steps
(with a model teacher, this tree writes half of each step's windows by default; the code before issue 28 did not).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from measure import measured_run

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
TRAIN = [str(SHARED / "train" / f"{d}.txt") for d in ("en", "code", "de", "fr", "es", "zh")]
HERE = Path(__file__).resolve().parents[1]


def heal_run(tree: Path, start: Path, out: Path, cache: Path, teacher: str, mode: str, steps: int, extra: list[str]) -> dict:
    """One `heal` of `start` by the code in `tree`, with a teacher cache of its own (the converted models shared)."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    real = Path(os.environ.get("TOKSWAP_CACHE", Path.home() / ".cache" / "tokswap"))
    for entry in real.iterdir():
        if entry.name not in ("heal-teacher",):
            (cache / entry.name).symlink_to(entry)
    os.environ.update(TOKSWAP_CACHE=str(cache), PYTHONPATH=str(tree))
    command = [sys.executable, "-m", "tokswap.cli", "heal", str(start), "--data", *TRAIN, "-o", str(out), "--steps", str(steps), "--train", mode, *extra]
    # In the tree's own folder: `python -m` puts the working folder first on the path, before PYTHONPATH.
    result, wall, peak = measured_run([*command, *([] if teacher == "source" else ["--teacher", teacher])], cwd=tree)
    os.environ["TOKSWAP_CACHE"] = str(real)
    report = json.loads(result.stdout)
    return {"tokens_per_second": report["tokens_per_second"], "tokens": report["tokens"], "minutes": report["minutes"], "peak_gib": round(peak / (1 << 30), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", required=True, type=Path)
    parser.add_argument("--baseline-tree", required=True, type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--teachers", nargs="+", default=["source", "gemma-3-270m"])
    parser.add_argument("--modes", nargs="+", default=["new", "embeddings", "all"])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--after-args", type=str.split, default=[], help="more `heal` options for this tree, one string")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results_file = args.work / "speed.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for teacher in args.teachers:
        for mode in args.modes:
            for code, tree, extra in (("before", args.baseline_tree.resolve(), []), ("after", HERE, args.after_args)):
                key = f"{teacher}/{mode}/{code}"
                if key not in results:
                    results[key] = heal_run(tree, args.start.resolve(), args.work / "out", args.work / "cache", teacher, mode, args.steps, extra)
                    results_file.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'teacher':14s} {'train':11s} {'before tok/s':>13s} {'after tok/s':>12s} {'ratio':>6s} {'peak before/after GiB':>22s}")
    for teacher in args.teachers:
        for mode in args.modes:
            before, after = results[f"{teacher}/{mode}/before"], results[f"{teacher}/{mode}/after"]
            ratio = after["tokens_per_second"] / before["tokens_per_second"]
            print(f"{teacher:14s} {mode:11s} {before['tokens_per_second']:13.1f} {after['tokens_per_second']:12.1f} {ratio:6.2f} {before['peak_gib']:>10.2f} / {after['peak_gib']:.2f}")


if __name__ == "__main__":
    main()
