"""llama.cpp runs the exported drafter: speculative decoding against the target GGUF, and perplexity on dev text.

Exports a drafter folder with `tokswap export-gguf` per weight type (wall time, peak memory), checks each file
with `tokswap verify FILE.gguf --target TARGET`, then for every prompt runs, greedily and on all cores:
the target alone (`llama-simple`), the target drafting for itself, and the target with the exported drafter
(`llama-speculative-simple --spec-type draft-simple`), and compares their outputs; then `llama-perplexity` on
the first characters of each dev text for each exported drafter and the original source GGUF, turned into bits
per byte with the file's own token count (`llama-tokenize`). The llama.cpp tools are built once into the cache.

    PYTHONPATH=. python benchmarks/llamacpp_draft.py --drafter OUT/ [--target gemma-3-270m] [--source smollm2-135m]
        [--types f16 q8_0] [--data ../shared/corpus/dev] [--draft-max 3] [--skip-perplexity] [--bench-draft] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from llamacpp_build import built_tool, llamacpp_ids
from measure import dev_prompts, measured_run

from tokswap.drafting.prompts import BUILT_IN_PROMPTS
from tokswap.specs import resolve

DEV = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"


def _number(pattern: str, text: str) -> float:
    return float(re.search(pattern, text).group(1))


def _run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=900)  # a run may stop inside a character
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return done


def same_output(a: str, b: str) -> bool:
    """Greedy outputs agree: a run that drafts stops at a round's end, so one may run a few tokens past the other."""
    a, b = a.strip(), b.strip()
    return a.startswith(b) or b.startswith(a)


def target_alone(target: Path, prompt: str, tokens: int) -> dict:
    done = _run([str(built_tool("llama-simple")), "-m", str(target), "-n", str(tokens), prompt])
    return {"text": done.stdout, "tokens_per_second": _number(r"speed:\s*([\d.]+) t/s", done.stderr)}


def speculative(target: Path, drafter: Path, prompt: str, tokens: int, draft_max: int, one_at_a_time: bool = False) -> dict:
    """`one_at_a_time` makes the target evaluate every token alone (`-ub 1`), as when it decodes by itself: batched
    verification rounds differently, which can flip a near-tie, so outputs are compared under it."""
    command = [str(built_tool("llama-speculative-simple")), "-m", str(target), "-md", str(drafter), "--spec-type", "draft-simple"]
    command += ["-p", prompt, "-n", str(tokens), "--temp", "0", "--spec-draft-n-max", str(draft_max)]
    command += ["-ub", "1"] if one_at_a_time else []
    done = _run(command)
    drafted, accepted = _number(r"n_drafted\s*=\s*(\d+)", done.stderr), _number(r"n_accept\s*=\s*(\d+)", done.stderr)
    rounds = drafted / draft_max  # with --draft-p-min 0 every round drafts draft_max tokens
    return {
        "text": done.stdout.strip(),
        "drafted": int(drafted),
        "accepted": int(accepted),
        "acceptance": accepted / drafted if drafted else 0.0,
        "tokens_per_target_call": 1 + accepted / rounds if rounds else 1.0,
        "tokens_per_second": _number(r"decoded\s+\d+ tokens in\s+[\d.]+ seconds, speed:\s*([\d.]+) t/s", done.stderr),
        "incompatible": "not compatible" in done.stderr or "must match" in done.stderr,
    }


def bits_per_byte(model: Path, text_file: Path, context: int) -> dict:
    done = _run([str(built_tool("llama-perplexity")), "-m", str(model), "-f", str(text_file), "-c", str(context)])
    ppl = _number(r"Final estimate: PPL = ([\d.]+)", done.stderr)
    text = text_file.read_text()
    tokens = len(llamacpp_ids(built_tool("llama-tokenize"), model, text))
    return {"ppl": ppl, "bits_per_byte": math.log2(ppl) * tokens / len(text.encode("utf-8")), "tokens": tokens}


def export(drafter: Path, out: Path, kind: str) -> dict:
    result, wall, peak = measured_run(["tokswap", "export-gguf", str(drafter), "-o", str(out), "--type", kind, "--force"])
    report = json.loads(result.stdout)
    return {"wall_seconds": round(wall, 1), "export_seconds": report["seconds"], "peak_gb": round(peak / 1e9, 2), "bytes": report["bytes"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drafter", required=True, type=Path, help="a tokswap output folder")
    parser.add_argument("--target", default="gemma-3-270m")
    parser.add_argument("--source", default="smollm2-135m", help="the original drafter's GGUF, for perplexity")
    parser.add_argument("--types", nargs="+", default=["f16", "q8_0"])
    parser.add_argument("--data", type=Path, default=DEV)
    parser.add_argument("--domains", nargs="+", default=["en", "de", "code"])
    parser.add_argument("--chars", type=int, default=20000, help="characters of each dev text for perplexity")
    parser.add_argument("--context", type=int, default=512)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--draft-max", type=int, default=3)
    parser.add_argument("--skip-perplexity", action="store_true")
    parser.add_argument("--bench-draft", action="store_true", help="also run `tokswap bench-draft` on the folder with the same prompts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    target = resolve(args.target).path
    prompts = [p.text for p in BUILT_IN_PROMPTS] + dev_prompts(args.data, tuple(args.domains))
    figures: dict = {"exports": {}, "verify": {}, "prompts": prompts, "runs": [], "bits_per_byte": {}}
    work = Path(tempfile.mkdtemp(prefix="llamacpp-draft-"))
    files = {kind: work / f"drafter-{kind}.gguf" for kind in args.types}
    for kind, path in files.items():
        figures["exports"][kind] = export(args.drafter, path, kind)
        verify = subprocess.run(["tokswap", "verify", str(path), "--target", args.target], capture_output=True, text=True)
        figures["verify"][kind] = {"rc": verify.returncode, "lines": verify.stdout.splitlines()}
        print(f"export {kind}: {figures['exports'][kind]}; verify rc {verify.returncode}", file=sys.stderr, flush=True)
    for prompt in prompts:
        alone = target_alone(target, prompt, args.tokens)
        itself = speculative(target, target, prompt, args.tokens, args.draft_max)
        exact = speculative(target, target, prompt, args.tokens, args.draft_max, one_at_a_time=True)["text"]
        row = {"prompt": prompt[:40], "target_tps": alone["tokens_per_second"], "self": {k: v for k, v in itself.items() if k != "text"}}
        row["self"]["same_as_target_alone"] = same_output(itself["text"], alone["text"])
        for kind, path in files.items():
            run = speculative(target, path, prompt, args.tokens, args.draft_max)
            row[kind] = {k: v for k, v in run.items() if k != "text"}
            row[kind]["same_as_self_draft"] = same_output(run["text"], itself["text"])
            row[kind]["lossless"] = same_output(speculative(target, path, prompt, args.tokens, args.draft_max, one_at_a_time=True)["text"], exact)
        figures["runs"].append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    for domain in [] if args.skip_perplexity else args.domains:
        head = work / f"{domain}.txt"
        head.write_text((args.data / f"{domain}.txt").read_text()[: args.chars])
        models = {"source": resolve(args.source).path, "target": target, **files}
        figures["bits_per_byte"][domain] = {name: bits_per_byte(path, head, args.context) for name, path in models.items()}
        print(domain, json.dumps(figures["bits_per_byte"][domain]), file=sys.stderr, flush=True)
    if args.bench_draft:
        prompt_file = work / "prompts.txt"
        prompt_file.write_text("\n".join(p.replace("\n", " ") for p in prompts) + "\n")
        result, wall, _ = measured_run(["tokswap", "bench-draft", "--target", args.target, "--drafter", str(args.drafter), "--prompts", str(prompt_file), "--json"])
        figures["bench_draft"] = {"wall_seconds": round(wall, 1), **json.loads(result.stdout)}
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
    else:
        print(summary(figures, args.types))


def summary(figures: dict, kinds: list[str]) -> str:
    runs = figures["runs"]
    lines = ["mode            acceptance  tok/target call  tok/s   same as self-draft (batched / one token at a time)"]
    lines.append(f"{'target alone':15s} {'':>10s} {'1.00':>16s} {sum(r['target_tps'] for r in runs) / len(runs):6.1f}")
    for kind in ["self", *kinds]:
        rows = [r[kind] for r in runs]
        accepted, drafted = sum(r["accepted"] for r in rows), sum(r["drafted"] for r in rows)
        call = sum(r["tokens_per_target_call"] for r in rows) / len(rows)
        speed = sum(r["tokens_per_second"] for r in rows) / len(rows)
        same = "" if kind == "self" else f"{sum(r['same_as_self_draft'] for r in rows)}/{len(rows)} / {sum(r['lossless'] for r in rows)}/{len(rows)}"
        lines.append(f"{'target+' + kind:15s} {accepted / drafted:10.1%} {call:16.2f} {speed:6.1f}   {same}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
