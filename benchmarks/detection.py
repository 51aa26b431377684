"""How fast bad releases are rolled back, and how often healthy ones are: the detection model
(rollback_guard/detection.py) over a grid, for the static alarms and for the canary judge without and with its
probes, on the same simulated releases. Figures, then the issue's goals with PASS or FAIL and the
figures behind each; never an exit code.

Grid: Lambda linear and canary, ECS linear and canary, with the production stack's alarms, watch
and judge settings (Pulumi.prod.yaml; the canaries swap in the 10%-for-5-minutes configs);
overall traffic 0.2, 1, 10, 100 req/s; baseline error 0.1% and 1%; new-version error = baseline,
2%, 5%, 20%, 100%. A bad version is run twice, with probes that exercise its failure and with
probes that pass (a failure only real traffic shows), on the same traffic.

    python benchmarks/detection.py [--runs N] [--healthy-runs N] [--processes N]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rollback_guard.detection import ASSUMPTIONS, Outcome, PathModel, codedeploy_schedule, simulate_detectors  # noqa: E402
from rollback_guard.hooks.verdict import FALSE_ROLLBACK_BUDGET  # noqa: E402

TRAFFIC = (0.2, 1.0, 10.0, 100.0)
BASELINES = (0.001, 0.01)
NEW_ERRORS = (None, 0.02, 0.05, 0.2, 1.0)  # None: the baseline (a healthy release)
DETECTORS = ("static", "judge", "judge+probes")
# The goals' bounds (benchmarks/readme_figures.py reports the same goals): p95 time to restore a
# failure the probes see, and its p95 exposure; one only real traffic shows; 5% against 0.1%.
PROBED_P95_SECONDS, PROBED_EXPOSURE_PERCENT = 120, 15
REAL_TRAFFIC_P95_SECONDS = 240
REGRESSION_P95_SECONDS = 300
SEED = 15
# The issue's independent figures for the static alarms, from a model without the Lambda
# post-traffic watch (its deployments end at their last step).
ISSUE = (
    ("Lambda linear", 10.0, 1.0, "median 6.2, p95 7.3 min"),
    ("Lambda linear", 1.0, 1.0, "never rolled back"),
    ("Lambda canary", 10.0, 1.0, "93% never rolled back"),
    ("ECS linear", 0.2, 1.0, "never rolled back"),
)


def production_paths() -> dict[str, PathModel]:
    """The prod stack's paths, and each as a 10%-for-5-minutes canary."""
    from ops.offline import use_config
    from settings import load_settings

    use_config("prod", {})
    settings = load_settings()
    [service] = settings.services[:1]
    [function] = settings.functions[:1]
    ecs, lam = PathModel.from_service(service), PathModel.from_function(function)
    lambda_canary = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    ecs_canary = "CodeDeployDefault.ECSCanary10Percent5Minutes"
    return {
        "Lambda linear": lam,
        "Lambda canary": dataclasses.replace(lam, config=lambda_canary, schedule=codedeploy_schedule(lambda_canary)),
        "ECS linear": ecs,
        "ECS canary": dataclasses.replace(ecs, config=ecs_canary, schedule=codedeploy_schedule(ecs_canary)),
    }


@dataclasses.dataclass(frozen=True)
class Cell:
    name: str
    path: PathModel
    traffic: float
    baseline: float
    new_error: float

    @property
    def healthy(self) -> bool:
        return self.new_error == self.baseline


def run_cell(job: tuple[Cell, int]) -> tuple[Cell, dict[str, Outcome], Outcome | None]:
    """Every detector with probes that exercise the failure; then, for a bad version, the judge
    with probes that pass, on the same releases (same seed)."""
    cell, runs = job
    args = (cell.path, cell.traffic, cell.baseline, cell.new_error)
    caught = simulate_detectors(*args, DETECTORS, probes_exercise_failure=True, runs=runs, seed=SEED)
    passed = None
    if not cell.healthy:
        passed = simulate_detectors(*args, ("judge+probes",), probes_exercise_failure=False, runs=runs, seed=SEED)[
            "judge+probes"
        ]
    return cell, caught, passed


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def block(outcome: Outcome | None, healthy: bool) -> str:
    """restore median/p95 (min), exposure p95 (%), errors served p95, missed (or rolled back) %."""
    if outcome is None:
        return f"{'':>25}"
    if healthy:
        return f"{'rolled back':>15} {outcome.false_rollback_rate * 100:>8.2f}%"
    if not outcome.rollbacks:
        return f"{'never rolled back':>25}"
    restore = f"{_minutes(outcome.restore_median_s)}/{_minutes(outcome.restore_p95_s)}"
    return (
        f"{restore:>9} {outcome.exposure_p95_percent:>4.0f}% {outcome.errors_served_p95:>5.0f} "
        f"{_share(outcome.miss_rate):>5}"
    )


def _share(rate: float) -> str:
    """A percentage that never rounds a few runs to none or to all."""
    if 0 < rate < 0.01:
        return "<1%"
    if 0.99 < rate < 1:
        return ">99%"
    return f"{rate * 100:.0f}%"


def _rate(rate: float) -> str:
    return f"{rate * 100:g}%"


def print_grid(results) -> None:
    columns = ("static alarms", "judge (metrics only)", "judge+probes, probes catch", "judge+probes, probes pass")
    print(
        "Each detector: time to restore median/p95 (min) · exposure p95 (% of traffic) · errors served p95 · "
        "bad releases never rolled back; healthy rows: releases rolled back."
    )
    print(f"{'path':<14}{'req/s':>6}{'base':>6}{'new':>6}{'floor p95':>10}  " + "  ".join(f"{c:>25}" for c in columns))
    for cell, caught, passed in results:
        floor = caught["static"].floor_p95_s
        print(
            f"{cell.name:<14}{cell.traffic:>6g}{_rate(cell.baseline):>6}{_rate(cell.new_error):>6}"
            f"{_minutes(floor):>10}  "
            + "  ".join(
                block(outcome, cell.healthy)
                for outcome in (caught["static"], caught["judge"], caught["judge+probes"], passed)
            )
        )


def goal(title: str, rows: list[tuple[Cell, Outcome]], check, figures, worst=None) -> bool:
    """PASS when `check` holds for every row; the figures of every failing row, or of the two
    worst (by `worst`, by default the p95 time to restore) when all pass."""
    failing = [(cell, outcome) for cell, outcome in rows if not check(outcome)]
    verdict = "PASS" if not failing else "FAIL"
    print(f"{verdict}: {title} ({len(rows) - len(failing)} of {len(rows)} cells)")
    worst = worst or (lambda outcome: outcome.restore_p95_s or math.inf)
    for cell, outcome in failing or sorted(rows, key=lambda row: -worst(row[1]))[:2]:
        floor = outcome.floor_p95_s
        print(
            f"    {cell.name}, {cell.traffic:g} req/s, baseline {_rate(cell.baseline)}, new {_rate(cell.new_error)}: "
            f"{figures(outcome)}" + (f"; 1-minute floor p95 {floor / 60:.1f} min" if floor else "")
        )
    return not failing


def _restore(outcome: Outcome) -> str:
    return (
        f"restore p95 {_minutes(outcome.restore_p95_s)} min, missed {outcome.miss_rate * 100:.1f}%, "
        f"exposure p95 {outcome.exposure_p95_percent:g}%"
    )


def print_goals(results) -> None:
    caught = [(cell, out["judge+probes"]) for cell, out, _ in results if not cell.healthy]
    passed = [(cell, out) for cell, _, out in results if not cell.healthy]
    healthy = [(cell, out["judge+probes"]) for cell, out, _ in results if cell.healthy]
    print("\nGoals for the judge with probes, on the production settings:")
    goal(
        "a version failing >= 20% of the requests its probes exercise, at >= 1 req/s: p95 <= 2 min to restore, "
        "0 misses, p95 exposure <= 15%",
        [(c, o) for c, o in caught if c.new_error >= 0.2 and c.traffic >= 1],
        lambda o: (
            o.miss_rate == 0
            and o.restore_p95_s <= PROBED_P95_SECONDS
            and o.exposure_p95_percent <= PROBED_EXPOSURE_PERCENT
        ),
        _restore,
    )
    goal(
        "a failure only real traffic shows (probes pass), >= 20% of requests at >= 1 req/s: p95 <= 4 min, 0 misses",
        [(c, o) for c, o in passed if c.new_error >= 0.2 and c.traffic >= 1],
        lambda o: o.miss_rate == 0 and o.restore_p95_s <= REAL_TRAFFIC_P95_SECONDS,
        _restore,
    )
    for probes, rows in (("probes pass", passed), ("probes catch it", caught)):
        goal(
            f"a 5% error rate against a 0.1% baseline at >= 10 req/s ({probes}): p95 <= 5 min",
            [(c, o) for c, o in rows if c.new_error == 0.05 and c.baseline == 0.001 and c.traffic >= 10],
            lambda o: o.miss_rate == 0 and o.restore_p95_s <= REGRESSION_P95_SECONDS,
            _restore,
        )
    goal(
        "healthy releases, baseline up to 1% (probes failing at the baseline rate): <= 0.5% rolled back",
        healthy,
        lambda o: o.false_rollback_rate <= FALSE_ROLLBACK_BUDGET,
        lambda o: f"{o.false_rollback_rate * 100:.2f}% of {o.runs} rolled back",
        worst=lambda o: o.false_rollback_rate,
    )


def print_issue_check(paths: dict[str, PathModel], runs: int) -> None:
    print("\nThe issue's independent static-alarm figures, against this model without the Lambda post-traffic watch:")
    for name, traffic, new_error, theirs in ISSUE:
        outcome = simulate_detectors(paths[name], traffic, 0.001, new_error, ("static",), runs=runs, seed=SEED)[
            "static"
        ]
        bare = simulate_detectors(
            paths[name], traffic, 0.001, new_error, ("static",), runs=runs, seed=SEED, post_shift_watch=False
        )["static"]
        print(
            f"  {name} {traffic:g} req/s, failing every request: issue {theirs}; model without the watch: "
            f"{_summary(bare)}; with the watch the stack has: {_summary(outcome)}"
        )


def _summary(outcome: Outcome) -> str:
    if not outcome.rollbacks:
        return "never rolled back"
    return (
        f"median {_minutes(outcome.restore_median_s)}, p95 {_minutes(outcome.restore_p95_s)} min, "
        f"{outcome.miss_rate * 100:.0f}% never rolled back"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="runs per bad cell")
    parser.add_argument("--healthy-runs", type=int, default=4000, help="runs per healthy cell")
    parser.add_argument("--processes", type=int, default=min(2, multiprocessing.cpu_count()))
    args = parser.parse_args()
    started = time.perf_counter()
    paths = production_paths()
    print("Detection model (rollback_guard/detection.py); assumptions AWS does not document:")
    for assumption in ASSUMPTIONS:
        print(f"  {assumption.line()}")
    print(
        f"Paths: {', '.join(f'{name} = {path.config}' for name, path in paths.items())}; alarms "
        f"{next(iter(paths.values())).datapoints_to_alarm} of {next(iter(paths.values())).evaluation_periods} "
        f"at {next(iter(paths.values())).threshold_percent:g}%, guard {next(iter(paths.values())).guard}; "
        f"probes {next(iter(paths.values())).probes_per_second:g}/s. Runs: {args.runs} a bad cell, "
        f"{args.healthy_runs} a healthy one, seed {SEED}.\n"
    )
    cells = [
        Cell(name, path, traffic, baseline, baseline if new is None else new)
        for name, path in paths.items()
        for traffic in TRAFFIC
        for baseline in BASELINES
        for new in NEW_ERRORS
    ]
    jobs = [(cell, args.healthy_runs if cell.healthy else args.runs) for cell in cells]
    # Healthy cells are the slow ones: start them first so the processes finish together.
    order = sorted(range(len(jobs)), key=lambda i: not jobs[i][0].healthy)
    with multiprocessing.Pool(args.processes) as pool:
        done = dict(zip(order, pool.map(run_cell, [jobs[i] for i in order], chunksize=1), strict=True))
    results = [done[i] for i in range(len(jobs))]
    print_grid(results)
    print_goals(results)
    print_issue_check(paths, args.runs)
    print(f"\n{len(cells)} cells in {time.perf_counter() - started:.0f} s on {args.processes} processes")


if __name__ == "__main__":
    main()
