"""Is a stack ready to roll back? Read-only checks of the account, run before a release.

A release is only as safe as its way back: the alarms that stop it, the revision traffic returns
to, the roles CodeDeploy and the hooks act through, the network the smoke test crosses, the quotas
the functions run in. `check_stack` reads each of them (nothing is written) and returns findings,
each naming the check, the resource, what is wrong and what to do (docs/preflight.md lists them).

Its input is what the stack exports (`StackExports.from_outputs`, program.py's outputs). The rest
is read from the account, as deployed: a deployment group's alarm list, service role and test
listener; a hook's role and subnets. A read that fails (AccessDenied, throttling, a resource that
is not there) is a finding of its own, never a pass: preflight fails closed.

Nothing deployed yet means nothing to roll back to: a first deploy gets a note, not a refusal, or
it could never happen. The same holds for a release path whose live revision is its first.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from rollback_guard.hooks.judge import JUDGE_NAMESPACE
from rollback_guard.limits import (
    INLINE_POLICY_CHARACTERS_PER_ROLE,
    LAMBDA_UNRESERVED_CONCURRENCY,
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_CHARACTERS,
    TRUST_POLICY_CHARACTERS,
    policy_characters,
)
from rollback_guard.release.appspec import task_definition_revision
from rollback_guard.release.history import IN_FLIGHT

# The checks' names, as findings carry them (docs/preflight.md describes each).
FIRST_DEPLOY = "first-deploy"
ALARMS = "alarms"
LIVE_REVISION = "live-revision"
KNOWN_GOOD = "known-good"
CERTIFICATE = "certificate"
IN_FLIGHT_CHECK = "in-flight"
CODEDEPLOY_ROLE = "codedeploy-role"
PERMISSIONS = "permissions"
TEST_LISTENER = "test-listener"
POLICY_SIZE = "policy-size"
CONCURRENCY = "concurrency"
LOAD_BALANCER_QUOTAS = "load-balancer-quotas"

# The judge's heartbeat alarm is named for its function (components/canary_judge.py,
# heartbeat_alarm_name); its deployment group lists it beside the rollback alarms.
HEARTBEAT_SUFFIX = "-silent"
# What CodeDeploy's service role carries for each platform: the limited managed policy the
# components attach, or the broader one it is a part of.
CODEDEPLOY_POLICIES = {
    "lambda": ("AWSCodeDeployRoleForLambdaLimited", "AWSCodeDeployRoleForLambda"),
    "ecs": ("AWSCodeDeployRoleForECSLimited", "AWSCodeDeployRoleForECS"),
}
CODEDEPLOY_PRINCIPAL = "codedeploy.amazonaws.com"
# The Elastic Load Balancing quotas a stack of services draws on, by describe_account_limits' names.
LOAD_BALANCER_LIMITS = ("application-load-balancers", "target-groups")

# Reads retry throttling and 5xx answers a few times; what still fails is a finding.
_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 3})
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
    check: str
    severity: Severity
    resource: str
    problem: str
    fix: str

    @property
    def blocks(self) -> bool:
        return self.severity is not Severity.NOTE

    def line(self) -> str:
        return f"{self.severity} {self.check}: {self.resource}: {self.problem}; {self.fix}"

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "severity": str(self.severity), "line": self.line()}


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
        return frozenset(self.alarms) | ({f"{self.judge}{HEARTBEAT_SUFFIX}"} if self.judge else set())

    @property
    def where(self) -> str:
        """The release path's live side, as a finding names it."""
        if self.kind == "lambda":
            return f"function {self.function}:{self.alias}"
        return f"service {self.cluster}/{self.ecs_service}"


@dataclass(frozen=True)
class StackExports:
    """What preflight needs of a stack's outputs."""

    environment: str | None
    deployment_log: str | None
    paths: tuple[ReleasePath, ...]

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> StackExports:
        """From program.py's outputs (`pulumi stack output --json`); a stack never deployed has none."""
        services = outputs.get("services") or {}
        paths = tuple(
            ReleasePath(
                service=raw["service"],
                kind=raw["kind"],
                alarms=tuple(raw.get("alarms") or ()),
                application=raw.get("application"),
                deployment_group=raw.get("deploymentGroup"),
                function=raw.get("function"),
                alias=raw.get("alias"),
                cluster=raw.get("cluster"),
                ecs_service=raw.get("ecsService"),
                hooks=dict(raw.get("hooks") or {}),
                judge=raw.get("judge"),
                certificate=(services.get(raw["service"]) or {}).get("certificateArn"),
            )
            for raw in outputs.get("releasePaths") or ()
        )
        return cls(outputs.get("environment"), outputs.get("deploymentLogTableName"), paths)


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
        for finding in _guarded(name, path.service, check(path))
    ]
    found += [finding for name, check in checks.for_account() for finding in _guarded(name, "account", check())]
    return found


# --- reading


class _Unreadable(Exception):
    """A read that failed: what was asked and what AWS (or the connection) said."""

    def __init__(self, service: str, api: str, error: ClientError | BotoCoreError):
        self.call = f"{service} {api}"
        self.action = f"{_ACTION_PREFIX.get(service, service)}:{api}"
        if isinstance(error, ClientError):
            self.code = error.response.get("Error", {}).get("Code", "")
            self.message = error.response.get("Error", {}).get("Message", "")
        else:
            self.code, self.message = type(error).__name__, str(error)
        super().__init__(f"{self.call}: {self.code}: {self.message}")

    def finding(self, check: str, resource: str) -> Finding:
        denied = _DENIED.search(self.code) is not None
        return Finding(
            check,
            Severity.UNCHECKED,
            resource,
            f"could not read ({self.call}): {self.code}: {self.message}",
            f"let the credentials preflight runs with call {self.action}"
            if denied
            else "run preflight again; if this persists, AWS's answer says why",
        )


def _guarded(check: str, resource: str, found: Iterable[Finding]) -> Iterator[Finding]:
    """`found`, until a read fails: then that failure, as the check's finding."""
    try:
        yield from found
    except _Unreadable as unreadable:
        yield unreadable.finding(check, resource)


class _Account:
    """The account as one run reads it. Each read is made once and its answer, or its failure, kept:
    checks that share a read agree, and a failed read stops every check that needs it."""

    def __init__(self, session: boto3.Session):
        if not session.region_name:
            raise ValueError("preflight needs a session in the stack's region")
        self.session = session
        self.region: str = session.region_name
        self._answers: dict[str, Any] = {}

    def read(self, service: str, operation: str, **params: Any) -> dict:
        return self._once(service, operation, params, False, lambda client: getattr(client, operation)(**params))

    def pages(self, service: str, operation: str, **params: Any) -> list[dict]:
        return self._once(
            service, operation, params, True, lambda client: list(client.get_paginator(operation).paginate(**params))
        )

    def items(self, service: str, operation: str, key: str, **params: Any) -> list:
        """Every page's `key`."""
        return [item for page in self.pages(service, operation, **params) for item in page.get(key, [])]

    def found(self, missing: str, service: str, operation: str, **params: Any) -> dict | None:
        """The answer, or None if AWS says the thing read does not exist (error code `missing`)."""
        try:
            return self.read(service, operation, **params)
        except _Unreadable as unreadable:
            if unreadable.code == missing:
                return None
            raise

    def _once(self, service: str, operation: str, params: dict, paged: bool, call: Callable[[Any], Any]) -> Any:
        key = json.dumps([service, operation, paged, params], sort_keys=True, default=str)
        if key not in self._answers:
            client = _client(self.session, service)
            try:
                self._answers[key] = call(client)
            except (ClientError, BotoCoreError) as error:
                self._answers[key] = _Unreadable(service, client.meta.method_to_api_mapping[operation], error)
        answer = self._answers[key]
        if isinstance(answer, _Unreadable):
            raise answer
        return answer

    def arn(self, service: str, resource: str) -> str:
        partition = self.session.get_partition_for_region(self.region)
        account = self.read("sts", "get_caller_identity")["Account"]
        return f"arn:{partition}:{service}:{self.region}:{account}:{resource}"


@functools.cache
def _client(session: boto3.Session, service: str):
    """Made on first use, once per session: a client is costly to make, and safe to share."""
    return session.client(service, config=_CONFIG)


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

    def for_paths(self) -> list[tuple[str, Callable[[ReleasePath], Iterator[Finding]]]]:
        return [
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
        return [(CONCURRENCY, self.concurrency), (LOAD_BALANCER_QUOTAS, self.load_balancer_quotas)]

    # --- per release path

    def alarms(self, path: ReleasePath) -> Iterator[Finding]:
        """The rollback alarms exist, have data, and are exactly the ones the group stops on."""
        names = set(path.alarms)
        if path.deployment_group:
            group = f"deployment group {path.application}/{path.deployment_group}"
            configuration = self._group(path).get("alarmConfiguration") or {}
            listed = {alarm["name"] for alarm in configuration.get("alarms") or ()}
            if not configuration.get("enabled"):
                yield _not_ready(
                    ALARMS,
                    group,
                    "its alarm configuration is disabled: CodeDeploy stops a release on no alarm",
                    "run `pulumi up`, which enables it",
                )
            for name in sorted(path.group_alarms - listed):
                yield _not_ready(
                    ALARMS,
                    f"alarm {name}",
                    f"not listed by {group}: a release goes on while it fires",
                    "run `pulumi up`, which lists it again",
                )
            for name in sorted(listed - path.group_alarms):
                yield _not_ready(
                    ALARMS,
                    f"alarm {name}",
                    f"listed by {group} but not one of the stack's rollback alarms: it stops releases for "
                    "reasons the stack does not know",
                    "remove it from the group (`pulumi up` puts the group's list back)",
                )
            names |= path.group_alarms | listed
        if not names:
            return
        pages = self.account.pages(
            "cloudwatch", "describe_alarms", AlarmNames=sorted(names), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
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
                    "run `pulumi up`, which creates it",
                )
            elif alarm["StateValue"] == "INSUFFICIENT_DATA":
                yield _not_ready(
                    ALARMS,
                    f"alarm {name}",
                    f"INSUFFICIENT_DATA ({alarm.get('StateReason', 'no reason given')}): it cannot fire without data",
                    "check that its metrics (namespace, name, dimensions) are the ones the service publishes",
                )

    def live_revision(self, path: ReleasePath) -> Iterator[Finding]:
        """The revision a rollback of the next release returns to: the live one, published."""
        live = self._live(path)
        if live is None:
            yield _not_ready(
                LIVE_REVISION,
                path.where,
                "does not exist: there is no live revision for traffic to return to",
                "run `pulumi up`, which creates it",
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
            if not self.account.found(
                "ResourceNotFoundException",
                "lambda",
                "get_function_configuration",
                FunctionName=path.function,
                Qualifier=live,
            ):
                yield _not_ready(
                    LIVE_REVISION,
                    f"function {path.function}:{live}",
                    "the live version does not exist: a rollback has nothing to return to",
                    f"point {path.alias} at a published version that exists (`ops redeploy --to N`)",
                )
        elif not self.account.found("ClientException", "ecs", "describe_task_definition", taskDefinition=live):
            yield _not_ready(
                LIVE_REVISION,
                f"task definition {live}",
                "the live revision does not exist: a rollback has nothing to return to",
                "release a revision that exists (`ops redeploy --to FAMILY:N`)",
            )

    def known_good(self, path: ReleasePath) -> Iterator[Finding]:
        """There is a revision before the live one, where `ops rollback` goes if the live one is bad."""
        live = self._live(path)
        if path.kind == "lambda":
            if live is None or not live.isdigit():
                return  # live-revision says so
            unit, number = "version", int(live)
            versions = self.account.items("lambda", "list_versions_by_function", "Versions", FunctionName=path.function)
            earlier = [int(v["Version"]) for v in versions if v["Version"].isdigit() and int(v["Version"]) < number]
        else:
            if live is None:
                return
            family, revision = live.rsplit(":", 1)
            unit, number = "revision", int(revision)
            arns = self.account.items(
                "ecs", "list_task_definitions", "taskDefinitionArns", familyPrefix=family, status="ACTIVE"
            )
            revisions = [task_definition_revision(arn).rsplit(":", 1) for arn in arns]
            earlier = [int(n) for f, n in revisions if f == family and int(n) < number]
        if earlier:
            return
        if number == 1:
            yield _note(
                KNOWN_GOOD,
                path.where,
                f"{live} is its first {unit}: nothing earlier to roll back to",
                f"nothing to do: the next release can roll back to {live}",
            )
        else:
            yield _not_ready(
                KNOWN_GOOD,
                path.where,
                f"no {unit} before {live} is left (deleted or deregistered): `ops rollback` has nowhere to go if "
                f"{live} is bad",
                f"keep earlier {unit}s; to release anyway, knowing that, pass --skip-preflight",
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
            "ResourceNotFoundException", "acm", "describe_certificate", CertificateArn=path.certificate
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
        if not path.deployment_group:
            return
        deployments = self.account.items(
            "codedeploy",
            "list_deployments",
            "deployments",
            applicationName=path.application,
            deploymentGroupName=path.deployment_group,
            includeOnlyStatuses=IN_FLIGHT,
        )
        environment = self.exports.environment or "STACK"
        for deployment in deployments:
            yield _not_ready(
                IN_FLIGHT_CHECK,
                f"deployment {deployment}",
                f"in flight in {path.application}/{path.deployment_group}: CodeDeploy runs one deployment of a "
                "group at a time, and a rollback would race it",
                f"wait for it to end (`ops status {environment}`), or stop it (`ops rollback {environment} "
                f"--service {path.service}`)",
            )

    def codedeploy_role(self, path: ReleasePath) -> Iterator[Finding]:
        """CodeDeploy's service role trusts CodeDeploy, carries its platform's managed policy, and may
        invoke the hooks."""
        if not path.deployment_group:
            return
        role_arn = self._group(path)["serviceRoleArn"]
        name = role_arn.rsplit("/", 1)[-1]
        role = self._role(name)
        if role is None:
            yield _not_ready(
                CODEDEPLOY_ROLE,
                f"role {name}",
                "does not exist: CodeDeploy cannot act for the group, nor roll it back",
                "run `pulumi up`, which creates it",
            )
            return
        if not _trusts(role["AssumeRolePolicyDocument"], CODEDEPLOY_PRINCIPAL):
            yield _not_ready(
                CODEDEPLOY_ROLE,
                f"role {name}",
                f"does not trust {CODEDEPLOY_PRINCIPAL}: CodeDeploy cannot act, nor roll back",
                "run `pulumi up`, which restores its trust policy",
            )
        attached = {policy["PolicyArn"].rsplit("/", 1)[-1] for policy in self._attached(name)}
        needed = CODEDEPLOY_POLICIES[path.kind]
        if not attached & set(needed):
            yield _not_ready(
                CODEDEPLOY_ROLE,
                f"role {name}",
                f"carries neither {' nor '.join(needed)}: CodeDeploy cannot move traffic, nor move it back",
                f"attach {needed[0]} (`pulumi up` attaches it)",
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
                        f"allow lambda:InvokeFunction on {need.resource} (`pulumi up` restores the grant)",
                    )

    def permissions(self, path: ReleasePath) -> Iterator[Finding]:
        """The hooks and the judge may make the calls their part of a rollback needs."""
        if path.kind == "ecs" and path.deployment_group and not path.hooks:
            yield _note(
                PERMISSIONS,
                path.where,
                "the stack's outputs name no hooks for it: their roles, their reach to the test listener and "
                "CodeDeploy's right to invoke them were not checked (the judge's were)",
                "export the hooks in the service's release path (components/service.py, release_path)",
            )
        for function, needs in self._needs(path):
            yield from _guarded(PERMISSIONS, f"function {function}", self._denied(function, needs))

    def test_listener(self, path: ReleasePath) -> Iterator[Finding]:
        """The hooks and the judge, from their subnets, reach the test listener: its load balancer's
        security groups admit them on its port."""
        if path.kind != "ecs" or not path.deployment_group:
            return
        callers: dict[str, tuple[list[str], set[str]]] = {}  # subnet: (functions, their security groups)
        for name in (*path.hooks.values(), *([path.judge] if path.judge else [])):
            network = (self._function(name) or {}).get("VpcConfig") or {}
            for subnet in network.get("SubnetIds") or ():
                names, groups = callers.setdefault(subnet, ([], set()))
                names.append(name)
                groups |= set(network.get("SecurityGroupIds") or ())
        if not callers:
            return
        subnets = self.account.read("ec2", "describe_subnets", SubnetIds=sorted(callers))["Subnets"]
        cidrs = {subnet["SubnetId"]: subnet["CidrBlock"] for subnet in subnets}
        pairs = (self._group(path).get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or ()
        for arn in [arn for pair in pairs for arn in (pair.get("testTrafficRoute") or {}).get("listenerArns", ())]:
            listener = self.account.read("elbv2", "describe_listeners", ListenerArns=[arn])["Listeners"][0]
            port = listener["Port"]
            balancer = self.account.read(
                "elbv2", "describe_load_balancers", LoadBalancerArns=[listener["LoadBalancerArn"]]
            )["LoadBalancers"][0]
            group_ids = balancer.get("SecurityGroups") or []
            groups = (
                self.account.read("ec2", "describe_security_groups", GroupIds=group_ids)["SecurityGroups"]
                if group_ids
                else []
            )
            shut = [
                f"{subnet} ({cidrs[subnet]}: {', '.join(callers[subnet][0])})"
                for subnet in sorted(cidrs, key=lambda subnet: ipaddress.ip_network(cidrs[subnet]))
                if not _admits(groups, port, cidrs[subnet], callers[subnet][1])
            ]
            if shut:
                yield _not_ready(
                    TEST_LISTENER,
                    f"test listener {balancer['LoadBalancerName']}:{port}",
                    f"its load balancer's security groups ({', '.join(group_ids) or 'none'}) do not admit "
                    f"{'; '.join(shut)} on port {port}: the smoke test and the judge's probes cannot reach green, "
                    "so every release fails",
                    f"allow TCP {port} from those subnets' CIDRs, or from the hooks' security groups "
                    "(`pulumi up` restores the stack's rules)",
                )

    def policy_size(self, path: ReleasePath) -> Iterator[Finding]:
        """The roles a rollback acts through are within IAM's policy quotas (rollback_guard.limits)."""
        roles = [self._group(path)["serviceRoleArn"]] if path.deployment_group else []
        for name in (*path.hooks.values(), *([path.judge] if path.judge else [])):
            function = self._function(name)
            if function is not None:
                roles.append(function["Role"])
        for name in dict.fromkeys(arn.rsplit("/", 1)[-1] for arn in roles):
            yield from _guarded(POLICY_SIZE, f"role {name}", self._oversized(name))

    # --- for the account

    def concurrency(self) -> Iterator[Finding]:
        """Lambda keeps at least LAMBDA_UNRESERVED_CONCURRENCY executions unreserved: the hooks and
        the judge run on them, and Lambda refuses a reservation that leaves fewer."""
        if not any(path.kind == "lambda" or path.hooks or path.judge for path in self.exports.paths):
            return
        limit = self.account.read("lambda", "get_account_settings")["AccountLimit"]
        unreserved = limit["UnreservedConcurrentExecutions"]
        if unreserved < LAMBDA_UNRESERVED_CONCURRENCY:
            yield _not_ready(
                CONCURRENCY,
                f"Lambda concurrency in {self.account.region}",
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
        limits = {
            limit["Name"]: int(limit["Max"])
            for limit in self.account.items("elbv2", "describe_account_limits", "Limits")
        }
        balancers = self.account.items("elbv2", "describe_load_balancers", "LoadBalancers")
        in_use = {
            "application-load-balancers": sum(1 for balancer in balancers if balancer.get("Type") == "application"),
            "target-groups": len(self.account.items("elbv2", "describe_target_groups", "TargetGroups")),
        }
        for name in LOAD_BALANCER_LIMITS:
            if name in limits and in_use[name] >= limits[name]:
                yield _not_ready(
                    LOAD_BALANCER_QUOTAS,
                    f"quota {name} in {self.account.region}",
                    f"{in_use[name]} of {limits[name]} in use: an `up` that adds a service is refused",
                    "delete unused ones, or raise the quota (Service Quotas: Elastic Load Balancing)",
                )

    # --- what the checks share

    def _group(self, path: ReleasePath) -> dict:
        return self.account.read(
            "codedeploy",
            "get_deployment_group",
            applicationName=path.application,
            deploymentGroupName=path.deployment_group,
        )["deploymentGroupInfo"]

    def _function(self, name: str) -> dict | None:
        return self.account.found(
            "ResourceNotFoundException", "lambda", "get_function_configuration", FunctionName=name
        )

    def _role(self, name: str) -> dict | None:
        found = self.account.found("NoSuchEntity", "iam", "get_role", RoleName=name)
        return found["Role"] if found else None

    def _attached(self, role: str) -> list[dict]:
        return self.account.items("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=role)

    def _live(self, path: ReleasePath) -> str | None:
        """The live revision: the version the alias points at, or the task definition (family:N) the
        service runs (its primary task set's, under CodeDeploy); None if the alias or service is gone."""
        if path.kind == "lambda":
            alias = self.account.found(
                "ResourceNotFoundException", "lambda", "get_alias", FunctionName=path.function, Name=path.alias
            )
            return alias["FunctionVersion"] if alias else None
        described = self.account.found(
            "ClusterNotFoundException", "ecs", "describe_services", cluster=path.cluster, services=[path.ecs_service]
        )
        services = [s for s in (described or {}).get("services", []) if s.get("status") == "ACTIVE"]
        if not services:
            return None
        primary = [task_set for task_set in services[0].get("taskSets") or () if task_set.get("status") == "PRIMARY"]
        arn = primary[0]["taskDefinition"] if primary else services[0].get("taskDefinition")
        return task_definition_revision(arn) if arn else None

    def _needs(self, path: ReleasePath) -> Iterator[tuple[str, list[_Need]]]:
        """Each hook's and the judge's calls, by function."""
        if not path.deployment_group:
            return
        group = self.account.arn("codedeploy", f"deploymentgroup:{path.application}/{path.deployment_group}")
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
        for event, hook in sorted(path.hooks.items()):
            needs = [report]
            if event == "BeforeAllowTraffic" and version:
                needs.append(_Need("lambda:InvokeFunction", version, "it smoke-tests the new version by invoking it"))
            if event == "AfterAllowTraffic":
                if table:
                    needs.append(
                        _Need("dynamodb:PutItem", table, "it records the release, which later rollbacks trust")
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
            yield _not_ready(
                PERMISSIONS,
                f"function {function}",
                "does not exist: CodeDeploy cannot run it",
                "run `pulumi up`, which creates it",
            )
            return
        role = found["Role"]
        for need, decision in self._decisions(role, needs):
            if decision != "allowed":
                yield _not_ready(
                    PERMISSIONS,
                    f"role {role.rsplit('/', 1)[-1]} of {function}",
                    f"may not call {need.action} on {need.resource} ({decision}): {need.why}",
                    "allow it in the role's policies (`pulumi up` restores what the stack grants)",
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
            results = self.account.items("iam", "simulate_principal_policy", "EvaluationResults", **params)
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
                self.account.read("iam", "get_role_policy", RoleName=name, PolicyName=policy)["PolicyDocument"]
            )
            for policy in self.account.items("iam", "list_role_policies", "PolicyNames", RoleName=name)
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
            version = self.account.read("iam", "get_policy", PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = self.account.read("iam", "get_policy_version", PolicyArn=arn, VersionId=version)
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


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


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


def _admits(groups: Iterable[Mapping[str, Any]], port: int, cidr: str, sources: set[str]) -> bool:
    """Whether security groups admit TCP on `port` from the subnet `cidr`, or from `sources`."""
    network = ipaddress.ip_network(cidr)
    for group in groups:
        for rule in group.get("IpPermissions") or ():
            protocol = rule.get("IpProtocol")
            if protocol not in ("-1", "tcp", "6"):
                continue
            if protocol != "-1" and not rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535):
                continue
            ranges = [ipaddress.ip_network(r["CidrIp"]) for r in rule.get("IpRanges") or ()]
            if any(network.subnet_of(allowed) for allowed in ranges):
                return True
            if any(pair.get("GroupId") in sources for pair in rule.get("UserIdGroupPairs") or ()):
                return True
    return False
