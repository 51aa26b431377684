"""Wall time of `python -m ops plan STACK` (ops/cache.py keeps its results), in fresh interpreters:

- cold: an empty cache directory (the plan is computed, then stored);
- warm: the second run on the same inputs (printed from the cache);
- uncached: `--no-cache` (computed, nothing read or stored).

Target: warm within 3 s. Each run gets a cache directory of its own under a temporary folder
($ROLLBACK_GUARD_CACHE_DIR), so the user's cache is neither used nor changed. Also says whether
every run printed the same bytes and drew the same PNG. Prints figures; never fails.

    python benchmarks/plan_speed.py [stack] [runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 3.0


def timed_plan(stack: str, png: Path, cache_dir: Path, *flags: str) -> tuple[float, bytes, bytes]:
    """Seconds, stdout and the PNG of one `python -m ops plan` in a fresh interpreter."""
    environment = {**os.environ, "ROLLBACK_GUARD_CACHE_DIR": str(cache_dir)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ops", "plan", stack, "--png", str(png), *flags],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started, done.stdout, png.read_bytes()


def main(stack: str, runs: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        png = folder / "plan.png"  # one path for every run: it is part of the key
        timed_plan(stack, png, folder / "warm-up", "--no-cache")  # bytecode and the file cache, not measured
        samples: dict[str, list[float]] = {"cold": [], "warm": [], "uncached": []}
        printed = set()
        for run in range(runs):  # round-robin, so drift in machine load hits every kind alike
            cache_dir = folder / f"cache-{run}"
            for kind, flags in (("cold", ()), ("warm", ()), ("uncached", ("--no-cache",))):
                seconds, out, picture = timed_plan(stack, png, cache_dir, *flags)
                samples[kind].append(seconds)
                printed.add((out, picture))
    print(f"python -m ops plan {stack}: wall time, median (min-max) of {runs} fresh interpreters")
    for kind, times in samples.items():
        line = f"  {kind:<9} {statistics.median(times):6.2f} s ({min(times):.2f}-{max(times):.2f})"
        if kind == "warm":
            verdict = "met" if statistics.median(times) <= TARGET_SECONDS else "MISSED"
            line += f"  (target {TARGET_SECONDS:g} s: {verdict})"
        print(line)
    same = "yes" if len(printed) == 1 else f"NO: {len(printed)} different outputs"
    print(f"  every run printed the same bytes and drew the same PNG: {same}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "prod", int(sys.argv[2]) if len(sys.argv) > 2 else 3)
