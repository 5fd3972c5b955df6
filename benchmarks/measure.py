"""What the benchmarks share: a child process's wall time and own peak memory, and bits per byte of outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

TIME = Path("/usr/bin/time")
MAXRSS_LINE = "Maximum resident set size (kbytes):"
RUSAGE_PROBE = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    f"print('{MAXRSS_LINE}', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def measured_run(command: list[str], cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run `command` (in `cwd`); return it, its wall seconds and its peak RSS in bytes.

    The child is started by a small launcher, GNU time or else RUSAGE_PROBE, never straight from here: a
    process forked from this one starts with this one's memory high-water mark (which building the model
    raised to a shard's size), and ru_maxrss would report that instead of the child's own peak.
    """
    launcher = [str(TIME), "-v"] if TIME.exists() else [sys.executable, "-c", RUSAGE_PROBE]
    start = time.perf_counter()
    result = subprocess.run([*launcher, *command], capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-4000:]}")
    line = next(line for line in reversed(result.stderr.splitlines()) if MAXRSS_LINE in line)
    return result, wall, int(line.rsplit(":", 1)[1]) * 1024


def bits_per_byte(outputs: dict[str, Path], data: Path, domains: list[str], chars: int, work: Path, window: int | None = None) -> dict:
    """`tokswap eval` of each output on the first `chars` characters of each domain's text in `data`
    (`window` tokens per window, or eval's default)."""
    files = []
    for domain in domains:
        head = work / "texts" / f"{domain}.txt"
        head.parent.mkdir(parents=True, exist_ok=True)
        head.write_text((data / f"{domain}.txt").read_text()[:chars])
        files.append(str(head))
    window_flag = ["--window", str(window)] if window else []
    result, _, _ = measured_run(["tokswap", "eval", *map(str, outputs.values()), "--data", *files, *window_flag, "--json"])
    models = json.loads(result.stdout)["models"]
    return {name: {domain: round(models[str(path)][domain]["bits_per_byte"], 4) for domain in domains} for name, path in outputs.items()}


def print_bits_per_byte(bpb: dict[str, dict[str, float]]) -> None:
    """The table of bits per byte, then each method's ratio to `subword`."""
    domains = list(bpb["subword"])
    width = max(len(f"{name} / subword") for name in bpb) + 1
    print(f"\n{'bits per byte':{width}s}" + "".join(f"{d:>8s}" for d in domains))
    for name, row in bpb.items():
        print(f"{name:{width}s}" + "".join(f"{row[d]:8.4f}" for d in domains))
    for name in bpb:
        if name != "subword":
            print(f"{name + ' / subword':{width}s}" + "".join(f"{bpb[name][d] / bpb['subword'][d]:8.4f}" for d in domains))


def dev_prompts(data: Path, domains: tuple[str, ...] = ("en", "de", "code"), per_domain: int = 1) -> list[str]:
    """`per_domain` prompts per domain: lines of at least 60 characters, evenly spaced from the first, cut to 200."""
    prompts = []
    for domain in domains:
        lines = [line for line in (data / f"{domain}.txt").read_text().splitlines() if len(line) >= 60]
        prompts += [lines[i * len(lines) // per_domain][:200] for i in range(per_domain)]
    return prompts
