"""`tokswap heal` on a CPU budget: heal transplants toward their source (bits per byte at each stage) and toward
the target (drafting against UAG), as issue 15 asks.

For each `--start` folder, one `--teacher source` run is read at every `--stages` mark (minutes, or steps
with `--unit steps`; the run resumes between marks; training seconds exclude loading) and scored with
`tokswap eval --window 512` on the first 8,000 characters of each dev text and of each far text (kinds of
text training has none of), next to the untouched SmolLM2 on its own tokenizer. `--label` names the runs, so
several recipes (`--train-args`) share one results file and one baseline. Then one
`--teacher gemma-3-270m` run from the first start folder is raced with `tokswap bench-draft` against UAG on
the built-in prompts and on prompts cut from dev texts. Training text is every train file but Japanese, so
dev ja measures what healing does to a language it never saw. Results accumulate in `--work`/results.json and
phases already there are skipped, so an interrupted benchmark continues.

    python benchmarks/heal.py --start drafter/ [tokenadapt/ ...] --work heal-bench/ [--stages 10 30 60]
        [--unit minutes|steps] [--label NAME] [--train-args "--train new"] [--draft-minutes 30] [--skip-draft]
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
FAR = ["legal", "release-notes", "c-headers"]
ORIGINAL = "smollm2-135m"


def trained(folder: Path, unit: str) -> float:
    """Minutes or steps the run in `folder` has trained so far."""
    trainer = folder / TRAINER_FILE
    if not trainer.is_file():
        return 0.0
    saved = json.loads(trainer.read_text())
    return saved["seconds"] / 60 if unit == "minutes" else saved["step"]


def heal_until(start: Path, out: Path, mark: float, unit: str, extra: list[str]) -> dict | None:
    """Resume (or start) the run in `out` until it has trained `mark` minutes or steps in all; its report."""
    left = mark - trained(out, unit)
    if left <= (0.05 if unit == "minutes" else 0):
        return None
    budget = ["--minutes", f"{left:.2f}"] if unit == "minutes" else ["--steps", str(int(mark))]
    train = [str(SHARED / "train" / f"{d}.txt") for d in DOMAINS if d != "ja"]
    result, wall, peak = measured_run(["tokswap", "heal", str(start), "--data", *train, "-o", str(out), *budget, *extra])
    return {**json.loads(result.stdout), "wall_seconds": round(wall, 1), "peak_rss_gib": round(peak / (1 << 30), 2)}


def scored(outputs: dict[str, Path], work: Path) -> dict:
    """Bits per byte of each output on the dev texts and the far texts."""
    dev = bits_per_byte(outputs, SHARED / "dev", DOMAINS, 8000, work / "dev", 512)
    far = bits_per_byte(outputs, SHARED / "far", FAR, 8000, work / "far", 512)
    return {name: {**dev[name], **far[name]} for name in outputs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", nargs="+", required=True, type=Path, help="transplant folders to heal")
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--stages", nargs="+", type=float, default=[10, 30, 60], help="marks scored, in --unit")
    parser.add_argument("--unit", choices=("minutes", "steps"), default="minutes")
    parser.add_argument("--label", default="", help="names this recipe's runs (and their folders) in the results")
    parser.add_argument("--draft-minutes", type=float, default=30)
    parser.add_argument("--train-args", default="", help="more `tokswap heal` flags for the source runs")
    parser.add_argument("--skip-draft", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results_file = args.work / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}

    def save() -> None:
        results_file.write_text(json.dumps(results, indent=2) + "\n")

    bpb = results.setdefault("bpb", {})
    missing = {name: path for name, path in {ORIGINAL: Path(ORIGINAL), **{f"{s.name}@0": s for s in args.start}}.items() if name not in bpb}
    if missing:
        bpb.update(scored(missing, args.work))
        save()
    suffix = f"{'-' + args.label if args.label else ''}"
    for start in args.start:
        out = args.work / f"{start.name}-source{suffix}"
        for mark in args.stages:
            name = f"{start.name}{suffix}@{mark:g}{'' if args.unit == 'minutes' else ' steps'}"
            if name in results["bpb"]:
                continue
            results.setdefault("runs", {})[name] = heal_until(start, out, mark, args.unit, shlex.split(args.train_args))
            results.setdefault("start_of", {})[name] = f"{start.name}@0"
            results["bpb"].update(scored({name: out}, args.work))
            save()
    if not args.skip_draft and "draft" not in results:
        start = args.start[0]
        out = args.work / f"{start.name}-gemma"
        results.setdefault("runs", {})["gemma"] = heal_until(start, out, args.draft_minutes, ["--teacher", "gemma-3-270m"])
        prompts = args.work / "dev_prompts.txt"
        prompts.write_text("\n".join(dev_prompts(SHARED / "dev", ("en", "de", "fr", "es", "zh", "code"))) + "\n")
        draft = {}
        for label, flags in (("default", []), ("dev", ["--prompts", str(prompts)])):
            command = ["tokswap", "bench-draft", "--target", "gemma-3-270m", "--drafter", str(start), str(out), "--uag", ORIGINAL, "--json", *flags]
            draft[label] = json.loads(measured_run(command)[0].stdout)
        results["draft"] = draft
        save()
    report(results)


def report(results: dict) -> None:
    bpb = results["bpb"]
    texts = DOMAINS + FAR
    width = max(24, *(len(name) + 1 for name in bpb))
    print(f"{'bits per byte':{width}s}" + "".join(f"{d:>14s}" for d in texts))
    for name, row in bpb.items():
        print(f"{name:{width}s}" + "".join(f"{row[d]:14.4f}" for d in texts))
    print("\nratio to the original (excess = ratio - 1; share of the start's excess left in brackets)")
    for name, row in bpb.items():
        if name == ORIGINAL:
            continue
        start = bpb[results.get("start_of", {}).get(name, name)]
        cells = []
        for d in texts:
            ratio = row[d] / bpb[ORIGINAL][d]
            left = (ratio - 1) / (start[d] / bpb[ORIGINAL][d] - 1)
            cells.append(f"{ratio:.3f} ({left:.2f})")
        print(f"{name:{width}s}" + "".join(f"{c:>14s}" for c in cells))
    for name, run in results.get("runs", {}).items():
        if run:
            print(f"\n{name}: {run['steps']} steps, {run['tokens']} tokens, {run['tokens_per_second']} tok/s, peak {run['peak_rss_gib']} GiB, final {run['final']}")
    for label, modes in results.get("draft", {}).items():
        print(f"\nbench-draft, {label} prompts")
        for mode, row in modes.items():
            print(f"  {mode:60s} {row['tokens_per_target_call']:.2f} tok/call  {row['seconds']:.1f} s  identical {row['identical_to_target']}")


if __name__ == "__main__":
    main()
