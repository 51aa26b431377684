"""Rollback safety, as rules over plain values: what the components enforce on their arguments
(raising before anything is created) and the CrossGuard pack enforces on any program's resources.

Each rule returns the violations it finds, one sentence each, empty when the values are safe.
"Always" rules hold for every stack; production rules add the floors production may not go below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# After the last traffic shift a firing alarm still rolls back for at least this long in
# production: blue is kept (CodeDeploy's termination wait, ECS's bake time), or the Lambda
# post-traffic hook keeps watching.
PROD_MIN_ROLLBACK_WINDOW_MINUTES = 10
PROD_MIN_DESIRED_COUNT = 2
PROD_MIN_LOG_RETENTION_DAYS = 30
# A tenth of the requests failing is an incident whatever the baseline: production's alarms fire by then.
PROD_MAX_ERROR_RATE_PERCENT = 10
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST")
# The events a deployment group must roll back on: a failed hook, and an alarm.
REQUIRED_ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM")
ALL_AT_ONCE_CONFIGS = frozenset(
    {"CodeDeployDefault.ECSAllAtOnce", "CodeDeployDefault.LambdaAllAtOnce", "CodeDeployDefault.AllAtOnce"}
)


class UnsafeConfiguration(ValueError):
    """Arguments a component refuses: every violation, one per line, each line starting with what
    refuses it (`service checkout: EcsServiceWithRollbackArgs.desired_count = '3': a whole number from 1
    to 1000 tasks (production at least 2), not str`)."""

    def __init__(self, what: str, violations: Sequence[str]):
        self.violations = list(violations)
        super().__init__("\n".join(f"{what}: {violation}" for violation in self.violations))


def refuse(what: str, violations: Sequence[str]) -> None:
    if violations:
        raise UnsafeConfiguration(what, violations)


def deployment_group(
    *,
    alarm_names: Sequence[str],
    alarms_enabled: bool = True,
    rollback_events: Sequence[str],
    rollback_enabled: bool = True,
    config: str,
    all_at_once: bool,
    termination_wait_minutes: int | None = None,
    production: bool,
) -> list[str]:
    """A CodeDeploy deployment group: it rolls back on alarm, with an alarm to watch; in
    production it shifts gradually and, for ECS, keeps blue while a late alarm can still fire.
    `config` names the deployment config; `all_at_once` says it moves all traffic in one step."""
    return (
        rollback_on_alarm(alarm_names, alarms_enabled, rollback_events, rollback_enabled)
        + gradual_shift(config, all_at_once, production)
        + blue_kept(termination_wait_minutes, production)
    )


def rollback_on_alarm(
    alarm_names: Sequence[str], alarms_enabled: bool, rollback_events: Sequence[str], rollback_enabled: bool
) -> list[str]:
    """A deployment group watches at least one alarm and rolls back when it fires or the deployment fails."""
    found = []
    if not (alarms_enabled and alarm_names):
        found.append("it watches no alarm: give it at least one rollback alarm")
    missing = [event for event in ROLLBACK_EVENTS if not (rollback_enabled and event in rollback_events)]
    if any(event in missing for event in REQUIRED_ROLLBACK_EVENTS):
        found.append(f"it does not roll back on {' or '.join(missing)}")
    return found + alarm_names_not_arns(alarm_names)


def alarm_names_not_arns(alarm_names: Sequence[Any]) -> list[str]:
    """CodeDeploy looks a group's alarms up by name: an ARN names no alarm, so it is never checked."""
    arns = [name for name in alarm_names if isinstance(name, str) and name.startswith("arn:")]
    if arns:
        return [f"alarms are named, not given as ARNs: CodeDeploy would never check {', '.join(arns)}"]
    return []


def blue_kept(termination_wait_minutes: int | None, production: bool) -> list[str]:
    """ECS blue/green in production keeps blue after the shift while a late alarm can still fire.
    None: blue is kept until someone ends the deployment."""
    if (
        production
        and termination_wait_minutes is not None
        and termination_wait_minutes < (PROD_MIN_ROLLBACK_WINDOW_MINUTES)
    ):
        return [
            f"production keeps blue at least {PROD_MIN_ROLLBACK_WINDOW_MINUTES} minutes after the shift "
            f"(termination wait {termination_wait_minutes})"
        ]
    return []


def gradual_shift(config: str, all_at_once: bool, production: bool) -> list[str]:
    """Production shifts traffic in steps, so an alarm can stop a bad release early."""
    if production and all_at_once:
        return [f"production shifts traffic gradually, not all at once ({config})"]
    return []


def rate_alarm(threshold_percent: float, what: str, production: bool = False) -> list[str]:
    """A rate alarm that can fire: its threshold is a percentage above 0 and below 100; in
    production at most PROD_MAX_ERROR_RATE_PERCENT."""
    if not 0 < threshold_percent < 100:
        return [f"{what} threshold {threshold_percent:g}% can never fire as a rollback alarm: above 0 and below 100"]
    if production and threshold_percent > PROD_MAX_ERROR_RATE_PERCENT:
        return [f"production rolls back at {what} of at most {PROD_MAX_ERROR_RATE_PERCENT}% ({threshold_percent:g}%)"]
    return []


def partial_traffic_outlasts_detection(minutes: float, detection_minutes: float, production: bool) -> list[str]:
    """In production a shift keeps part of the traffic on the previous version for as long as the
    alarms may take to fire, so a bad release is stopped before it has every request."""
    if production and minutes < detection_minutes:
        return [
            f"production keeps part of the traffic on the previous version at least {detection_minutes:g} min, the "
            f"alarms' worst detection time; this shift reaches 100% after {minutes:g} min"
        ]
    return []


def https(certificate: bool, production: bool) -> list[str]:
    if production and not certificate:
        return ["production listens on HTTPS: give the load balancer a certificate"]
    return []


def desired_count(count: int, production: bool) -> list[str]:
    if production and count < PROD_MIN_DESIRED_COUNT:
        return [f"production runs at least {PROD_MIN_DESIRED_COUNT} tasks, so one failing task is not an outage"]
    return []


def deletion_protection(on: bool, production: bool) -> list[str]:
    if production and not on:
        return ["production load balancers keep deletion protection on: one deleted by mistake takes the service down"]
    return []


def logs(retention_days: int, production: bool) -> list[str]:
    """Production keeps the logs an incident is investigated from."""
    if production and retention_days < PROD_MIN_LOG_RETENTION_DAYS:
        return [f"production keeps logs at least {PROD_MIN_LOG_RETENTION_DAYS} days"]
    return []


def smoke_checks(where: str, checks: Sequence[Any], parse: Callable[[Any], Any]) -> list[str]:
    """Every smoke check is one the hook can read: `parse` raises ValueError saying why not. Each
    refused check is named by its place in `where` (`...smoke_paths[0] = {...}: ...`)."""
    found = []
    for index, check in enumerate(checks):
        try:
            parse(check)
        except (ValueError, TypeError) as error:
            found.append(f"{where}[{index}] = {check!r}: {error}")
    return found


def rollback_window(minutes: int, what: str, production: bool) -> list[str]:
    """How long a late alarm still rolls back after the last shift."""
    if production and minutes < PROD_MIN_ROLLBACK_WINDOW_MINUTES:
        return [f"production keeps the {what} at least {PROD_MIN_ROLLBACK_WINDOW_MINUTES} minutes"]
    return []


def ecs_shift(
    *,
    native_strategy: str | None = None,
    canary_percent: float | None = None,
    step_percent: float | None = None,
    minimum_healthy_percent: int | None = None,
    production: bool,
) -> list[str]:
    """In production an ECS-native shift moves part of the traffic first (blue/green moves it all at
    once) and a rolling deployment keeps tasks running."""
    if not production:
        return []
    found = []
    if native_strategy == "BLUE_GREEN":
        found.append("production shifts part of the traffic first (a canary or linear shift), not all at once")
    if canary_percent is not None and canary_percent >= 100:
        found.append(f"production canaries take part of the traffic, not {canary_percent:g}%")
    if step_percent is not None and step_percent >= 100:
        found.append(f"production shifts traffic in steps below 100%, not one step of {step_percent:g}%")
    if minimum_healthy_percent is not None and minimum_healthy_percent <= 0:
        found.append("production rolling deployments keep some tasks running (minimum healthy percent 0)")
    return found


def judge_probes(max_probes_per_release: int, production: bool) -> list[str]:
    """In production the canary judge probes the new version: metrics alone reach it a minute or more late."""
    if production and max_probes_per_release < 1:
        return [
            "production's canary judge sends at least one probe per release (max_probes_per_release "
            f"{max_probes_per_release}): it needs probes to see a bad version before the alarms do"
        ]
    return []
