"""The rollback budget of every release path of a stack: the detection model's figures
(rollback_guard/detection.py) at the traffic the stack declares (expectedRequestsPerSecond).

Per path and scenario (a version failing every request that the probes see, or that only real
traffic shows; one failing 20% that the probes miss; a 5% regression against a 0.1% baseline;
healthy releases at 0.1% and at the alarms' threshold), for the static alarms alone, the judge
with its probes, and everything that runs together: median and p95 time to restore, exposure,
errors served, the share of bad releases never rolled back and of healthy ones rolled back. Plus
the traffic below which the alarms' minimum-traffic guard blinds them at each step, and the
assumptions behind every figure (rollback_guard/detection.py ASSUMPTIONS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rollback_guard.detection import (
    ASSUMPTIONS,
    HEALTHY_BASELINE,
    ROLLBACK_SECONDS,
    Assessment,
    Outcome,
    PathModel,
    Schedule,
    codedeploy_schedule,
    share_at,
    simulate_detectors,
)
from settings import Settings

__all__ = ["ASSUMPTIONS", "ROLLBACK_SECONDS", "Budget", "Scenario", "budgets", "codedeploy_schedule", "share_at"]

# Runs per scenario: enough for stable medians and p95s in a few seconds per stack.
PLAN_RUNS = 400
PLAN_HEALTHY_RUNS = 600
PLAN_SEED = 2026
PLAN_DETECTORS = ("static", "judge+probes", "all")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    baseline: float | None  # the old version's error rate; None: the alarms' threshold
    new_error: float | None  # the new version's; None: the same as the old one (a healthy release)
    probes_exercise_failure: bool

    def rates(self, path: PathModel) -> tuple[float, float]:
        baseline = path.threshold_percent / 100 if self.baseline is None else self.baseline
        return baseline, baseline if self.new_error is None else self.new_error

    @property
    def healthy(self) -> bool:
        return self.new_error is None or self.new_error == self.baseline


SCENARIOS = (
    Scenario("fails-every-request-probed", "fails every request, probes see it", HEALTHY_BASELINE, 1.0, True),
    Scenario("fails-every-request", "fails every request, only real traffic shows it", HEALTHY_BASELINE, 1.0, False),
    Scenario("fails-20-percent", "fails 20%, only real traffic shows it", HEALTHY_BASELINE, 0.2, False),
    Scenario("regression-5-percent", "fails 5% (old 0.1%), only real traffic shows it", HEALTHY_BASELINE, 0.05, False),
    Scenario("healthy", "healthy, 0.1% errors", HEALTHY_BASELINE, None, False),
    Scenario("healthy-at-threshold", "healthy, errors at the threshold", None, None, False),
)


@dataclass(frozen=True)
class Blindness:
    """Below `requests_per_second` overall, the alarm that judges the new version sees fewer than
    its guard's requests a period while it has `share_percent` of the traffic."""

    share_percent: float
    requests_per_second: float


@dataclass(frozen=True)
class Budget:
    path: str
    strategy: str
    config: str
    requests_per_second: float
    schedule: Schedule
    rollback_seconds: int
    # How long the alarms (and the judge) still roll back after the last shift (termination wait,
    # bake time, or the Lambda post-traffic hook's watch).
    watch_after_last_shift_seconds: int
    threshold_percent: float
    # The minimum-traffic guard: requests of the new version an alarm period needs.
    guard_requests: int
    period_seconds: int
    judged: bool
    # scenario key -> detector -> outcome
    outcomes: dict[str, dict[str, Outcome]]
    assessment: Assessment

    @property
    def blind_below(self) -> list[Blindness]:
        shares = sorted({share for _, share in self.schedule})
        return [
            Blindness(share, round(self.guard_requests / (share / 100 * self.period_seconds), 2)) for share in shares
        ]

    @property
    def recovery_seconds(self) -> int:
        """The p95 time to restore traffic from a version failing every request that only real
        traffic shows, with everything that runs; the whole window when the model never rolls it
        back. What a game day's drill must beat."""
        p95 = self.outcomes["fails-every-request"]["all"].restore_p95_s
        if p95 is None:
            return self.schedule[-1][0] + self.watch_after_last_shift_seconds + self.rollback_seconds
        return math.ceil(p95)

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "strategy": self.strategy,
            "config": self.config,
            "requests_per_second": self.requests_per_second,
            "schedule": [list(step) for step in self.schedule],
            "rollback_seconds": self.rollback_seconds,
            "watch_after_last_shift_seconds": self.watch_after_last_shift_seconds,
            "threshold_percent": self.threshold_percent,
            "guard_requests": self.guard_requests,
            "period_seconds": self.period_seconds,
            "judged": self.judged,
            "recovery_seconds": self.recovery_seconds,
            "scenarios": [
                {
                    "scenario": scenario.key,
                    "title": scenario.title,
                    "baseline": scenario.rates(self._model)[0],
                    "new_error": scenario.rates(self._model)[1],
                    "probes_exercise_failure": scenario.probes_exercise_failure,
                    "detectors": {name: outcome.as_dict() for name, outcome in self.outcomes[scenario.key].items()},
                }
                for scenario in SCENARIOS
            ],
            "assessment": self.assessment.as_dict(),
            "blind_below": [
                {"share_percent": b.share_percent, "requests_per_second": b.requests_per_second}
                for b in self.blind_below
            ],
        }

    @property
    def _model(self) -> PathModel:
        return self.assessment.path


def budgets(settings: Settings, runs: int = PLAN_RUNS, healthy_runs: int = PLAN_HEALTHY_RUNS) -> list[Budget]:
    """One per release path: each service, then each function, in the stack file's order."""
    paths = [PathModel.from_service(service) for service in settings.services]
    paths += [PathModel.from_function(function) for function in settings.functions]
    return [budget_of(path, runs=runs, healthy_runs=healthy_runs) for path in paths]


def budget_of(path: PathModel, runs: int = PLAN_RUNS, healthy_runs: int = PLAN_HEALTHY_RUNS) -> Budget:
    if path.requests_per_second is None:
        raise ValueError(f"{path.name}: the model needs the traffic the stack declares (expectedRequestsPerSecond)")
    outcomes = {}
    for scenario in SCENARIOS:
        baseline, new_error = scenario.rates(path)
        outcomes[scenario.key] = simulate_detectors(
            path,
            path.requests_per_second,
            baseline,
            new_error,
            PLAN_DETECTORS,
            probes_exercise_failure=scenario.probes_exercise_failure,
            runs=healthy_runs if scenario.healthy else runs,
            seed=PLAN_SEED,
            keep_samples=scenario.key == "fails-every-request",  # for the timeline's picture
        )
    return Budget(
        path=path.name,
        strategy=path.strategy,
        config=path.config,
        requests_per_second=path.requests_per_second,
        schedule=path.schedule,
        rollback_seconds=path.rollback_seconds,
        watch_after_last_shift_seconds=path.watch_seconds,
        threshold_percent=path.threshold_percent,
        guard_requests=path.guard,
        period_seconds=path.period_seconds,
        judged=path.judged,
        outcomes=outcomes,
        assessment=Assessment.of(
            path,
            path.requests_per_second,
            outcomes["fails-every-request"]["all"],
            outcomes["fails-every-request-probed"]["all"],
            outcomes["fails-every-request"]["static"],
            outcomes["healthy-at-threshold"]["static"],
        ),
    )
