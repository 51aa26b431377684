"""Is a stack ready to roll back? Read-only checks of the account, run before a release.

A release is only as safe as its way back: the alarms that stop it, the automatic rollback that
follows, the revision traffic returns to, the roles CodeDeploy and the hooks act through, the
network the smoke test crosses, the quotas the functions run in. `check_stack` reads each of them
(nothing is written) and returns findings, each one line naming the check, the resource, what is
wrong and what to do (docs/preflight.md lists them).

Its input is what the stack exports (`StackExports.from_outputs`, program.py's outputs), refused
with `BadOutputs` when it is not what program.py exports. The rest is read from the account, as
deployed: a deployment group's alarm list, automatic rollback, service role and test listener; a
hook's role and subnets; the history `ops rollback` picks its target from (release/history.py). A
read that fails (AccessDenied, throttling) is a finding of its own, never a pass: preflight fails
closed; a read several checks need is made once and, failing, reported once. A resource that is
not there is a `not-ready` finding of its own, once.

Nothing deployed yet means nothing to roll back to: a first deploy gets a note, not a refusal, or
it could never happen. The same holds for a release path whose live revision is its first, and
for one CodeDeploy's history (30 days) says nothing about: only a release can fix either.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from rollback_guard.hooks.judge import HEARTBEAT_ALARM_SUFFIX, JUDGE_NAMESPACE
from rollback_guard.limits import (
    INLINE_POLICY_CHARACTERS_PER_ROLE,
    LAMBDA_UNRESERVED_CONCURRENCY,
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_CHARACTERS,
    TRUST_POLICY_CHARACTERS,
    policy_characters,
)
from rollback_guard.policy.rules import REQUIRED_ROLLBACK_EVENTS
from rollback_guard.release.appspec import task_definition_revision
from rollback_guard.release.history import IN_FLIGHT, WINDOWS, History, LogRef
from rollback_guard.release.patience import Patient, retryable

# The checks' names, as findings carry them (docs/preflight.md describes each).
FIRST_DEPLOY = "first-deploy"
AUTO_ROLLBACK = "auto-rollback"
ALARMS = "alarms"
LIVE_REVISION = "live-revision"
KNOWN_GOOD = "known-good"
CERTIFICATE = "certificate"
IN_FLIGHT_CHECK = "in-flight"
CODEDEPLOY_ROLE = "codedeploy-role"
PERMISSIONS = "permissions"
TEST_LISTENER = "test-listener"
POLICY_SIZE = "policy-size"
DEPLOYMENT_LOG = "deployment-log"
CONCURRENCY = "concurrency"
LOAD_BALANCER_QUOTAS = "load-balancer-quotas"

KINDS = ("lambda", "ecs")
# What CodeDeploy's service role carries for each platform: the limited managed policy the
# components attach, or the broader one it is a part of.
CODEDEPLOY_POLICIES = {
    "lambda": ("AWSCodeDeployRoleForLambdaLimited", "AWSCodeDeployRoleForLambda"),
    "ecs": ("AWSCodeDeployRoleForECSLimited", "AWSCodeDeployRoleForECS"),
}
CODEDEPLOY_PRINCIPAL = "codedeploy.amazonaws.com"
# What a deployment group leaves undone without each event it must roll back on (rules.py).
LEFT_UNDONE = {
    "DEPLOYMENT_FAILURE": "a release whose hook fails stays on the new revision",
    "DEPLOYMENT_STOP_ON_ALARM": "a release an alarm stops stays where the stop left it",
}
# ECS's own rollbacks, for a service it releases itself: its deploymentConfiguration's settings,
# what each is called, what is wrong without its rollback or with it off, what is left undone, and
# what `pulumi up` turns on.
ECS_ROLLBACKS = (
    (
        "deploymentCircuitBreaker",
        "its deployment circuit breaker",
        ("does not roll back", "is off"),
        "a release whose tasks never get healthy stays, and nothing puts the last completed revision back",
        "it",
    ),
    (
        "alarms",
        "its deployment alarms",
        ("do not roll back", "are off"),
        "a release goes on, or stays, while its rollback alarms fire",
        "them",
    ),
)
# The hooks that read the deployment they run for and its AppSpec (hooks/lifecycle.py, DeploymentRelease).
HOOKS_READING_THE_RELEASE = ("BeforeAllowTraffic", "AfterAllowTraffic")
# How far back an alarm's metrics must have a datapoint. A day covers a service's daily cycle: one
# with any traffic publishes every minute, so a day of silence means it had none, or the alarm
# watches a metric nobody publishes. Which of the two, CloudWatch cannot say: a note.
ALARM_DATA_HOURS = 24
# The deployment log's usable states (DynamoDB DescribeTable).
TABLE_USABLE = ("ACTIVE", "UPDATING")
# The Elastic Load Balancing quotas a stack of services draws on, by describe_account_limits' names.
LOAD_BALANCER_LIMITS = ("application-load-balancers", "target-groups")
CERTIFICATE_ARN = re.compile(r"arn:aws[\w-]*:acm:[a-z]{2}(-[a-z]+)+-\d:\d{12}:certificate/[\w-]+")

# Reads retry throttling and 5xx answers a few times; what still fails is a finding.
_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 3})
# How long one read of CodeDeploy's history (release/history.py) keeps retrying.
_HISTORY_PATIENCE_SECONDS = 5.0
_DENIED = re.compile(r"AccessDenied|Unauthorized|Forbidden|NotAuthorized")
# IAM's action prefix where it is not boto3's service name.
_ACTION_PREFIX = {"elbv2": "elasticloadbalancing"}


class Severity(StrEnum):
    # The stack cannot roll back as it should: fix it before releasing.
    NOT_READY = "not-ready"
    # A read failed, so readiness is unknown: it blocks as well (fail closed).
    UNCHECKED = "unchecked"
    # Worth knowing; does not block.
    NOTE = "note"


@dataclass(frozen=True)
class Finding:
    """One finding; its text is one line whatever AWS's messages hold (line breaks are folded)."""

    check: str
    severity: Severity
    resource: str
    problem: str
    fix: str

    def __post_init__(self) -> None:
        for name in ("resource", "problem", "fix"):
            object.__setattr__(self, name, _one_line(getattr(self, name)))

    @property
    def blocks(self) -> bool:
        return self.severity is not Severity.NOTE

    def line(self) -> str:
        return f"{self.severity} {self.check}: {self.resource}: {self.problem}; {self.fix}"

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "severity": str(self.severity), "line": self.line()}


class BadOutputs(ValueError):
    """The stack's outputs are not what program.py exports: preflight cannot tell what to check."""


@dataclass(frozen=True)
class ReleasePath:
    """One release path as the stack's outputs name it (an entry of program.py's `releasePaths`,
    and its service's certificate)."""

    service: str
    # "lambda" or "ecs".
    kind: str
    alarms: tuple[str, ...] = ()
    # CodeDeploy's application and deployment group; None for a service ECS releases itself.
    application: str | None = None
    deployment_group: str | None = None
    function: str | None = None
    alias: str | None = None
    cluster: str | None = None
    ecs_service: str | None = None
    # The hook functions, by the lifecycle event they serve.
    hooks: Mapping[str, str] = field(default_factory=dict)
    # The canary judge's function.
    judge: str | None = None
    # The production listener's ACM certificate, if it has one.
    certificate: str | None = None

    @property
    def group_alarms(self) -> frozenset[str]:
        """The alarms its deployment group must list: the rollback alarms and the judge's heartbeat."""
        return frozenset(self.alarms) | ({f"{self.judge}{HEARTBEAT_ALARM_SUFFIX}"} if self.judge else set())

    @property
    def where(self) -> str:
        """The release path's live side, as a finding names it."""
        if self.kind == "lambda":
            return f"function {self.function}:{self.alias}"
        return f"service {self.cluster}/{self.ecs_service}"

    @property
    def group_name(self) -> str:
        return f"deployment group {self.application}/{self.deployment_group}"

    @property
    def unit(self) -> str:
        """What its revisions are called."""
        return "version" if self.kind == "lambda" else "revision"

    def first(self, revision: str) -> bool:
        """Whether `revision` is the path's first (Lambda version 1, task definition revision 1)."""
        return revision.rsplit(":", 1)[-1] == "1"


@dataclass(frozen=True)
class StackExports:
    """What preflight needs of a stack's outputs."""

    environment: str | None
    deployment_log: str | None
    paths: tuple[ReleasePath, ...]

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> StackExports:
        """From program.py's outputs (`pulumi stack output --json`); a stack never deployed has none.
        Raises BadOutputs, saying what is wrong, for outputs program.py does not export: a release
        path without its kind or names, `releasePaths` that is not a list, a certificate that is
        not an ACM ARN, services or functions without release paths."""
        if not isinstance(outputs, Mapping):
            raise BadOutputs(f"the outputs are {_type(outputs)}, not an object")
        raw_paths = outputs.get("releasePaths")
        if raw_paths is None:
            raw_paths = []
        if not isinstance(raw_paths, list):
            raise BadOutputs(f"releasePaths is {_type(raw_paths)}, not a list")
        services = outputs.get("services") or {}
        functions = outputs.get("functions") or {}
        for name, value in (("services", services), ("functions", functions)):
            if not isinstance(value, Mapping):
                raise BadOutputs(f"{name} is {_type(value)}, not an object")
        if not raw_paths and (services or functions):
            named = ", ".join(sorted([*services, *functions]))
            raise BadOutputs(
                f"they name {named} but no releasePaths, so preflight cannot tell what to check (outputs of a "
                "rollback-guard from before releasePaths, or of another program): deploy once with --skip-preflight, "
                "which exports them"
            )
        environment = _optional_text(outputs, "environment")
        table = _optional_text(outputs, "deploymentLogTableName")
        paths = tuple(_release_path(index, raw, services) for index, raw in enumerate(raw_paths))
        return cls(environment, table, paths)


def _release_path(index: int, raw: Any, services: Mapping[str, Any]) -> ReleasePath:
    where = f"releasePaths[{index}]"
    if not isinstance(raw, Mapping):
        raise BadOutputs(f"{where} is {_type(raw)}, not an object")
    service = raw.get("service")
    if not isinstance(service, str) or not service:
        raise BadOutputs(f"{where} names no service")
    where = f"{where} ({service})"
    kind = raw.get("kind")
    if kind not in KINDS:
        raise BadOutputs(f"{where}: kind {kind!r}, not one of {', '.join(KINDS)}")
    text = functools.partial(_optional_text, raw, where=where)
    needed = ("function", "alias") if kind == "lambda" else ("cluster", "ecsService")
    if text("deploymentGroup") is not None:
        needed += ("application",)
    for key in needed:
        if text(key) is None:
            raise BadOutputs(f"{where}: a {kind} release path needs {key}")
    alarms = raw.get("alarms") or []
    if not isinstance(alarms, list) or not all(isinstance(alarm, str) and alarm for alarm in alarms):
        raise BadOutputs(f"{where}: alarms must be a list of alarm names")
    hooks = raw.get("hooks") or {}
    if not isinstance(hooks, Mapping) or not all(isinstance(v, str) and v for v in hooks.values()):
        raise BadOutputs(f"{where}: hooks must map lifecycle events to function names")
    settings = services.get(service) or {}
    if not isinstance(settings, Mapping):
        raise BadOutputs(f"services.{service} is {_type(settings)}, not an object")
    certificate = settings.get("certificateArn")
    if certificate is not None and not (isinstance(certificate, str) and CERTIFICATE_ARN.fullmatch(certificate)):
        raise BadOutputs(
            f"services.{service}.certificateArn {certificate!r} is not an ACM certificate ARN "
            "(arn:aws:acm:REGION:ACCOUNT:certificate/ID)"
        )
    return ReleasePath(
        service=service,
        kind=kind,
        alarms=tuple(alarms),
        application=text("application"),
        deployment_group=text("deploymentGroup"),
        function=text("function"),
        alias=text("alias"),
        cluster=text("cluster"),
        ecs_service=text("ecsService"),
        hooks=dict(hooks),
        judge=text("judge"),
        certificate=certificate,
    )


def _optional_text(raw: Mapping[str, Any], key: str, where: str | None = None) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadOutputs(f"{f'{where}: ' if where else ''}{key} is {_type(value)}, not a string")
    return value


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}"
    )


def check_stack(exports: StackExports, session: boto3.Session | None = None) -> list[Finding]:
    """Everything that stands between the stack and a rollback, read from the account of `session`
    (in the stack's region): an empty list, or notes only, means ready."""
    if not exports.paths:
        return [
            Finding(
                FIRST_DEPLOY,
                Severity.NOTE,
                "stack",
                "nothing is deployed yet, so there is nothing to roll back to",
                "go ahead: the first deploy is allowed, and every later one is checked",
            )
        ]
    checks = _Checks(exports, _Account(session or boto3.Session()))
    found = [
        finding
        for path in exports.paths
        for name, check in checks.for_paths()
        for finding in _guarded(name, check(path))
    ]
    found += [finding for name, check in checks.for_account() for finding in _guarded(name, check())]
    return _folded(found)


# --- reading


class _Unreadable(Exception):
    """A read that failed: what was asked, about which resource, and what AWS (or the connection) said."""

    def __init__(self, service: str, api: str, error: ClientError | BotoCoreError, resource: str):
        self.call = f"{service} {api}"
        self.action = f"{_ACTION_PREFIX.get(service, service)}:{api}"
        self.resource = resource
        if isinstance(error, ClientError):
            self.code = error.response.get("Error", {}).get("Code", "")
            self.message = error.response.get("Error", {}).get("Message", "")
        else:
            self.code, self.message = type(error).__name__, str(error)
        super().__init__(f"{self.call}: {self.code}: {self.message}")

    def finding(self, checks: list[str]) -> Finding:
        """The one finding for this failed read, whichever checks needed it."""
        denied = _DENIED.search(self.code) is not None
        needed = f", needed by {_and(checks)}" if len(checks) > 1 else ""
        return Finding(
            checks[0],
            Severity.UNCHECKED,
            self.resource,
            f"could not read ({self.call}{needed}): {self.code}: {self.message}",
            f"let the credentials preflight runs with call {self.action}"
            if denied
            else "run preflight again; if this persists, AWS's answer says why",
        )


@dataclass(frozen=True)
class _Unchecked:
    """A check stopped by a failed read."""

    check: str
    unreadable: _Unreadable


def _guarded(check: str, found: Iterable[Finding | _Unchecked]) -> Iterator[Finding | _Unchecked]:
    """`found`, until a read fails: then that failure, which stopped the check."""
    try:
        yield from found
    except _Unreadable as unreadable:
        yield _Unchecked(check, unreadable)


def _folded(found: list[Finding | _Unchecked]) -> list[Finding]:
    """The findings in order, each once; a failed read once, where it first stopped a check, with
    every check it stopped."""
    order: list[Finding | _Unreadable] = []
    stopped: dict[_Unreadable, list[str]] = {}
    for item in found:
        if isinstance(item, _Unchecked):
            if item.unreadable not in stopped:
                stopped[item.unreadable] = []
                order.append(item.unreadable)
            if item.check not in stopped[item.unreadable]:
                stopped[item.unreadable].append(item.check)
        elif item not in order:
            order.append(item)
    return [item if isinstance(item, Finding) else item.finding(stopped[item]) for item in order]


class _Account:
    """The account as one run reads it. Each read is made once and its answer, or its failure, kept:
    checks that share a read agree, and a failed read stops every check that needs it (and is
    reported once). `about` names the resource read, as a finding names it."""

    def __init__(self, session: boto3.Session):
        if not session.region_name:
            raise ValueError("preflight needs a session in the stack's region")
        self.session = session
        self.region: str = session.region_name
        self._answers: dict[str, Any] = {}

    def read(self, about: str, service: str, operation: str, **params: Any) -> dict:
        return self._once(about, service, operation, params, False, lambda client: getattr(client, operation)(**params))

    def pages(self, about: str, service: str, operation: str, **params: Any) -> list[dict]:
        return self._once(
            about,
            service,
            operation,
            params,
            True,
            lambda client: list(client.get_paginator(operation).paginate(**params)),
        )

    def items(self, about: str, service: str, operation: str, key: str, **params: Any) -> list:
        """Every page's `key`."""
        return [item for page in self.pages(about, service, operation, **params) for item in page.get(key, [])]

    def found(
        self, about: str, missing: str | tuple[str, ...], service: str, operation: str, **params: Any
    ) -> dict | None:
        """The answer, or None if AWS says the thing read does not exist (error code(s) `missing`)."""
        try:
            return self.read(about, service, operation, **params)
        except _Unreadable as unreadable:
            if unreadable.code in ((missing,) if isinstance(missing, str) else missing):
                return None
            raise

    def _once(
        self, about: str, service: str, operation: str, params: dict, paged: bool, call: Callable[[Any], Any]
    ) -> Any:
        key = json.dumps([service, operation, paged, params], sort_keys=True, default=str)
        if key not in self._answers:
            client = _client(self.session, service)
            try:
                self._answers[key] = call(client)
            except (ClientError, BotoCoreError) as error:
                api = client.meta.method_to_api_mapping[operation]
                self._answers[key] = _Unreadable(service, api, error, about)
        answer = self._answers[key]
        if isinstance(answer, _Unreadable):
            raise answer
        return answer

    def arn(self, service: str, resource: str) -> str:
        partition = self.session.get_partition_for_region(self.region)
        account = self.read("the credentials' account", "sts", "get_caller_identity")["Account"]
        return f"arn:{partition}:{service}:{self.region}:{account}:{resource}"


@functools.cache
def _client(session: boto3.Session, service: str):
    """Made on first use, once per session: a client is costly to make, and safe to share."""
    return session.client(service, config=_CONFIG)


class _Brief(Patient):
    """History's reads (release/history.py), as preflight makes them: retried for a few seconds,
    and a failure is _Unreadable, about the resource its service reads."""

    def __init__(self, resources: Mapping[str, str]):
        super().__init__()
        self._resources = resources

    def call(
        self, what: str, operation: Callable[..., Any], *, until: float | None = None, retry_if=retryable, **params
    ):
        deadline = time.monotonic() + _HISTORY_PATIENCE_SECONDS if until is None else until
        try:
            return super().call(what, operation, until=deadline, retry_if=retry_if, **params)
        except (ClientError, BotoCoreError) as error:
            service, api = [*what.split(), "?", "?"][:2]  # "codedeploy ListDeployments greeter-deploy"
            raise _Unreadable(service, api, error, self._resources.get(service, service)) from None


@dataclass(frozen=True)
class _Need:
    """A call a role must be allowed: its action on its resource ("*" for an action IAM grants on
    no resource type), in the context IAM checks conditions against, and why it matters."""

    action: str
    resource: str
    why: str
    context: tuple[tuple[str, str], ...] = ()


# --- the checks


class _Checks:
    def __init__(self, exports: StackExports, account: _Account):
        self.exports, self.account = exports, account
        self._histories: dict[tuple[str | None, str | None], History] = {}
        # Resources already reported missing: each is one finding, whichever paths need it.
        self._reported: set[str] = set()

    def for_paths(self) -> list[tuple[str, Callable[[ReleasePath], Iterator[Finding]]]]:
        return [
            (AUTO_ROLLBACK, self.auto_rollback),
            (ALARMS, self.alarms),
            (LIVE_REVISION, self.live_revision),
            (KNOWN_GOOD, self.known_good),
            (CERTIFICATE, self.certificate),
            (IN_FLIGHT_CHECK, self.in_flight),
            (CODEDEPLOY_ROLE, self.codedeploy_role),
            (PERMISSIONS, self.permissions),
            (TEST_LISTENER, self.test_listener),
            (POLICY_SIZE, self.policy_size),
        ]

    def for_account(self) -> list[tuple[str, Callable[[], Iterator[Finding]]]]:
        return [
            (DEPLOYMENT_LOG, self.deployment_log),
            (CONCURRENCY, self.concurrency),
            (LOAD_BALANCER_QUOTAS, self.load_balancer_quotas),
        ]

    @property
    def stack(self) -> str:
        """The stack, as an `ops` command names it."""
        return self.exports.environment or "STACK"

    # --- per release path

    def auto_rollback(self, path: ReleasePath) -> Iterator[Finding]:
        """The deployment group exists and rolls a failed or stopped release back by itself; a service
        ECS releases itself has its circuit breaker and deployment alarms roll back."""
        if path.deployment_group:
            group = self._group(path)
            if group is None:
                yield _not_ready(
                    AUTO_ROLLBACK,
                    path.group_name,
                    f"does not exist: nothing releases {path.service}, nor rolls a release of it back",
                    "run `pulumi up --refresh`, which creates it",
                )
                return
            configuration = group.get("autoRollbackConfiguration") or {}
            if not configuration.get("enabled"):
                yield _not_ready(
                    AUTO_ROLLBACK,
                    path.group_name,
                    "its automatic rollback is disabled: a release that fails, or that an alarm stops, stays on the "
                    "new revision",
                    f"run `pulumi up --refresh`, which enables it on {' and '.join(REQUIRED_ROLLBACK_EVENTS)}",
                )
                return
            events = configuration.get("events") or ()
            left_out = [event for event in REQUIRED_ROLLBACK_EVENTS if event not in events]
            if left_out:
                yield _not_ready(
                    AUTO_ROLLBACK,
                    path.group_name,
                    f"its automatic rollback leaves out {' and '.join(left_out)}: "
                    + ", and ".join(LEFT_UNDONE[event] for event in left_out),
                    "run `pulumi up --refresh`, which restores the events",
                )
            return
        if path.kind != "ecs":
            return
        service = self._service(path)
        if service is None:
            return  # live-revision says so
        configuration = service.get("deploymentConfiguration") or {}
        for key, what, (no_rollback, off), left_undone, them in ECS_ROLLBACKS:
            setting = configuration.get(key) or {}
            if not (setting.get("enable") and setting.get("rollback")):
                yield _not_ready(
                    AUTO_ROLLBACK,
                    path.where,
                    f"{what} {no_rollback if setting.get('enable') else off}: {left_undone}",
                    f"run `pulumi up --refresh`, which turns {them} on with rollback",
                )

    def alarms(self, path: ReleasePath) -> Iterator[Finding]:
        """The rollback alarms exist, have data, and are exactly the ones the group (or ECS) stops on."""
        names = set(path.alarms)
        if path.deployment_group:
            names |= path.group_alarms
            group = self._group(path)
            if group is not None:
                configuration = group.get("alarmConfiguration") or {}
                listed = {alarm["name"] for alarm in configuration.get("alarms") or ()}
                if not configuration.get("enabled"):
                    yield _not_ready(
                        ALARMS,
                        path.group_name,
                        "its alarm configuration is disabled: CodeDeploy stops a release on no alarm",
                        "run `pulumi up --refresh`, which enables it",
                    )
                elif configuration.get("ignorePollAlarmFailure"):
                    yield _not_ready(
                        ALARMS,
                        path.group_name,
                        "it ignores alarms it cannot read (ignorePollAlarmFailure): a release goes on when CodeDeploy "
                        "cannot read an alarm's state",
                        "run `pulumi up --refresh`, which turns that off",
                    )
                yield from self._listed(path.group_name, "the group", path.group_alarms, listed)
                names |= listed
        elif path.kind == "ecs":
            service = self._service(path)
            configuration = ((service or {}).get("deploymentConfiguration") or {}).get("alarms") or {}
            if configuration.get("enable"):  # when it is off, auto-rollback says so
                listed = set(configuration.get("alarmNames") or ())
                yield from self._listed(
                    f"the deployment alarms of {path.where}", "the service", frozenset(path.alarms), listed
                )
                names |= listed
        if not names:
            return
        pages = self.account.pages(
            f"alarms {', '.join(sorted(names))}",
            "cloudwatch",
            "describe_alarms",
            AlarmNames=sorted(names),
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
        )
        found = {
            alarm["AlarmName"]: alarm
            for page in pages
            for kind in ("MetricAlarms", "CompositeAlarms")
            for alarm in page.get(kind, [])
        }
        for name in sorted(names):
            alarm = found.get(name)
            if alarm is None:
                yield _not_ready(
                    ALARMS,
                    f"alarm {name}",
                    "does not exist: nothing watches for it",
                    "run `pulumi up --refresh`, which creates it",
                )
            elif alarm["StateValue"] == "INSUFFICIENT_DATA":
                yield _not_ready(
                    ALARMS,
                    f"alarm {name}",
                    f"INSUFFICIENT_DATA ({alarm.get('StateReason', 'no reason given')}): it cannot fire without data",
                    "check that its metrics (namespace, name, dimensions) are the ones the service publishes",
                )
        yield from self._without_data(path, [found[name] for name in sorted(names) if name in found])

    def _listed(self, lister: str, owner: str, wanted: frozenset[str], listed: set[str]) -> Iterator[Finding]:
        """The alarms `lister` stops a release on are `wanted`, no fewer and no more; `owner` is where
        the list is kept."""
        for name in sorted(wanted - listed):
            yield _not_ready(
                ALARMS,
                f"alarm {name}",
                f"not listed by {lister}: a release goes on while it fires",
                "run `pulumi up --refresh`, which lists it again",
            )
        for name in sorted(listed - wanted):
            yield _not_ready(
                ALARMS,
                f"alarm {name}",
                f"listed by {lister} but not one of the stack's rollback alarms: it stops releases for reasons the "
                "stack does not know",
                f"remove it from {owner} (`pulumi up --refresh` puts {owner}'s list back)",
            )

    def _without_data(self, path: ReleasePath, alarms: list[dict]) -> Iterator[Finding]:
        """A note for each alarm none of whose metrics has a datapoint in the last ALARM_DATA_HOURS:
        with missing data not breaching, an alarm on a metric nobody publishes stays OK for ever.
        Only once the path has been released (its live revision is not its first): before, no
        traffic is no fault."""
        live = self._live(path)
        if live is None or path.first(live):
            return
        watched = {
            alarm["AlarmName"]: _metrics(alarm)
            for alarm in alarms
            if alarm.get("TreatMissingData") != "breaching"
            and alarm["StateValue"] != "INSUFFICIENT_DATA"  # said above
            and "AlarmRule" not in alarm  # a composite alarm has no metrics of its own
        }
        metrics = list(dict.fromkeys(json.dumps(m, sort_keys=True) for found in watched.values() for m in found))
        if not metrics:
            return
        ids = {metric: f"m{index}" for index, metric in enumerate(metrics)}
        end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        pages = self.account.pages(
            f"the metrics of alarms {', '.join(sorted(watched))}",
            "cloudwatch",
            "get_metric_data",
            MetricDataQueries=[
                {"Id": ids[metric], "MetricStat": {"Metric": json.loads(metric), "Period": 3600, "Stat": "SampleCount"}}
                for metric in metrics
            ],
            StartTime=end - timedelta(hours=ALARM_DATA_HOURS),
            EndTime=end,
        )
        answered: dict[str, tuple[bool, str, str]] = {}  # id: (any datapoint, status, message)
        for page in pages:
            for result in page.get("MetricDataResults", []):
                seen, _, _ = answered.get(result["Id"], (False, "", ""))
                message = "; ".join(m.get("Value", "") for m in result.get("Messages") or ()) or "no message"
                answered[result["Id"]] = (seen or bool(result.get("Values")), result.get("StatusCode", ""), message)
        for name, found in watched.items():
            results = [
                answered.get(ids[json.dumps(m, sort_keys=True)], (False, "omitted", "not answered")) for m in found
            ]
            if any(seen for seen, _, _ in results):
                continue
            failed = [(status, message) for _, status, message in results if status != "Complete"]
            if failed:
                status, message = failed[0]
                yield Finding(
                    ALARMS,
                    Severity.UNCHECKED,
                    f"alarm {name}",
                    f"could not read its metrics' datapoints (cloudwatch GetMetricData): {status}: {message}",
                    "let the credentials preflight runs with call cloudwatch:GetMetricData"
                    if status == "Forbidden"
                    else "run preflight again; if this persists, CloudWatch's answer says why",
                )
                continue
            alarm = next(alarm for alarm in alarms if alarm["AlarmName"] == name)
            yield _note(
                ALARMS,
                f"alarm {name}",
                f"none of its metrics ({', '.join(_metric_name(m) for m in found)}) has a datapoint in the last "
                f"{ALARM_DATA_HOURS} hours: it treats missing data as {alarm.get('TreatMissingData', 'missing')}, so "
                f"if nothing publishes them it stays {alarm['StateValue']} whatever a release does",
                f"if {path.service} had traffic in that time, make its metrics the ones the service publishes "
                "(namespace, name, dimensions); if it had none, nothing to do",
            )

    def live_revision(self, path: ReleasePath) -> Iterator[Finding]:
        """The revision a rollback of the next release returns to: the live one, published; and the
        alias whole, not left half-shifted by a deployment that is over."""
        live = self._live(path)
        if live is None:
            yield _not_ready(
                LIVE_REVISION,
                path.where,
                "does not exist: there is no live revision for traffic to return to",
                "run `pulumi up --refresh`, which creates it",
            )
        elif path.kind == "lambda" and not live.isdigit():
            yield _not_ready(
                LIVE_REVISION,
                path.where,
                f"points at {live}, not a published version: CodeDeploy shifts between published versions only",
                f"point it at the version last released: aws lambda update-alias --function-name {path.function} "
                f"--name {path.alias} --function-version N",
            )
        elif path.kind == "lambda":
            if not self._revision(path, live):
                yield _not_ready(
                    LIVE_REVISION,
                    f"function {path.function}:{live}",
                    "the live version does not exist: a rollback has nothing to return to",
                    f"point {path.alias} at a published version that exists (`ops redeploy --to N`)",
                )
            weights = ((self._alias(path) or {}).get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            if weights and not self._in_flight(path):
                shares = ", ".join(f"{weight * 100:g}% on version {version}" for version, weight in weights.items())
                yield _not_ready(
                    LIVE_REVISION,
                    path.where,
                    f"sends {shares} (the rest on {live}) with no deployment in flight: a traffic shift stopped "
                    "half-way, and the next release would start from a split alias",
                    f"put all traffic back on {live}: `ops rollback {self.stack} --service {path.service}`, which "
                    "clears the weights",
                )
        elif not self._revision(path, live):
            yield _not_ready(
                LIVE_REVISION,
                f"task definition {live}",
                "the live revision does not exist: a rollback has nothing to return to",
                "release a revision that exists (`ops redeploy --to FAMILY:N`)",
            )

    def known_good(self, path: ReleasePath) -> Iterator[Finding]:
        """Where `ops rollback` would put traffic if the live revision is bad, by its own rule
        (release/history.py, History.known_good: the revision the live one's release replaced, or an
        earlier successful one, passing over anything rolled back for cause, from CodeDeploy's
        history and the deployment log), exists. A service ECS releases itself has no such history:
        an earlier task definition revision must be left."""
        live = self._live(path)
        if live is None or (path.kind == "lambda" and not live.isdigit()):
            return  # live-revision says so
        if not path.deployment_group:
            if path.kind == "ecs":
                yield from self._earlier_revision(path, live)
            return
        if self._group(path) is None:
            return  # auto-rollback says so
        history = self._history(path)
        good = history.known_good(live)
        if good is not None:
            if not self._revision(path, good, active=True):
                yield _not_ready(
                    KNOWN_GOOD,
                    path.where,
                    f"`ops rollback` would go back to {good}, what {live}'s release replaced, which "
                    f"{'does not exist' if path.kind == 'lambda' else 'is deregistered or deleted'}: a rollback now "
                    "fails",
                    f"keep the {path.unit}s `ops rollback` may go back to; to release anyway (the release itself "
                    f"rolls back to {live}), pass --skip-preflight",
                )
            return
        days = WINDOWS[-1].days
        if path.first(live):
            yield _note(
                KNOWN_GOOD,
                path.where,
                f"{live} is its first {path.unit}: nothing earlier to roll back to",
                f"nothing to do: the next release can roll back to {live}",
            )
            return
        attempts = list(history.attempts())
        if not any(attempt.target == live for attempt in attempts):
            yield _note(
                KNOWN_GOOD,
                path.where,
                f"no deployment in CodeDeploy's last {days} days released {live}, so `ops rollback` has no known-good "
                f"{path.unit} to go back to from it (it looks no further back)",
                f"nothing to do: the next release rolls back to {live} if it fails, and `ops rollback` goes back to "
                f"{live} after it; to leave {live} now, `ops redeploy {self.stack} --to` an earlier {path.unit}",
            )
            return
        before = [
            revision
            for revision in dict.fromkeys(r for attempt in attempts for r in (attempt.target, attempt.source))
            if revision and revision != live
        ]
        rolled_back = [revision for revision in before if history.rolled_back(revision) is not None]
        why = (
            f"{_and(rolled_back)} {'was' if len(rolled_back) == 1 else 'were'} rolled back for cause"
            if rolled_back
            else f"the deployments that released {live} name no {path.unit} before it"
        )
        yield _not_ready(
            KNOWN_GOOD,
            path.where,
            f"`ops rollback` has no known-good {path.unit} to go back to from {live} (CodeDeploy's last {days} days "
            f"and the deployment log): {why}",
            f"release a {path.unit} you trust first (`ops redeploy {self.stack} --to N`), or pass --skip-preflight "
            "to release knowingly",
        )

    def _earlier_revision(self, path: ReleasePath, live: str) -> Iterator[Finding]:
        """A service ECS releases itself: an earlier revision of the live task definition's family is
        left to redeploy (`ops rollback` does not apply)."""
        family, revision = live.rsplit(":", 1)
        arns = self.account.items(
            f"task definition family {family}",
            "ecs",
            "list_task_definitions",
            "taskDefinitionArns",
            familyPrefix=family,
            status="ACTIVE",
        )
        revisions = [task_definition_revision(arn).rsplit(":", 1) for arn in arns]
        if any(f == family and int(n) < int(revision) for f, n in revisions):
            return
        if path.first(live):
            yield _note(
                KNOWN_GOOD,
                path.where,
                f"{live} is its first revision: nothing earlier to roll back to",
                f"nothing to do: the next release can roll back to {live}",
            )
        else:
            yield _not_ready(
                KNOWN_GOOD,
                path.where,
                f"no revision before {live} is left (deleted or deregistered): nothing to redeploy if {live} is bad",
                "keep earlier revisions; to release anyway, knowing that, pass --skip-preflight",
            )

    def certificate(self, path: ReleasePath) -> Iterator[Finding]:
        """The production listener's certificate is issued, in the stack's region."""
        if not path.certificate:
            return
        resource = f"certificate {path.certificate}"
        region = path.certificate.split(":")[3]
        if region != self.account.region:
            yield _not_ready(
                CERTIFICATE,
                resource,
                f"in {region}, not the stack's {self.account.region}: a load balancer takes certificates from its "
                "own region only",
                f"request or import the certificate in {self.account.region} and name that one in the stack",
            )
            return
        found = self.account.found(
            resource, "ResourceNotFoundException", "acm", "describe_certificate", CertificateArn=path.certificate
        )
        status = found["Certificate"]["Status"] if found else "missing"
        if status != "ISSUED":
            yield _not_ready(
                CERTIFICATE,
                resource,
                f"{status}, not ISSUED: the HTTPS listener cannot serve it",
                "finish its DNS validation (the CNAME record ACM asks for)"
                if status == "PENDING_VALIDATION"
                else "issue or import a valid certificate and name it in the stack",
            )

    def in_flight(self, path: ReleasePath) -> Iterator[Finding]:
        """No deployment of the group is under way: a release now would be refused or race it."""
        for deployment in self._in_flight(path):
            yield _not_ready(
                IN_FLIGHT_CHECK,
                f"deployment {deployment}",
                f"in flight in {path.application}/{path.deployment_group}: CodeDeploy runs one deployment of a "
                "group at a time, and a rollback would race it",
                f"wait for it to end (`ops status {self.stack}`), or stop it (`ops rollback {self.stack} "
                f"--service {path.service}`)",
            )

    def codedeploy_role(self, path: ReleasePath) -> Iterator[Finding]:
        """CodeDeploy's service role trusts CodeDeploy, carries its platform's managed policy, and may
        invoke the hooks."""
        group = self._group(path) if path.deployment_group else None
        if group is None:
            return
        role_arn = group["serviceRoleArn"]
        name = role_arn.rsplit("/", 1)[-1]
        role = self._role(name)
        if role is None:
            yield _not_ready(
                CODEDEPLOY_ROLE,
                f"role {name}",
                "does not exist: CodeDeploy cannot act for the group, nor roll it back",
                "run `pulumi up --refresh`, which creates it",
            )
            return
        if not _trusts(role["AssumeRolePolicyDocument"], CODEDEPLOY_PRINCIPAL):
            yield _not_ready(
                CODEDEPLOY_ROLE,
                f"role {name}",
                f"does not trust {CODEDEPLOY_PRINCIPAL}: CodeDeploy cannot act, nor roll back",
                "run `pulumi up --refresh`, which restores its trust policy",
            )
        attached = {policy["PolicyArn"].rsplit("/", 1)[-1] for policy in self._attached(name)}
        needed = CODEDEPLOY_POLICIES[path.kind]
        if not attached & set(needed):
            yield _not_ready(
                CODEDEPLOY_ROLE,
                f"role {name}",
                f"carries neither {' nor '.join(needed)}: CodeDeploy cannot move traffic, nor move it back",
                f"attach {needed[0]} (`pulumi up --refresh` attaches it)",
            )
        for event, hook in sorted(path.hooks.items()):
            function = self._function(hook)
            if function is None:
                continue  # permissions says so
            invoke = _Need(
                "lambda:InvokeFunction", function["FunctionArn"], f"{event} fails, and every release with it"
            )
            for need, decision in self._decisions(role_arn, [invoke]):
                if decision != "allowed":
                    yield _not_ready(
                        CODEDEPLOY_ROLE,
                        f"role {name}",
                        f"may not invoke {hook} ({decision}): {need.why}",
                        f"allow lambda:InvokeFunction on {need.resource} (`pulumi up --refresh` restores the grant)",
                    )

    def permissions(self, path: ReleasePath) -> Iterator[Finding]:
        """The hooks and the judge exist, with their roles, and may make the calls every release needs."""
        if path.deployment_group and self._group(path) is None:
            return  # auto-rollback says so: the hooks serve the group
        if path.kind == "ecs" and path.deployment_group and not path.hooks:
            yield _note(
                PERMISSIONS,
                path.where,
                "the stack's outputs name no hooks for it: their roles, their reach to the test listener and "
                "CodeDeploy's right to invoke them were not checked (the judge's were)",
                "export the hooks in the service's release path (components/service.py, release_path)",
            )
        for function, needs in self._needs(path):
            yield from _guarded(PERMISSIONS, self._denied(function, needs))

    def test_listener(self, path: ReleasePath) -> Iterator[Finding]:
        """The hooks and the judge, from their subnets, reach the test listener: its load balancer's
        security groups admit them on its port, and theirs let them out to it."""
        group = self._group(path) if path.kind == "ecs" and path.deployment_group else None
        if group is None:
            return
        # The functions that call the test listener, by subnet and by their security groups.
        by_subnet: dict[str, tuple[list[str], set[str]]] = {}
        by_groups: dict[tuple[str, ...], list[str]] = {}
        for name in (*path.hooks.values(), *([path.judge] if path.judge else [])):
            network = (self._function(name) or {}).get("VpcConfig") or {}
            subnets, groups = network.get("SubnetIds") or (), tuple(sorted(network.get("SecurityGroupIds") or ()))
            for subnet in subnets:
                names, sources = by_subnet.setdefault(subnet, ([], set()))
                names.append(name)
                sources |= set(groups)
            if subnets and groups:
                by_groups.setdefault(groups, []).append(name)
        if not by_subnet:
            return
        pairs = (group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or ()
        for arn in [arn for pair in pairs for arn in (pair.get("testTrafficRoute") or {}).get("listenerArns", ())]:
            found = self.account.found(
                f"test listener {arn}", "ListenerNotFound", "elbv2", "describe_listeners", ListenerArns=[arn]
            )
            if found is None:
                yield from self._missing(
                    TEST_LISTENER,
                    f"test listener {arn}",
                    f"does not exist (named by {path.group_name}): the smoke test and the judge's probes cannot "
                    "reach green, and CodeDeploy cannot route test traffic, so every release fails",
                )
                continue
            listener = found["Listeners"][0]
            yield from self._reach(path, listener, by_subnet, by_groups)

    def _reach(
        self,
        path: ReleasePath,
        listener: dict,
        by_subnet: dict[str, tuple[list[str], set[str]]],
        by_groups: dict[tuple[str, ...], list[str]],
    ) -> Iterator[Finding]:
        port = listener["Port"]
        balancer = self.account.found(
            f"load balancer {listener['LoadBalancerArn']}",
            "LoadBalancerNotFound",
            "elbv2",
            "describe_load_balancers",
            LoadBalancerArns=[listener["LoadBalancerArn"]],
        )
        if balancer is None:
            yield from self._missing(
                TEST_LISTENER,
                f"load balancer {listener['LoadBalancerArn']}",
                "does not exist: nothing serves the test listener, nor production",
            )
            return
        balancer = balancer["LoadBalancers"][0]
        name, group_ids = balancer["LoadBalancerName"], balancer.get("SecurityGroups") or []
        groups, missing = self._security_groups(
            group_ids,
            f"load balancer {name}",
            "does not exist: the load balancer admits nothing it should, the test listener's callers included",
        )
        yield from missing
        if None in groups:
            return
        cidrs = self._cidrs(f"the subnets of the functions that call {name}", sorted(by_subnet))
        shut = [
            f"{subnet} ({cidrs[subnet]}: {', '.join(by_subnet[subnet][0])})"
            for subnet in sorted(cidrs, key=lambda subnet: ipaddress.ip_network(cidrs[subnet]))
            if not _admits(groups, port, cidrs[subnet], by_subnet[subnet][1])
        ]
        if shut:
            yield _not_ready(
                TEST_LISTENER,
                f"test listener {name}:{port}",
                f"its load balancer's security groups ({', '.join(group_ids) or 'none'}) do not admit "
                f"{'; '.join(shut)} on port {port}: the smoke test and the judge's probes cannot reach green, "
                "so every release fails",
                f"allow TCP {port} from those subnets' CIDRs, or from the hooks' security groups "
                "(`pulumi up --refresh` restores the stack's rules)",
            )
        # Out of the callers: to the load balancer's nodes, in its subnets (or to its security groups).
        subnets = sorted(zone["SubnetId"] for zone in balancer.get("AvailabilityZones") or () if zone.get("SubnetId"))
        nodes = self._cidrs(f"the subnets of load balancer {name}", subnets) if subnets else {}
        for caller_groups, callers in sorted(by_groups.items()):
            found, missing = self._security_groups(
                caller_groups,
                ", ".join(callers),
                "does not exist: Lambda cannot place the functions in their subnets, so they fail",
            )
            yield from missing
            if None in found:
                continue
            closed = sorted(
                {cidr for cidr in nodes.values() if not _admits(found, port, cidr, set(group_ids), egress=True)},
                key=ipaddress.ip_network,
            )
            if closed:
                yield _not_ready(
                    TEST_LISTENER,
                    f"security group{'s' if len(caller_groups) > 1 else ''} {', '.join(caller_groups)} of "
                    f"{', '.join(callers)}",
                    f"let{'s' if len(caller_groups) == 1 else ''} no TCP {port} out to load balancer {name} "
                    f"(its subnets {', '.join(closed)}): the smoke test and the judge's probes cannot reach green, so "
                    "every release fails",
                    f"allow egress on TCP {port} to those subnets' CIDRs, or to the load balancer's security groups "
                    "(`pulumi up --refresh` restores the stack's rules)",
                )

    def policy_size(self, path: ReleasePath) -> Iterator[Finding]:
        """The roles a rollback acts through are within IAM's policy quotas (rollback_guard.limits)."""
        group = self._group(path) if path.deployment_group else None
        roles = [group["serviceRoleArn"]] if group else []
        for name in (*path.hooks.values(), *([path.judge] if path.judge else [])):
            function = self._function(name)
            if function is not None:
                roles.append(function["Role"])
        for name in dict.fromkeys(arn.rsplit("/", 1)[-1] for arn in roles):
            yield from _guarded(POLICY_SIZE, self._oversized(name))

    # --- for the account

    def deployment_log(self) -> Iterator[Finding]:
        """The deployment log exists: the post-traffic hooks record every release in it, and
        `ops rollback` reads it for what was rolled back."""
        if not self.exports.deployment_log:
            return
        table = self._table()
        resource = f"table {self.exports.deployment_log}"
        if table is None:
            yield from self._missing(
                DEPLOYMENT_LOG,
                resource,
                "does not exist: the post-traffic hooks cannot record a release, so every release fails, and "
                "`ops rollback` cannot tell which revisions were rolled back",
            )
        elif table.get("TableStatus") not in TABLE_USABLE:
            yield _not_ready(
                DEPLOYMENT_LOG,
                resource,
                f"{table.get('TableStatus')}: the post-traffic hooks cannot record a release, so every release fails",
                "wait for it to become ACTIVE, or restore it (`pulumi up --refresh` creates a missing one)",
            )

    def concurrency(self) -> Iterator[Finding]:
        """Lambda keeps at least LAMBDA_UNRESERVED_CONCURRENCY executions unreserved: the hooks and
        the judge run on them, and Lambda refuses a reservation that leaves fewer."""
        if not any(path.kind == "lambda" or path.hooks or path.judge for path in self.exports.paths):
            return
        where = f"Lambda concurrency in {self.account.region}"
        limit = self.account.read(where, "lambda", "get_account_settings")["AccountLimit"]
        unreserved = limit["UnreservedConcurrentExecutions"]
        if unreserved < LAMBDA_UNRESERVED_CONCURRENCY:
            yield _not_ready(
                CONCURRENCY,
                where,
                f"{unreserved} of the account's {limit['ConcurrentExecutions']} concurrent executions are unreserved; "
                f"Lambda needs at least {LAMBDA_UNRESERVED_CONCURRENCY}: hooks may be throttled and a function's "
                "reservation refused",
                "lower other functions' reserved concurrency, or raise the quota (Service Quotas: Lambda, "
                "Concurrent executions)",
            )

    def load_balancer_quotas(self) -> Iterator[Finding]:
        """Room under the account's load balancer and target group quotas."""
        if not any(path.kind == "ecs" for path in self.exports.paths):
            return
        region = self.account.region
        limits = {
            limit["Name"]: int(limit["Max"])
            for limit in self.account.items(
                f"Elastic Load Balancing quotas in {region}", "elbv2", "describe_account_limits", "Limits"
            )
        }
        balancers = self.account.items(
            f"load balancers in {region}", "elbv2", "describe_load_balancers", "LoadBalancers"
        )
        in_use = {
            "application-load-balancers": sum(1 for balancer in balancers if balancer.get("Type") == "application"),
            "target-groups": len(
                self.account.items(f"target groups in {region}", "elbv2", "describe_target_groups", "TargetGroups")
            ),
        }
        for name in LOAD_BALANCER_LIMITS:
            if name in limits and in_use[name] >= limits[name]:
                yield _not_ready(
                    LOAD_BALANCER_QUOTAS,
                    f"quota {name} in {region}",
                    f"{in_use[name]} of {limits[name]} in use: an `up` that adds a service is refused",
                    "delete unused ones, or raise the quota (Service Quotas: Elastic Load Balancing)",
                )

    # --- what the checks share

    def _security_groups(self, ids: Sequence[str], owner: str, problem: str) -> tuple[list[dict | None], list[Finding]]:
        """The security groups `ids` of `owner` as they are (None: not there), and a finding (once
        each) for every one that does not exist, saying `problem`."""
        found = [self._security_group(group_id) for group_id in ids]
        missing = [
            finding
            for group_id, group in zip(ids, found, strict=True)
            if group is None
            for finding in self._missing(TEST_LISTENER, f"security group {group_id} of {owner}", problem)
        ]
        return found, missing

    def _missing(self, check: str, resource: str, problem: str) -> Iterator[Finding]:
        """A resource that is not there: one finding, however many paths and checks need it."""
        if resource in self._reported:
            return
        self._reported.add(resource)
        yield _not_ready(check, resource, problem, "run `pulumi up --refresh`, which creates it")

    def _group(self, path: ReleasePath) -> dict | None:
        """The deployment group as deployed; None if it (or its application) does not exist."""
        found = self.account.found(
            path.group_name,
            ("DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"),
            "codedeploy",
            "get_deployment_group",
            applicationName=path.application,
            deploymentGroupName=path.deployment_group,
        )
        return found["deploymentGroupInfo"] if found else None

    def _in_flight(self, path: ReleasePath) -> list[str]:
        """The group's deployments under way (none if there is no group)."""
        if not path.deployment_group or self._group(path) is None:
            return []
        return self.account.items(
            path.group_name,
            "codedeploy",
            "list_deployments",
            "deployments",
            applicationName=path.application,
            deploymentGroupName=path.deployment_group,
            includeOnlyStatuses=IN_FLIGHT,
        )

    def _history(self, path: ReleasePath) -> History:
        """What `ops rollback` reads to pick its target (ops/releases.py, Operations.history)."""
        key = (path.application, path.deployment_group)
        if key not in self._histories:
            table, environment = self.exports.deployment_log, self.exports.environment
            # A missing log is deployment-log's finding; the history is read without it.
            log = LogRef(table, path.service, environment) if table and environment and self._table() else None
            resources = {"codedeploy": path.group_name, "dynamodb": f"table {table}"}
            self._histories[key] = History(
                self.account.session, path.application, path.deployment_group, _Brief(resources), log
            )
        return self._histories[key]

    def _table(self) -> dict | None:
        name = self.exports.deployment_log
        found = self.account.found(
            f"table {name}", "ResourceNotFoundException", "dynamodb", "describe_table", TableName=name
        )
        return found["Table"] if found else None

    def _function(self, name: str) -> dict | None:
        return self.account.found(
            f"function {name}", "ResourceNotFoundException", "lambda", "get_function_configuration", FunctionName=name
        )

    def _role(self, name: str) -> dict | None:
        found = self.account.found(f"role {name}", "NoSuchEntity", "iam", "get_role", RoleName=name)
        return found["Role"] if found else None

    def _attached(self, role: str) -> list[dict]:
        return self.account.items(
            f"role {role}", "iam", "list_attached_role_policies", "AttachedPolicies", RoleName=role
        )

    def _security_group(self, group_id: str) -> dict | None:
        found = self.account.found(
            f"security group {group_id}",
            "InvalidGroup.NotFound",
            "ec2",
            "describe_security_groups",
            GroupIds=[group_id],
        )
        return found["SecurityGroups"][0] if found and found.get("SecurityGroups") else None

    def _cidrs(self, about: str, subnets: list[str]) -> dict[str, str]:
        """Each subnet's IPv4 CIDR."""
        found = self.account.read(about, "ec2", "describe_subnets", SubnetIds=subnets)["Subnets"]
        return {subnet["SubnetId"]: subnet["CidrBlock"] for subnet in found}

    def _alias(self, path: ReleasePath) -> dict | None:
        return self.account.found(
            path.where, "ResourceNotFoundException", "lambda", "get_alias", FunctionName=path.function, Name=path.alias
        )

    def _service(self, path: ReleasePath) -> dict | None:
        """The ECS service as deployed; None if it (or its cluster) does not exist."""
        described = self.account.found(
            path.where,
            "ClusterNotFoundException",
            "ecs",
            "describe_services",
            cluster=path.cluster,
            services=[path.ecs_service],
        )
        services = [s for s in (described or {}).get("services", []) if s.get("status") == "ACTIVE"]
        return services[0] if services else None

    def _live(self, path: ReleasePath) -> str | None:
        """The live revision: the version the alias points at, or the task definition (family:N) the
        service runs (its primary task set's, under CodeDeploy); None if the alias or service is gone.
        The same as `ops` reads it (release/engine.py, Releaser.live_version, live_task_definition)."""
        if path.kind == "lambda":
            alias = self._alias(path)
            return alias["FunctionVersion"] if alias else None
        service = self._service(path)
        if service is None:
            return None
        primary = [task_set for task_set in service.get("taskSets") or () if task_set.get("status") == "PRIMARY"]
        arn = primary[0]["taskDefinition"] if primary else service.get("taskDefinition")
        return task_definition_revision(arn) if arn else None

    def _revision(self, path: ReleasePath, revision: str, active: bool = False) -> bool:
        """Whether a revision exists: a published version, or a task definition (with `active`, an
        ACTIVE one: ECS starts no new task set from a deregistered one)."""
        if path.kind == "lambda":
            return (
                self.account.found(
                    f"function {path.function}:{revision}",
                    "ResourceNotFoundException",
                    "lambda",
                    "get_function_configuration",
                    FunctionName=path.function,
                    Qualifier=revision,
                )
                is not None
            )
        found = self.account.found(
            f"task definition {revision}", "ClientException", "ecs", "describe_task_definition", taskDefinition=revision
        )
        return found is not None and (not active or found["taskDefinition"].get("status", "ACTIVE") == "ACTIVE")

    def _needs(self, path: ReleasePath) -> Iterator[tuple[str, list[_Need]]]:
        """Each hook's and the judge's calls every release needs, by function."""
        if not path.deployment_group:
            return
        group = self.account.arn("codedeploy", f"deploymentgroup:{path.application}/{path.deployment_group}")
        application = self.account.arn("codedeploy", f"application:{path.application}")
        table = (
            self.account.arn("dynamodb", f"table/{self.exports.deployment_log}")
            if self.exports.deployment_log
            else None
        )
        live = self._live(path) if path.kind == "lambda" else None
        # A version of the function, as the smoke test and the probes invoke it.
        version = self.account.arn("lambda", f"function:{path.function}:{live}") if live and live.isdigit() else None
        report = _Need(
            "codedeploy:PutLifecycleEventHookExecutionStatus",
            group,
            "CodeDeploy never hears its verdict: the release hangs for an hour, then fails",
        )
        release = [
            _Need("codedeploy:GetDeployment", group, "it reads the deployment it runs for, or fails every release"),
            _Need(
                "codedeploy:GetApplicationRevision",
                application,
                "it reads the deployment's AppSpec (what the release moves), or fails every release",
            ),
        ]
        for event, hook in sorted(path.hooks.items()):
            needs = [report, *(release if event in HOOKS_READING_THE_RELEASE else [])]
            if event == "BeforeAllowTraffic" and version:
                needs.append(_Need("lambda:InvokeFunction", version, "it smoke-tests the new version by invoking it"))
            if event == "AfterAllowTestTraffic":
                needs.append(
                    _Need(
                        "ec2:DescribeNetworkInterfaces",
                        "*",
                        "it finds the load balancer's private address to reach the test listener",
                    )
                )
            if event == "AfterAllowTraffic":
                if table:
                    needs.append(
                        _Need("dynamodb:PutItem", table, "it records the release, which later rollbacks trust")
                    )
                    if path.kind == "ecs":
                        needs.append(
                            _Need(
                                "dynamodb:Query",
                                table,
                                "it reads the revision the release replaced, which an ECS AppSpec does not name",
                            )
                        )
                    if path.judge:
                        needs.append(
                            _Need(
                                "dynamodb:GetItem",
                                table,
                                "it reads the canary judge's verdict, without which the release does not complete",
                            )
                        )
                if path.kind == "lambda":
                    needs += [
                        _Need(
                            "cloudwatch:DescribeAlarms",
                            self.account.arn("cloudwatch", f"alarm:{alarm}"),
                            "it watches the alarms after the last shift, when CodeDeploy no longer does",
                        )
                        for alarm in path.alarms
                    ]
            yield hook, needs
        if not path.judge:
            return
        judge = [
            _Need("codedeploy:ListDeployments", group, "it finds the release it judges"),
            _Need("codedeploy:GetDeployment", group, "it finds the release it judges"),
            _Need("codedeploy:StopDeployment", "*", "its verdict stops a bad release with rollback"),
            _Need("cloudwatch:GetMetricData", "*", "it compares the new version with the old"),
            _Need(
                "cloudwatch:PutMetricData",
                "*",
                "its heartbeat: without it, its alarm stops every release",
                (("cloudwatch:namespace", JUDGE_NAMESPACE),),
            ),
        ]
        if table:
            judge.append(_Need("dynamodb:UpdateItem", table, "it keeps its state and verdicts there"))
        if version:
            judge.append(_Need("lambda:InvokeFunction", version, "it probes the new version"))
        yield path.judge, judge

    def _denied(self, function: str, needs: list[_Need]) -> Iterator[Finding]:
        found = self._function(function)
        if found is None:
            yield from self._missing(PERMISSIONS, f"function {function}", "does not exist: CodeDeploy cannot run it")
            return
        role = found["Role"]
        name = role.rsplit("/", 1)[-1]
        if self._role(name) is None:
            yield from self._missing(
                PERMISSIONS,
                f"role {name} of {function}",
                "does not exist: Lambda cannot run the function without it, so the release it serves fails",
            )
            return
        for need, decision in self._decisions(role, needs):
            if decision != "allowed":
                yield _not_ready(
                    PERMISSIONS,
                    f"role {name} of {function}",
                    f"may not call {need.action} on {need.resource} ({decision}): {need.why}",
                    "allow it in the role's policies (`pulumi up --refresh` restores what the stack grants)",
                )

    def _decisions(self, role: str, needs: Iterable[_Need]) -> Iterator[tuple[_Need, str]]:
        """IAM's policy simulator on each need: one call per resource and context."""
        batches: dict[tuple[str, tuple], list[_Need]] = {}
        for need in needs:
            batches.setdefault((need.resource, need.context), []).append(need)
        for (resource, context), batch in batches.items():
            params: dict[str, Any] = {"PolicySourceArn": role, "ActionNames": [need.action for need in batch]}
            if resource != "*":
                params["ResourceArns"] = [resource]
            if context:
                params["ContextEntries"] = [
                    {"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}
                    for key, value in context
                ]
            results = self.account.items(
                f"the policies of role {role.rsplit('/', 1)[-1]}",
                "iam",
                "simulate_principal_policy",
                "EvaluationResults",
                **params,
            )
            decisions = {result["EvalActionName"].lower(): result["EvalDecision"] for result in results}
            for need in batch:
                # An action the simulator did not answer for is not allowed: fail closed.
                yield need, decisions.get(need.action.lower(), "implicitDeny")

    def _oversized(self, name: str) -> Iterator[Finding]:
        role = self._role(name)
        if role is None:
            return  # the checks that need the role say so
        resource = f"role {name}"
        trust = policy_characters(role["AssumeRolePolicyDocument"])
        if trust > TRUST_POLICY_CHARACTERS:
            yield _not_ready(
                POLICY_SIZE,
                resource,
                f"its trust policy has {trust} characters; IAM allows {TRUST_POLICY_CHARACTERS} by default",
                "shorten it, or raise the quota (Service Quotas: IAM, Role trust policy length)",
            )
        inline = sum(
            policy_characters(
                self.account.read(
                    f"policy {policy} of role {name}", "iam", "get_role_policy", RoleName=name, PolicyName=policy
                )["PolicyDocument"]
            )
            for policy in self.account.items(resource, "iam", "list_role_policies", "PolicyNames", RoleName=name)
        )
        if inline > INLINE_POLICY_CHARACTERS_PER_ROLE:
            yield _not_ready(
                POLICY_SIZE,
                resource,
                f"its inline policies have {inline} characters together; IAM allows "
                f"{INLINE_POLICY_CHARACTERS_PER_ROLE} per role",
                "move statements into a customer managed policy",
            )
        attached = self._attached(name)
        if len(attached) > MANAGED_POLICIES_PER_ROLE:
            yield _not_ready(
                POLICY_SIZE,
                resource,
                f"{len(attached)} managed policies are attached; IAM allows {MANAGED_POLICIES_PER_ROLE} by default",
                "merge some, or raise the quota (Service Quotas: IAM, Managed policies per role)",
            )
        for policy in attached:
            arn = policy["PolicyArn"]
            if arn.split(":")[4] == "aws":
                continue  # AWS's own, sized by AWS
            about = f"policy {arn}"
            version = self.account.read(about, "iam", "get_policy", PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = self.account.read(about, "iam", "get_policy_version", PolicyArn=arn, VersionId=version)
            size = policy_characters(document["PolicyVersion"]["Document"])
            if size > MANAGED_POLICY_CHARACTERS:
                yield _not_ready(
                    POLICY_SIZE,
                    f"policy {policy['PolicyName']} of role {name}",
                    f"{size} characters; IAM allows {MANAGED_POLICY_CHARACTERS} for a managed policy",
                    "split it in two",
                )


def _not_ready(check: str, resource: str, problem: str, fix: str) -> Finding:
    return Finding(check, Severity.NOT_READY, resource, problem, fix)


def _note(check: str, resource: str, problem: str, fix: str) -> Finding:
    return Finding(check, Severity.NOTE, resource, problem, fix)


def _one_line(text: str) -> str:
    """`text` on one line: each line break, with the blanks around it, becomes one space."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip()) if text else ""


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _metrics(alarm: Mapping[str, Any]) -> list[dict]:
    """The metrics an alarm reads (namespace, name, dimensions), as GetMetricData names them: its
    own, or its metric queries'."""
    found = (
        [alarm]
        if alarm.get("MetricName")
        else [query["MetricStat"]["Metric"] for query in alarm.get("Metrics") or () if "MetricStat" in query]
    )
    return [
        {
            "Namespace": metric.get("Namespace", ""),
            "MetricName": metric["MetricName"],
            **({"Dimensions": metric["Dimensions"]} if metric.get("Dimensions") else {}),
        }
        for metric in found
    ]


def _metric_name(metric: Mapping[str, Any]) -> str:
    dimensions = ", ".join(f"{d['Name']}={d['Value']}" for d in metric.get("Dimensions") or ())
    return f"{metric['Namespace']} {metric['MetricName']}" + (f" [{dimensions}]" if dimensions else "")


def _trusts(document: Mapping[str, Any], service: str) -> bool:
    """Whether a trust policy lets `service` assume the role."""
    for statement in _as_list(document.get("Statement")):
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
        actions = _as_list(statement.get("Action"))
        if (
            statement.get("Effect") == "Allow"
            and service in services
            and any(action in ("sts:AssumeRole", "sts:*", "*") for action in actions)
        ):
            return True
    return False


def _admits(groups: Iterable[Mapping[str, Any]], port: int, cidr: str, peers: set[str], egress: bool = False) -> bool:
    """Whether security groups admit TCP on `port` from the subnet `cidr` or from security groups
    `peers`; with `egress`, whether they let it out to them."""
    network = ipaddress.ip_network(cidr)
    for group in groups:
        for rule in group.get("IpPermissionsEgress" if egress else "IpPermissions") or ():
            protocol = rule.get("IpProtocol")
            if protocol not in ("-1", "tcp", "6"):
                continue
            if protocol != "-1" and not rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535):
                continue
            ranges = [ipaddress.ip_network(r["CidrIp"]) for r in rule.get("IpRanges") or ()]
            if any(network.subnet_of(allowed) for allowed in ranges):
                return True
            if any(pair.get("GroupId") in peers for pair in rule.get("UserIdGroupPairs") or ()):
                return True
    return False
