"""The rollback budget of every release path of a stack, from its settings alone.

For each path: how long a bad version takes to be detected (the alarms' M periods plus CloudWatch's
delay), how long the rollback itself takes, and the worst share of traffic on the bad version
before traffic is back — the share shifted by the time the alarm fires, if the version fails from
its first request.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from components.codedeploy import TimeBasedShift
from components.ecs_service import CodeDeployBlueGreen, NativeShift, Rolling
from settings import Settings

# CloudWatch evaluates a minute's datapoint roughly a minute after it ends.
CLOUDWATCH_DELAY_SECONDS = 60
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
class Budget:
    path: str
    strategy: str
    detect_seconds: int
    rollback_seconds: int
    worst_share_percent: float
    schedule: Schedule

    @property
    def recovery_seconds(self) -> int:
        return self.detect_seconds + self.rollback_seconds

    def as_dict(self) -> dict:
        return {**asdict(self), "recovery_seconds": self.recovery_seconds}


def budgets(settings: Settings) -> list[Budget]:
    evaluation = settings.alarms.evaluation
    detect = evaluation.period_seconds * evaluation.datapoints_to_alarm + CLOUDWATCH_DELAY_SECONDS
    deployment = settings.deployment
    found = [_budget(settings.service.name, deployment.strategy_name, detect, _ecs_schedule(deployment))]
    if settings.function:
        found.append(
            _budget(
                settings.function.name,
                "lambda-canary",
                detect,
                codedeploy_schedule(settings.function.deployment_config),
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


def _budget(path: str, strategy: str, detect: int, schedule: Schedule) -> Budget:
    return Budget(
        path=path,
        strategy=strategy,
        detect_seconds=detect,
        rollback_seconds=ROLLBACK_SECONDS[strategy],
        worst_share_percent=share_at(schedule, detect),
        schedule=schedule,
    )
