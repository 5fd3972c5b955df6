"""Run a command in a child process and measure its wall time and its own peak memory."""

from __future__ import annotations

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


def measured_run(command: list[str]) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run `command`; return it, its wall seconds and its peak RSS in bytes.

    The child is started by a small launcher, GNU time or else RUSAGE_PROBE, never straight from here: a
    process forked from this one starts with this one's memory high-water mark (which building the model
    raised to a shard's size), and ru_maxrss would report that instead of the child's own peak.
    """
    launcher = [str(TIME), "-v"] if TIME.exists() else [sys.executable, "-c", RUSAGE_PROBE]
    start = time.perf_counter()
    result = subprocess.run([*launcher, *command], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-4000:]}")
    line = next(line for line in reversed(result.stderr.splitlines()) if MAXRSS_LINE in line)
    return result, wall, int(line.rsplit(":", 1)[1]) * 1024
