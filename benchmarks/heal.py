"""`tokswap heal` on a CPU budget: heal transplants toward their source (bits per byte at each stage) and toward
the target (drafting against UAG), as issue 15 asks.

For each `--start` folder, one `--teacher source` run is read at every `--stages` minute mark (the run resumes
between marks; training seconds exclude loading) and scored with `tokswap eval --window 512` on the first
8,000 characters of each dev text, next to the untouched SmolLM2 on its own tokenizer. Then one
`--teacher gemma-3-270m` run from the first start folder is raced with `tokswap bench-draft` against UAG on
the built-in prompts and on prompts cut from dev texts. Training text is every train file but Japanese, so
dev ja measures what healing does to a language it never saw. Results accumulate in `--work`/results.json and
phases already there are skipped, so an interrupted benchmark continues.

    python benchmarks/heal.py --start drafter/ [tokenadapt/ ...] --work heal-bench/ [--stages 10 30 60]
        [--draft-minutes 30] [--train-args "--train new"] [--skip-draft]
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from measure import bits_per_byte, dev_prompts, measured_run

from tokswap.training.loop import TRAINER_FILE

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
DOMAINS = ["en", "code", "de", "fr", "es", "zh", "ja"]
ORIGINAL = "smollm2-135m"


def trained_minutes(folder: Path) -> float:
    trainer = folder / TRAINER_FILE
    return json.loads(trainer.read_text())["seconds"] / 60 if trainer.is_file() else 0.0


def heal_until(start: Path, out: Path, minutes: float, extra: list[str]) -> dict | None:
    """Resume (or start) the run in `out` until it has trained `minutes` in all; its printed report."""
    left = minutes - trained_minutes(out)
    if left <= 0.05:
        return None
    train = [str(SHARED / "train" / f"{d}.txt") for d in DOMAINS if d != "ja"]
    result, wall, peak = measured_run(["tokswap", "heal", str(start), "--data", *train, "-o", str(out), "--minutes", f"{left:.2f}", *extra])
    return {**json.loads(result.stdout), "wall_seconds": round(wall, 1), "peak_rss_gib": round(peak / (1 << 30), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", nargs="+", required=True, type=Path, help="transplant folders to heal")
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--stages", nargs="+", type=float, default=[10, 30, 60], help="minute marks scored")
    parser.add_argument("--draft-minutes", type=float, default=30)
    parser.add_argument("--train-args", default="", help="more `tokswap heal` flags for the source runs")
    parser.add_argument("--skip-draft", action="store_true")
    parser.add_argument("--dev", type=Path, default=SHARED / "dev")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results_file = args.work / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}

    def save() -> None:
        results_file.write_text(json.dumps(results, indent=2) + "\n")

    bpb = results.setdefault("bpb", {})
    missing = {name: path for name, path in {ORIGINAL: Path(ORIGINAL), **{f"{s.name}@0": s for s in args.start}}.items() if name not in bpb}
    if missing:
        bpb.update(bits_per_byte(missing, args.dev, DOMAINS, 8000, args.work, 512))
        save()
    for start in args.start:
        out = args.work / f"{start.name}-source"
        for minutes in args.stages:
            name = f"{start.name}@{minutes:g}"
            if name in results["bpb"]:
                continue
            results.setdefault("runs", {})[name] = heal_until(start, out, minutes, shlex.split(args.train_args))
            results["bpb"].update(bits_per_byte({name: out}, args.dev, DOMAINS, 8000, args.work, 512))
            save()
    if not args.skip_draft and "draft" not in results:
        start = args.start[0]
        out = args.work / f"{start.name}-gemma"
        results.setdefault("runs", {})["gemma"] = heal_until(start, out, args.draft_minutes, ["--teacher", "gemma-3-270m"])
        prompts = args.work / "dev_prompts.txt"
        prompts.write_text("\n".join(dev_prompts(args.dev, ("en", "de", "fr", "es", "zh", "code"))) + "\n")
        draft = {}
        for label, flags in (("default", []), ("dev", ["--prompts", str(prompts)])):
            command = ["tokswap", "bench-draft", "--target", "gemma-3-270m", "--drafter", str(start), str(out), "--uag", ORIGINAL, "--json", *flags]
            draft[label] = json.loads(measured_run(command)[0].stdout)
        results["draft"] = draft
        save()
    report(results)


def report(results: dict) -> None:
    bpb = results["bpb"]
    print(f"{'bits per byte':24s}" + "".join(f"{d:>8s}" for d in DOMAINS))
    for name, row in bpb.items():
        print(f"{name:24s}" + "".join(f"{row[d]:8.4f}" for d in DOMAINS))
    print("\nratio to the original (excess = ratio - 1; share of the start's excess left in brackets)")
    for name, row in bpb.items():
        if name == ORIGINAL:
            continue
        start = bpb[name.split("@")[0] + "@0"]
        cells = []
        for d in DOMAINS:
            ratio = row[d] / bpb[ORIGINAL][d]
            left = (ratio - 1) / (start[d] / bpb[ORIGINAL][d] - 1)
            cells.append(f"{ratio:.3f} ({left:.2f})")
        print(f"{name:24s}" + "".join(f"{c:>15s}" for c in cells))
    for name, run in results.get("runs", {}).items():
        if run:
            print(f"\n{name}: {run['steps']} steps, {run['tokens']} tokens, {run['tokens_per_second']} tok/s, peak {run['peak_rss_gib']} GiB, final {run['final']}")
    for label, modes in results.get("draft", {}).items():
        print(f"\nbench-draft, {label} prompts")
        for mode, row in modes.items():
            print(f"  {mode:60s} {row['tokens_per_target_call']:.2f} tok/call  {row['seconds']:.1f} s  identical {row['identical_to_target']}")


if __name__ == "__main__":
    main()
