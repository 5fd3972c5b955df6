"""Hot-vocabulary drafters against the full-head drafter and Universal Assisted Generation, measured by
`tokswap bench-draft` (one run per prompt set and draft setting, every drafter and UAG in the same run).

    python benchmarks/draft_vocab.py --drafter drafter/ [--target gemma-3-270m] [--uag smollm2-135m]
        [--calibration ../shared/corpus/train] [--keeps 8192 16384 32768 65536] [--text-keep 32768]
        [--draft-tokens 3] [--confidence-threshold 0] [--prompt-sets default dev] [--work DIR] [--reuse] [--json FILE]

One `tokswap draft-vocab` calibration (the target's greedy continuations of prompts cut from the training
texts) makes a folder per N; `--text-keep` adds one ranked by the plain tokenized text instead, to compare the
two calibrations. Dev prompts are cut from `shared/corpus/dev`, which calibration never saw.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from measure import dev_prompts, measured_run

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
DEV_DOMAINS = ("en", "de", "fr", "es", "zh", "code")


def build(drafter: str, target: str, calibration: Path, keeps: list[int], text_keep: int | None, work: Path) -> dict[str, Path]:
    """Drafter folders by label: the full head, one per N, and the text-ranked one."""
    folders = {"full": Path(drafter)}
    result, wall, peak = measured_run(["tokswap", "draft-vocab", drafter, "--target", target, "--calibration", str(calibration), "--keep", *map(str, keeps), "-o", str(work / "hot-{keep}"), "--force"])
    reports = json.loads(result.stdout)
    for report in reports if isinstance(reports, list) else [reports]:
        folders[f"hot {report['keep']}"] = Path(report["output"])
        print(f"draft-vocab N={report['keep']}: coverage {report['coverage']}")
    print(f"draft-vocab (generated calibration, {len(keeps)} folders): {wall:.0f} s, peak {peak / 2**30:.2f} GiB")
    if text_keep:
        out = work / f"hot-text-{text_keep}"
        result, wall, _ = measured_run(["tokswap", "draft-vocab", drafter, "--target", target, "--calibration", str(calibration), "--keep", str(text_keep), "-o", str(out), "--source", "text", "--force"])
        folders[f"hot {text_keep} text"] = out
        print(f"draft-vocab N={text_keep} (text calibration): coverage {json.loads(result.stdout)['coverage']}, {wall:.0f} s")
    return folders


def bench(target: str, uag: str, folders: dict[str, Path], prompts: list[str] | None, settings: list[str], work: Path) -> dict:
    prompt_flag = []
    if prompts:
        file = work / "prompts.txt"
        file.write_text("\n".join(prompts) + "\n")
        prompt_flag = ["--prompts", str(file)]
    result, wall, peak = measured_run(["tokswap", "bench-draft", "--target", target, "--drafter", *map(str, folders.values()), "--uag", uag, *prompt_flag, *settings, "--json"])
    modes = json.loads(result.stdout)
    labels = {f"drafter:{path}": label for label, path in folders.items()}
    return {"wall": wall, "peak": peak, "modes": {labels.get(mode, mode): figures for mode, figures in modes.items()}}


def table(run: dict) -> str:
    modes = run["modes"]
    full, uag = modes["full"], modes["uag"]
    lines = [
        "| mode | head rows | tokens per target call | vs full | accepted per call | acceptance | drafter ms per token | vs full | cost ratio | wall s | vs UAG | speed-up at 10x / 100x | identical |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in modes.items():
        drafted = m.get("drafter_seconds_per_token")
        cells = [
            name,
            f"{m['head_rows']:,}" if m.get("head_rows") else "-",
            f"{m['tokens_per_target_call']:.2f}",
            f"{m['tokens_per_target_call'] / full['tokens_per_target_call'] - 1:+.1%}" if drafted and name != "uag" else "-",
            f"{m['mean_accepted']:.2f}",
            f"{m['acceptance']:.1%}" if m.get("acceptance") is not None else "-",
            f"{1000 * drafted:.1f}" if drafted else "-",
            f"{drafted / full['drafter_seconds_per_token']:.2f}" if drafted else "-",
            f"{m['cost_ratio']:.2f}" if m.get("cost_ratio") else "-",
            f"{m['seconds']:.1f}",
            f"{m['seconds'] / uag['seconds']:.2f}",
            f"{m['projected_speedup_10x']:.2f} / {m['projected_speedup_100x']:.2f}" if m.get("projected_speedup_10x") else "-",
            str(m["identical_to_target"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drafter", required=True, help="the full-vocabulary drafter folder (a transplant onto the target's tokenizer)")
    parser.add_argument("--target", default="gemma-3-270m")
    parser.add_argument("--uag", default="smollm2-135m", help="the original source model, for Universal Assisted Generation")
    parser.add_argument("--calibration", type=Path, default=CORPUS / "train")
    parser.add_argument("--keeps", type=int, nargs="+", default=[8192, 16384, 32768, 65536])
    parser.add_argument("--text-keep", type=int, default=32768, help="also rank this N by the text alone (0: skip)")
    parser.add_argument("--draft-tokens", type=int, nargs="+", default=[3], help="one bench-draft run per value")
    parser.add_argument("--confidence-threshold", default="0", help="bench-draft's value ('default' keeps transformers')")
    parser.add_argument("--prompt-sets", nargs="+", choices=("default", "dev"), default=["default", "dev"])
    parser.add_argument("--dev", type=Path, default=CORPUS / "dev")
    parser.add_argument("--work", type=Path, help="where the hot folders go (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="bench the hot-* folders already in --work instead of building them")
    parser.add_argument("--json", metavar="FILE", help="also write every figure here")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="draft-vocab-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        folders = {"full": Path(args.drafter), **{f"hot {keep}": work / f"hot-{keep}" for keep in args.keeps}}
        folders.update({f"hot {args.text_keep} text": work / f"hot-text-{args.text_keep}"} if args.text_keep else {})
    else:
        folders = build(args.drafter, args.target, args.calibration, args.keeps, args.text_keep or None, work)
    prompt_sets = {"default": None, "dev": dev_prompts(args.dev, DEV_DOMAINS)}
    threshold = [] if args.confidence_threshold == "default" else ["--confidence-threshold", args.confidence_threshold]
    figures = {}
    for tokens in args.draft_tokens:
        for name in args.prompt_sets:
            settings = ["--draft-tokens", str(tokens), "--schedule", "constant", *threshold]
            run = bench(args.target, args.uag, folders, prompt_sets[name], settings, work)
            figures[f"{name} prompts, {' '.join(settings)}"] = run
            print(f"\n### {name} prompts, `{' '.join(settings)}` (bench-draft {run['wall']:.0f} s, peak {run['peak'] / 2**30:.2f} GiB)\n")
            print(table(run), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
