"""Create a CodeDeploy deployment when the wanted revision is not the live one, follow it to its
end, and say what happened in words a person can act on.

The live revision is always read from AWS (the alias's version, the service's primary task set),
never remembered, so an unchanged request after a successful release does nothing. What went
before is read from AWS too (release/history.py): a revision rolled back for cause is refused
until someone asks for a retry explicitly.

When things go wrong:
- an `up` that was interrupted left its deployment running: the next `up` adopts and follows it
  (blue's termination wait included) instead of starting another; any other deployment in flight
  is named;
- throttling, 5xx answers, lost connections and credential refreshes are retried until the
  release's own deadline (release/patience.py);
- a release back to a known-good revision while the rollback alarms still fire (the pipeline
  re-running `up` on the previous artifact) is a corrective deployment: all at once, with the
  deployment group's alarms and automatic rollback set aside, described and reported as a
  rollback — the alarms that caught the bad revision would stop it otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from rollback_guard.hooks.revisions import describe, described
from rollback_guard.release import appspec
from rollback_guard.release.history import History, LogRef, deployment_targets, target_detail
from rollback_guard.release.patience import ONE_ATTEMPT, Patient, throttled

TERMINAL = {"Succeeded", "Failed", "Stopped"}
# How long an explanation may wait for AWS on each of its reads.
EXPLAIN_PATIENCE_SECONDS = 60
ALL_AT_ONCE = {"lambda": "CodeDeployDefault.LambdaAllAtOnce", "ecs": "CodeDeployDefault.ECSAllAtOnce"}
# How long a failure's explanation waits for CodeDeploy's own rollback deployment to end.
ROLLBACK_WAIT_MINUTES = 15
# Settings of a function version or task definition that make two revisions the same release.
_LAMBDA_CONTENT = (
    "CodeSha256",
    "Runtime",
    "Handler",
    "MemorySize",
    "Timeout",
    "Architectures",
    "Environment",
    "Layers",
)
_ECS_CONTENT = (
    "containerDefinitions",
    "cpu",
    "memory",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "runtimePlatform",
    "volumes",
    "ephemeralStorage",
)


@dataclass(frozen=True)
class LambdaTarget:
    function_name: str
    alias: str
    version: str
    hooks: dict[str, str]
    kind = "lambda"

    @property
    def revision(self) -> str:
        return str(self.version)

    def describe(self, revision: str | None = None) -> str:
        return f"{self.function_name} version {revision or self.revision}"


@dataclass(frozen=True)
class EcsTarget:
    cluster: str
    service: str
    task_definition_arn: str
    container_name: str
    container_port: int
    hooks: dict[str, str]
    kind = "ecs"

    @property
    def revision(self) -> str:
        return appspec.task_definition_revision(self.task_definition_arn)

    def describe(self, revision: str | None = None) -> str:
        return f"service {self.service} on task definition {revision or self.revision}"

    def arn_of(self, revision: str) -> str:
        """The ARN of another revision, in this target's account and region."""
        return f"{self.task_definition_arn.rsplit('/', 1)[0]}/{revision}"


# A new judge runs within a minute and its heartbeat reaches its alarm within about three more.
JUDGE_WAIT_SECONDS, JUDGE_POLL_SECONDS = 480, 20


@dataclass(frozen=True)
class ReleaseRequest:
    application: str
    deployment_group: str
    target: LambdaTarget | EcsTarget
    # A revision rolled back for cause is released again only if named here.
    retry_revision: str | None = None
    # The configuration key a person sets to retry, named in the refusal message.
    retry_setting: str = "retryRevision"
    timeout_minutes: int = 120
    # The deployment group's rollback alarms, to name the one that fired.
    alarm_names: tuple[str, ...] = ()
    # Where `ops rollback` records what it rolled back.
    log: LogRef | None = None
    # The canary judge's heartbeat alarm (components/canary_judge.py): no deployment starts while it
    # says the judge is silent.
    judge_alarm: str | None = None


@dataclass(frozen=True)
class Outcome:
    live_revision: str
    deployment_id: str | None  # None when the wanted revision was already live


class ReleaseFailed(Exception):
    """The release did not happen: a one-line `summary`, then details and what to do.
    `deployment_id` is the deployment that ran (None if none was created), `error_code`
    CodeDeploy's (ALARM_ACTIVE when an alarm stopped it), `failed_hooks` the lifecycle events
    that failed, `traffic_back` whether traffic is known to be back on the previous revision
    (False: known not to be; None: unknown, or it never moved)."""

    def __init__(
        self,
        summary: str,
        details: Sequence[str] = (),
        *,
        deployment_id: str | None = None,
        error_code: str | None = None,
        failed_hooks: tuple[str, ...] = (),
        traffic_back: bool | None = None,
    ):
        super().__init__("\n".join([summary, *(f"  {line}" for line in details)]))
        self.summary = summary
        self.deployment_id = deployment_id
        self.error_code = error_code
        self.failed_hooks = failed_hooks
        self.traffic_back = traffic_back


@dataclass(frozen=True)
class Backoff:
    first_seconds: float = 5.0
    max_seconds: float = 30.0


class Releaser:
    def __init__(
        self,
        region: str | None = None,
        on_progress: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Backoff = Backoff(),
        session: boto3.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._session = session or boto3.Session(region_name=region)
        self._codedeploy = self._session.client("codedeploy", config=ONE_ATTEMPT)
        self._progress = on_progress
        self._sleep = sleep
        self._clock = clock
        self._backoff = backoff
        self.patience = Patient(sleep=sleep, on_retry=on_progress, clock=clock)

    def client(self, service: str):
        return self._session.client(service, config=ONE_ATTEMPT)

    def history(self, application: str, group: str, log: LogRef | None = None) -> History:
        return History(self._session, application, group, self.patience, log)

    # --- reading what is live

    def live_revision(self, target: LambdaTarget | EcsTarget) -> str | None:
        if isinstance(target, LambdaTarget):
            return self.live_version(target.function_name, target.alias)
        return self.live_task_definition(target.cluster, target.service)

    def live_version(self, function_name: str, alias: str) -> str | None:
        """The version the alias points at."""
        client = self.client("lambda")
        try:
            alias_info = self.patience.call(
                f"lambda GetAlias {function_name}:{alias}", client.get_alias, FunctionName=function_name, Name=alias
            )
        except client.exceptions.ResourceNotFoundException:
            return None
        return alias_info["FunctionVersion"]

    def live_task_definition(self, cluster: str, service: str) -> str | None:
        """The primary task set's task definition (family:revision); under the ECS controller, the
        service's own."""
        client = self.client("ecs")
        try:
            services = self.patience.call(
                f"ecs DescribeServices {service}", client.describe_services, cluster=cluster, services=[service]
            )["services"]
        except client.exceptions.ClusterNotFoundException:
            return None
        if not services:
            return None
        found = services[0]
        primary = [task_set for task_set in found.get("taskSets", []) if task_set.get("status") == "PRIMARY"]
        arn = primary[0]["taskDefinition"] if primary else found.get("taskDefinition")
        return appspec.task_definition_revision(arn) if arn else None

    # --- releasing

    def release(self, request: ReleaseRequest) -> Outcome:
        target = request.target
        deadline = self._clock() + request.timeout_minutes * 60
        history = self._settled_history(request, deadline)
        adopted = next((a for a in history.in_flight() if a.target == target.revision), None)
        if adopted:
            self._progress(
                f"deployment {adopted.deployment_id}: already releasing {target.describe()} (an earlier `up` "
                "started it and was interrupted): following it to its end"
            )
            return self._finish(request, adopted.deployment_id, None, deadline)
        self._refuse_another_in_flight(request, history)
        live = self.live_revision(target)
        if live == target.revision:
            self._progress(f"{target.describe()} is already live: nothing to release")
            return Outcome(live_revision=live, deployment_id=None)
        if live is None:
            raise ReleaseFailed(f"cannot release {target.describe()}: there is no live revision to shift from")
        self._refuse_rolled_back(request, history, live)
        restores = self._restores_known_good(request, history, live)
        self._wait_for_the_judge(request, deadline)
        deployment_id = self._create_deployment(request, live, restores)
        return self._finish(request, deployment_id, live, deadline, restores)

    def _settled_history(self, request: ReleaseRequest, deadline: float) -> History:
        """The group's history once no rollback is in flight: CodeDeploy's own, or a corrective
        deployment, is waited for (stopping it would undo it), unless it brings back the wanted
        revision itself."""
        while True:
            history = self.history(request.application, request.deployment_group, request.log)
            rolling_back = [
                attempt
                for attempt in history.in_flight()
                if attempt.action == "rollback" and attempt.target != request.target.revision
            ]
            if not rolling_back:
                return history
            attempt = rolling_back[0]
            self._progress(
                f"deployment {attempt.deployment_id}: a rollback is in progress in {request.deployment_group}; "
                "waiting for it to end before releasing"
            )
            self._follow(attempt.deployment_id, deadline, request.timeout_minutes)

    def _refuse_another_in_flight(self, request: ReleaseRequest, history: History) -> None:
        """CodeDeploy runs one deployment at a time per group: another one in flight is named."""
        in_flight = history.in_flight()
        if not in_flight:
            return
        other = in_flight[0]
        raise ReleaseFailed(
            f"cannot release {request.target.describe()}: a deployment of "
            f"{request.target.describe(other.target or 'an unknown revision')} is in progress in "
            f"{request.deployment_group} (deployment {other.deployment_id}, {other.status}, created "
            f"{iso(other.info['createTime'])})",
            [
                "wait for it to end and run up again, or stop it with rollback: "
                f"aws deploy stop-deployment --deployment-id {other.deployment_id} --auto-rollback-enabled"
            ],
        )

    def _finish(
        self,
        request: ReleaseRequest,
        deployment_id: str,
        live: str | None,
        deadline: float,
        restores: str | None = None,
    ) -> Outcome:
        info = self._follow(deployment_id, deadline, request.timeout_minutes)
        if info["status"] == "Succeeded":
            self._progress(f"deployment {deployment_id} succeeded: {request.target.describe()} is live")
            return Outcome(live_revision=request.target.revision, deployment_id=deployment_id)
        summary, details, traffic_back = self.explain(request, info, live, restores)
        raise ReleaseFailed(
            summary,
            details,
            deployment_id=deployment_id,
            error_code=(info.get("errorInformation") or {}).get("code"),
            failed_hooks=tuple(
                event["lifecycleEventName"]
                for target in self.deployment_targets(deployment_id)
                for event in target_detail(target).get("lifecycleEvents", [])
                if event.get("status") == "Failed"
            ),
            traffic_back=traffic_back,
        )

    def _restores_known_good(self, request: ReleaseRequest, history: History, live: str) -> str | None:
        """The known-good revision the wanted one brings back, when a rollback alarm fires: then the
        release is a rollback, which those alarms must not stop."""
        firing, _ = self.alarms_in_alarm(request.alarm_names)
        if not firing:
            return None
        good = history.known_good(live)
        if good is None:
            return None
        target = request.target
        if good == target.revision or self._content(target, target.revision) == self._content(target, good):
            return good
        return None

    def _wait_for_the_judge(self, request: ReleaseRequest, deadline: float) -> None:
        """CodeDeploy would stop a deployment at once while the judge's heartbeat alarm is in ALARM,
        and count the revision as rolled back. A judge created by this same `up` needs a few
        minutes to report: wait up to JUDGE_WAIT_SECONDS; a judge still silent then is broken."""
        if not request.judge_alarm:
            return
        until = min(deadline, self._clock() + JUDGE_WAIT_SECONDS)
        while True:
            firing, _ = self.alarms_in_alarm([request.judge_alarm], until=until)
            if not firing:
                return  # OK, just created, or unreadable: CodeDeploy reads it again itself
            if self._clock() >= until:
                raise ReleaseFailed(
                    f"not releasing {request.target.describe()}: the canary judge has not reported for "
                    f"{JUDGE_WAIT_SECONDS // 60} minutes (alarm {request.judge_alarm} in ALARM: {firing[0][1]}), and a "
                    "release nobody judges does not start; see the judge function's logs"
                )
            self._progress(f"waiting for the canary judge to report (alarm {request.judge_alarm} in ALARM)")
            self._sleep(JUDGE_POLL_SECONDS)

    def _content(self, target: LambdaTarget | EcsTarget, revision: str) -> dict[str, Any]:
        """What a revision runs: two revisions with the same content are the same release."""
        if isinstance(target, LambdaTarget):
            client = self.client("lambda")
            found = self.patience.call(
                f"lambda GetFunctionConfiguration {target.function_name}:{revision}",
                client.get_function_configuration,
                FunctionName=target.function_name,
                Qualifier=revision,
            )
            return {key: found.get(key) for key in _LAMBDA_CONTENT}
        client = self.client("ecs")
        found = self.patience.call(
            f"ecs DescribeTaskDefinition {revision}",
            client.describe_task_definition,
            taskDefinition=target.arn_of(revision),
        )["taskDefinition"]
        return {key: found.get(key) for key in _ECS_CONTENT}

    def _create_deployment(self, request: ReleaseRequest, live: str, restores: str | None) -> str:
        target = request.target
        if isinstance(target, LambdaTarget):
            spec = appspec.lambda_appspec(target.function_name, target.alias, live, target.version, target.hooks)
        else:
            spec = appspec.ecs_appspec(
                target.task_definition_arn, target.container_name, target.container_port, target.hooks
            )
        if restores:
            self._progress(
                f"rolling back: {target.describe()} brings back known-good {restores} while the rollback alarms "
                f"still fire for {live}; it goes all at once, the alarms and automatic rollback set aside"
            )
            corrective = {
                "deploymentConfigName": ALL_AT_ONCE[target.kind],
                "overrideAlarmConfiguration": {"enabled": False, "alarms": []},
                "autoRollbackConfiguration": {"enabled": False, "events": []},
            }
            description = describe("rollback", target.revision, live, f"back to known-good {restores}")
        else:
            corrective, description = {}, describe("release", target.revision, live, target.describe())
        try:
            deployment_id = self.patience.call(
                f"codedeploy CreateDeployment {request.deployment_group}",
                self._codedeploy.create_deployment,
                retry_if=throttled,  # a 5xx or a lost answer may have created it: never sent twice
                applicationName=request.application,
                deploymentGroupName=request.deployment_group,
                revision=appspec.revision(spec),
                description=description,
                **corrective,
            )["deploymentId"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "DeploymentLimitExceededException":
                raise ReleaseFailed(
                    f"cannot release {target.describe()}: another deployment of {request.deployment_group} started "
                    "meanwhile",
                    [error.response["Error"]["Message"], "wait for it or stop it, then run up again"],
                ) from None
            raise
        self._progress(f"deployment {deployment_id}: releasing {target.describe()} (live: {live})")
        return deployment_id

    def follow(self, deployment_id: str, timeout_minutes: int, *, until_traffic_moved: bool = False) -> dict:
        """The deployment once it has ended, or with `until_traffic_moved` once all traffic is on
        its revision (blue's termination wait may go on)."""
        deadline = self._clock() + timeout_minutes * 60
        return self._follow(deployment_id, deadline, timeout_minutes, until_traffic_moved)

    def _follow(
        self, deployment_id: str, deadline: float, timeout_minutes: int, until_traffic_moved: bool = False
    ) -> dict:
        """Polls until the deployment ends (blue's termination wait included), with backoff that
        resets whenever something changes; transient AWS errors are retried until `deadline`. A
        corrective deployment waiting for approval (Ready) is continued: it restores what was
        approved before."""
        delay, seen = self._backoff.first_seconds, set()
        while True:
            try:
                info = self.deployment(deployment_id, until=deadline)
            except (ClientError, BotoCoreError) as error:
                raise ReleaseFailed(
                    f"deployment {deployment_id} cannot be followed: {error}",
                    [f"follow it: aws deploy get-deployment --deployment-id {deployment_id}"],
                    deployment_id=deployment_id,
                ) from None
            if info["status"] in TERMINAL or (until_traffic_moved and info.get("instanceTerminationWaitTimeStarted")):
                return info
            said = described(info)
            if info["status"] == "Ready" and said and said["action"] == "rollback":
                self.patience.call(
                    f"codedeploy ContinueDeployment {deployment_id}",
                    self._codedeploy.continue_deployment,
                    until=deadline,
                    deploymentId=deployment_id,
                    deploymentWaitType="READY_WAIT",
                )
            news = [line for line in self._progress_lines(deployment_id, info) if line not in seen]
            for line in news:
                self._progress(line)
            seen.update(news)
            delay = self._backoff.first_seconds if news else min(delay * 2, self._backoff.max_seconds)
            if self._clock() + delay > deadline:
                raise ReleaseFailed(
                    f"deployment {deployment_id} has not finished after {timeout_minutes} minutes",
                    [
                        "it goes on in CodeDeploy, which still rolls it back on alarm; the next up follows it",
                        f"follow it: aws deploy get-deployment --deployment-id {deployment_id}",
                    ],
                    deployment_id=deployment_id,
                )
            self._sleep(delay)

    def deployment(self, deployment_id: str, until: float | None = None) -> dict:
        return self.patience.call(
            f"codedeploy GetDeployment {deployment_id}",
            self._codedeploy.get_deployment,
            until=until,
            deploymentId=deployment_id,
        )["deploymentInfo"]

    def _progress_lines(self, deployment_id: str, info: dict) -> list[str]:
        lines = [f"deployment {deployment_id}: {info['status']}"]
        if info["status"] == "Ready":
            lines.append(f"deployment {deployment_id}: green is ready and waits for someone to continue it")
        if info.get("instanceTerminationWaitTimeStarted"):
            lines.append(f"deployment {deployment_id}: all traffic shifted; keeping blue while the alarms watch")
        for target in self.deployment_targets(deployment_id):
            lines += _target_lines(deployment_id, target)
        return lines

    def deployment_targets(self, deployment_id: str, until: float | None = None) -> list[dict]:
        """Where a deployment is, per target: traffic weights and lifecycle events (none when
        CodeDeploy cannot say right now: progress is best effort)."""
        try:
            return deployment_targets(self._codedeploy, self.patience, deployment_id, until)
        except (ClientError, BotoCoreError) as error:
            self._progress(f"deployment {deployment_id}: where its traffic is cannot be read now ({error})")
            return []

    # --- explaining

    def explain(
        self, request: ReleaseRequest, info: dict, live: str | None, restores: str | None = None
    ) -> tuple[str, list[str], bool | None]:
        """A one-line summary (what failed, and where traffic is now), the details, and whether
        traffic is known to be back (None: unknown). Each read it makes waits a minute at most."""
        target = request.target
        deployment_id = info["deploymentId"]
        patience = self._clock() + EXPLAIN_PATIENCE_SECONDS
        details = []
        error = info.get("errorInformation") or {}
        if error:
            details.append(f"CodeDeploy says: {error.get('code', 'error')}: {error.get('message', '')}".rstrip())
        watched = [*request.alarm_names, *([request.judge_alarm] if request.judge_alarm else [])]
        firing, unreadable = self.alarms_in_alarm(watched, until=patience)
        details += [
            f"alarm {name} fired: {reason}"
            + (" (the canary judge fell silent: see its logs)" if name == request.judge_alarm else "")
            for name, reason in firing
        ]
        if unreadable:
            details.append(f"the alarms' states cannot be read now ({unreadable})")
        for deployment_target in self.deployment_targets(deployment_id, until=patience):
            details += _failed_hook_lines(deployment_target, target.hooks)
        if restores:  # a corrective deployment rolls nothing back: traffic stays where it was
            where, traffic_back = f"the rollback to {restores} did not happen: traffic is still on {live}", False
        else:
            where, traffic_back = self._where_traffic_is(info, target.describe(live) if live else None, details)
        details.append(f"details: aws deploy get-deployment --deployment-id {deployment_id}")
        summary = f"release of {target.describe()} failed: deployment {deployment_id} {info['status']}; {where}"
        return summary, details, traffic_back

    def _where_traffic_is(self, info: dict, before: str | None, details: list[str]) -> tuple[str, bool | None]:
        """Follows CodeDeploy's own rollback deployment until traffic has moved, so traffic is
        said to be back only if it is."""
        before = before or "the revision before it"
        rollback = info.get("rollbackInfo") or {}
        rollback_id = rollback.get("rollbackDeploymentId")
        if not rollback_id:
            if rollback.get("rollbackMessage"):
                details.append(f"rollback: {rollback['rollbackMessage']}")
            return f"traffic was not shifted back automatically: check that {before} is live", None
        try:
            ended = self.follow(rollback_id, ROLLBACK_WAIT_MINUTES, until_traffic_moved=True)
        except ReleaseFailed:
            details.append(f"CodeDeploy's rollback deployment {rollback_id} has not moved traffic yet")
            return f"CodeDeploy is still rolling back to {before} (deployment {rollback_id})", None
        if ended["status"] not in ("Failed", "Stopped"):
            details.append(f"CodeDeploy rolled back (deployment {rollback_id} {ended['status'].lower()})")
            return f"traffic is back on {before}", True
        failure = (ended.get("errorInformation") or {}).get("message") or ended["status"]
        details.append(f"CodeDeploy's rollback deployment {rollback_id} {ended['status']}: {failure}")
        return (
            "CodeDeploy's rollback FAILED: traffic may still be on the bad revision; run `python -m ops rollback`",
            False,
        )

    def alarms_in_alarm(
        self, alarm_names: Sequence[str], until: float | None = None
    ) -> tuple[list[tuple[str, str]], str | None]:
        """The alarms in ALARM with their reasons, and why they could not be read, if they could not."""
        if not alarm_names:
            return [], None
        cloudwatch = self.client("cloudwatch")
        try:
            alarms = self.patience.call(
                "cloudwatch DescribeAlarms", cloudwatch.describe_alarms, until=until, AlarmNames=list(alarm_names)
            )["MetricAlarms"]
        except (ClientError, BotoCoreError) as error:
            return [], str(error)
        return [(a["AlarmName"], a.get("StateReason", "")) for a in alarms if a["StateValue"] == "ALARM"], None

    # --- refusing to repeat an incident

    def _refuse_rolled_back(self, request: ReleaseRequest, history: History, live: str) -> None:
        wanted = request.target.revision
        if request.retry_revision == wanted:
            self._progress(f"retrying {request.target.describe()} deliberately ({request.retry_setting} = {wanted})")
            return
        why = history.rolled_back(wanted)
        if why is None:
            return
        raise ReleaseFailed(
            f"refusing to release {request.target.describe()} again: it was rolled back ({why})",
            [
                "ways forward:",
                f"- go back to what is live ({request.target.describe(live)}) or on to a fixed revision, and run up "
                "again",
                "- or retry this exact revision deliberately: "
                f"pulumi config set --path {request.retry_setting} {wanted}",
            ],
        )


def iso(moment: Any) -> str:
    """A time CodeDeploy returned, as ISO 8601 to the second."""
    return moment.isoformat(timespec="seconds") if hasattr(moment, "isoformat") else str(moment)


def _target_lines(deployment_id: str, target: dict) -> list[str]:
    detail = target_detail(target)
    lines = []
    function = detail.get("lambdaFunctionInfo")
    if function and function.get("targetVersionWeight") is not None:
        share = round(function["targetVersionWeight"] * 100)
        lines.append(f"deployment {deployment_id}: {share}% of traffic on version {function.get('targetVersion')}")
    for task_set in detail.get("taskSetsInfo", []):
        if task_set.get("taskSetLabel") == "Green" and task_set.get("trafficWeight") is not None:
            lines.append(f"deployment {deployment_id}: {task_set['trafficWeight']:g}% of traffic on green")
    for event in detail.get("lifecycleEvents", []):
        if event.get("status") not in (None, "Pending"):
            lines.append(f"deployment {deployment_id}: {event['lifecycleEventName']} {event['status']}")
    return lines


def _failed_hook_lines(target: dict, hooks: dict[str, str]) -> list[str]:
    lines = []
    for event in target_detail(target).get("lifecycleEvents", []):
        if event.get("status") != "Failed":
            continue
        name = event["lifecycleEventName"]
        diagnostics = event.get("diagnostics") or {}
        message = diagnostics.get("message") or diagnostics.get("errorCode") or "no diagnostics"
        where = f" (logs: /aws/lambda/{hooks[name]})" if name in hooks else ""
        lines.append(f"hook {name} failed: {message}{where}")
    return lines


def parse_target(kind: str, raw: dict) -> LambdaTarget | EcsTarget:
    """A target from plain data (the release resource's inputs)."""
    hooks = dict(raw.get("hooks") or {})
    if kind == "lambda":
        return LambdaTarget(raw["function_name"], raw["alias"], str(raw["version"]), hooks)
    if kind == "ecs":
        return EcsTarget(
            raw["cluster"],
            raw["service"],
            raw["task_definition_arn"],
            raw["container_name"],
            int(raw["container_port"]),
            hooks,
        )
    raise ValueError(f"unknown release kind {kind!r}; allowed: lambda, ecs")
