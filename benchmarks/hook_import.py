"""Cold import time of each hook module against importing boto3 alone.

A hook's cold start pays for its imports; clients are created lazily, so a hook module should cost
little more than boto3 itself. Target: within 100 ms of `import boto3`. Prints figures; never fails.

    python benchmarks/hook_import.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = (
    "boto3",
    "rollback_guard.hooks.pre_traffic",
    "rollback_guard.hooks.post_traffic",
    "rollback_guard.hooks.test_traffic",
)
TARGET_MS = 100.0


def cold_import_ms(module: str) -> float:
    """One fresh interpreter, one import, timed inside the interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(result.stdout)


def main(runs: int) -> None:
    for module in MODULES:  # warm the file cache so the first module measured is not penalised
        cold_import_ms(module)
    samples: dict[str, list[float]] = {module: [] for module in MODULES}
    for _ in range(runs):  # round-robin, so drift in machine load hits every module alike
        for module in MODULES:
            samples[module].append(cold_import_ms(module))
    medians = {module: statistics.median(times) for module, times in samples.items()}
    baseline = medians["boto3"]
    print(f"cold import, median of {runs} fresh interpreters")
    for module, median in medians.items():
        extra = median - baseline
        verdict = "met" if extra <= TARGET_MS else "MISSED"
        versus = "" if module == "boto3" else f"  ({extra:+.1f} ms vs boto3; target +{TARGET_MS:.0f} ms: {verdict})"
        print(f"  {module:<20} {median:7.1f} ms{versus}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
