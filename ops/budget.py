"""The rollback budget of every release path of a stack, from its settings alone.

For each path: how long a bad version takes to be detected at worst (AlarmEvaluation.
worst_detection_seconds: the partial first period, the alarm's M periods, the slowest ingestion
delay observed, one evaluation), how long the rollback itself takes, the worst share of traffic on
the bad version before traffic is back (the share shifted by the time the alarm fires, if the
version fails from its first request), how long the alarms still roll back after the last shift,
and the traffic below which they cannot see a regression at all: the per-version alarm counts
nothing in a period with fewer than its guard's requests of the new version.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from rollback_guard.components.codedeploy import TimeBasedShift
from rollback_guard.components.ecs_service import CodeDeployBlueGreen, NativeShift, Rolling
from settings import Settings

# How long putting traffic back takes once the alarm has fired.
ROLLBACK_SECONDS = {
    "codedeploy-blue-green": 60,  # CodeDeploy reroutes the listeners to blue, still running
    "ecs-blue-green": 60,  # ECS restores the listener rule weights to blue
    "ecs-canary": 60,
    "ecs-linear": 60,
    "rolling": 180,  # ECS must start tasks of the previous revision again
    "lambda-canary": 10,  # CodeDeploy flips the alias back
}

# (seconds after the release starts, percent of traffic on the new version from then on)
Schedule = list[tuple[int, float]]


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
    detect_seconds: int
    rollback_seconds: int
    worst_share_percent: float
    schedule: Schedule
    # How long the alarms still roll back after the last shift (termination wait, bake time, or the
    # Lambda post-traffic hook's watch).
    watch_after_last_shift_seconds: int
    # The minimum-traffic guard: requests of the new version an alarm period needs.
    guard_requests: int
    period_seconds: int

    @property
    def blind_below(self) -> list[Blindness]:
        shares = sorted({share for _, share in self.schedule})
        return [
            Blindness(share, round(self.guard_requests / (share / 100 * self.period_seconds), 2)) for share in shares
        ]

    @property
    def recovery_seconds(self) -> int:
        return self.detect_seconds + self.rollback_seconds

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "recovery_seconds": self.recovery_seconds,
            "blind_below": [asdict(blindness) for blindness in self.blind_below],
        }


def budgets(settings: Settings) -> list[Budget]:
    """One per release path: each service, then each function, in the stack file's order."""
    found = []
    for service in settings.services:
        evaluation, deployment = service.alarms.evaluation, service.deployment
        found.append(
            _budget(
                service.name,
                deployment.strategy_name,
                evaluation.worst_detection_seconds,
                _ecs_schedule(deployment),
                watch_seconds=_ecs_watch_minutes(deployment) * 60,
                guard=service.alarms.minimum_requests,
                period=evaluation.period_seconds,
            )
        )
    for function in settings.functions:
        found.append(
            _budget(
                function.name,
                "lambda-canary",
                function.evaluation.worst_detection_seconds,
                codedeploy_schedule(function.deployment_config),
                watch_seconds=function.watch_minutes * 60,
                guard=function.minimum_invocations,
                period=function.evaluation.period_seconds,
            )
        )
    return found


def share_at(schedule: Schedule, seconds: float) -> float:
    """The share of traffic on the new version `seconds` after the release started."""
    return max((share for start, share in schedule if start <= seconds), default=0.0)


def codedeploy_schedule(config: str | TimeBasedShift) -> Schedule:
    if isinstance(config, TimeBasedShift):
        kind, percentage, interval = config.kind, config.percentage, config.interval_minutes
    elif "AllAtOnce" in config:
        return [(0, 100.0)]
    else:  # e.g. CodeDeployDefault.ECSLinear10PercentEvery1Minutes, LambdaCanary10Percent5Minutes
        kind = "linear" if "Linear" in config else "canary"
        numbers = [int(n) for n in "".join(c if c.isdigit() else " " for c in config).split()]
        percentage, interval = numbers[0], numbers[1]
    if kind == "canary":
        return [(0, float(percentage)), (interval * 60, 100.0)]
    return _linear(percentage, interval * 60)


def _ecs_watch_minutes(deployment) -> int:
    strategy = deployment.strategy
    if isinstance(strategy, CodeDeployBlueGreen):
        return deployment.termination_wait_minutes
    if isinstance(strategy, NativeShift):
        return strategy.bake_time_minutes
    return 0  # rolling: the deployment ends with its last task replaced


def _ecs_schedule(deployment) -> Schedule:
    strategy = deployment.strategy
    if isinstance(strategy, CodeDeployBlueGreen):
        return codedeploy_schedule(deployment.config)
    if isinstance(strategy, Rolling):
        return [(0, 100.0)]  # every task is replaced within the first minutes
    assert isinstance(strategy, NativeShift)
    if strategy.strategy == "CANARY":
        return [(0, strategy.canary_percent), (strategy.canary_bake_minutes * 60, 100.0)]
    if strategy.strategy == "LINEAR":
        return _linear(strategy.step_percent, strategy.step_bake_minutes * 60)
    return [(0, 100.0)]


def _linear(step_percent: float, step_seconds: int) -> Schedule:
    steps = math.ceil(100 / step_percent)
    return [(step * step_seconds, float(min(100, (step + 1) * step_percent))) for step in range(steps)]


def _budget(
    path: str, strategy: str, detect: int, schedule: Schedule, *, watch_seconds: int, guard: int, period: int
) -> Budget:
    return Budget(
        path=path,
        strategy=strategy,
        detect_seconds=detect,
        rollback_seconds=ROLLBACK_SECONDS[strategy],
        worst_share_percent=share_at(schedule, detect),
        schedule=schedule,
        watch_after_last_shift_seconds=watch_seconds,
        guard_requests=guard,
        period_seconds=period,
    )
