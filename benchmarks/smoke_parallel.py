"""Wall time of the smoke test's 20 endpoint checks, each answering in 300 ms, against local servers.

The state machine checks every endpoint at once (Map); here the same checks run as the Map runs
them, one concurrent call per endpoint (the check function's handler), and through
hooks.smoke.run_checks. Target: within 1.2x of the slowest single check. Prints figures; never fails.

    python benchmarks/smoke_parallel.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rollback_guard.hooks import smoke_check
from rollback_guard.hooks.smoke import EndpointCheck, run_checks
from rollback_guard.hooks.timing import Deadline
from tests.smoke_targets import SmokeTargets

ENDPOINTS = 20
DELAY_MS = 300
TARGET_RATIO = 1.2


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main(rounds: int) -> None:
    targets = SmokeTargets()
    try:
        path = f"/slow/{DELAY_MS}"
        no_deadline = Deadline(None)
        single = max(timed(lambda: EndpointCheck(targets.url(path))(no_deadline)) for _ in range(3))
        event = {"baseUrl": targets.url(""), "check": {"path": path}}

        def like_the_map_state() -> None:
            with ThreadPoolExecutor(ENDPOINTS) as pool:
                list(pool.map(lambda _: smoke_check.handler(event), range(ENDPOINTS)))

        as_map = [timed(like_the_map_state) for _ in range(rounds)]
        checks = [EndpointCheck(targets.url(path))] * ENDPOINTS
        batched = [timed(lambda: run_checks(checks, no_deadline)) for _ in range(rounds)]
    finally:
        targets.stop()
    print(f"{ENDPOINTS} endpoints answering in {DELAY_MS} ms, median of {rounds} rounds")
    print(f"  slowest single check          {single * 1000:7.1f} ms")
    for label, times in (("as the Map state runs them", as_map), ("through run_checks", batched)):
        ratio = statistics.median(times) / single
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        median_ms = statistics.median(times) * 1000
        print(f"  {label:<29} {median_ms:7.1f} ms  ({ratio:.2f}x; target {TARGET_RATIO}x: {verdict})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
