"""The only reader of `pulumi.Config`: typed, frozen, validated settings for one stack.

Every problem in the stack's configuration is reported at once, each naming the key, the value and
what is allowed, as a `pulumi.RunError` (Pulumi prints it without a traceback) before any resource
exists. Unknown keys are errors too: a misspelt key silently falling back to a default is how a
safety setting gets lost.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pulumi

from rollback_guard.components.alarms import AlarmEvaluation
from rollback_guard.components.codedeploy import (
    ALARM_POLL_SECONDS,
    ALL_AT_ONCE_CONFIGS,
    ECS_PREDEFINED_CONFIGS,
    LAMBDA_PREDEFINED_CONFIGS,
    MAX_ALARMS_PER_DEPLOYMENT_GROUP,
    MAX_WAIT_MINUTES,
    DeploymentConfigChoice,
    TimeBasedShift,
    minimum_blue_kept_minutes,
)
from rollback_guard.components.delivery import MAX_SMOKE_ENDPOINTS
from rollback_guard.components.ecs_service import CodeDeployBlueGreen, Container, EcsStrategy, NativeShift, Rolling
from rollback_guard.components.load_balancer import HealthCheck
from rollback_guard.components.network import NAT_STRATEGIES, ExistingVpc, NewVpc
from rollback_guard.components.traffic_hooks import MAX_WATCH_MINUTES, minimum_watch_minutes
from rollback_guard.hooks.smoke import MAX_CHECK_TIMEOUT_SECONDS, EndpointCheck, InvokeCheck, PathCheck
from rollback_guard.policy.rules import (
    PROD_MIN_DESIRED_COUNT,
    PROD_MIN_LOG_RETENTION_DAYS,
    PROD_MIN_ROLLBACK_WINDOW_MINUTES,
)

PROJECT = "rollback-guard"
ENVIRONMENTS = ("staging", "prod")
PIPELINE = "pipeline"

# Lambda's init phase is not part of the function timeout; this much is allowed for it.
COLD_START_SECONDS = 10


# Load balancer and target group names are capped at 32 characters, and Pulumi appends 8 random ones
# to "<service>-lb-green".
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
_SERVICE_NAME_RULE = "1 to 15 lowercase letters, digits or dashes, starting with a letter"
_LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
_CPU_ARCHITECTURES = ("X86_64", "ARM64")
# Fargate's CPU units and the memory (MiB) each allows: (lowest, highest, step).
_FARGATE_MEMORY = {
    256: (512, 2048, None),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}
_SHIFT_KINDS = ("linear", "canary")
DEFAULT_ECS_CONFIG = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
DEFAULT_LAMBDA_CONFIG = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
LAMBDA_RUNTIMES = ("python3.11", "python3.12", "python3.13", "nodejs20.x", "nodejs22.x")
PROJECT_ROOT = Path(__file__).resolve().parent
# "<name>-<stack>" and "<name>-hooks-post-traffic-<stack>" must fit Lambda's 64 characters.
_FUNCTION_NAME = r"[a-z][a-z0-9-]{0,24}"
_FUNCTION_NAME_RULE = "1 to 25 lowercase letters, digits or dashes, starting with a letter"


class SettingsError(pulumi.RunError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{listing}")


@dataclass(frozen=True)
class LoadBalancerSettings:
    listener_port: int
    test_listener_port: int
    certificate_arn: str | None
    ingress_cidrs: tuple[str, ...]
    # None: only the VPC itself may reach the test listener.
    test_ingress_cidrs: tuple[str, ...] | None
    deletion_protection: bool
    health_check: HealthCheck


@dataclass(frozen=True)
class AlarmSettings:
    evaluation: AlarmEvaluation
    error_rate_percent: float
    minimum_requests: int
    latency_anomaly_band: float | None
    # Alarms that exist outside this stack and should also stop a release.
    extra_alarm_names: tuple[str, ...]

    @property
    def rollback_alarm_count(self) -> int:
        built_here = 3 + (self.latency_anomaly_band is not None)
        return built_here + len(self.extra_alarm_names)


@dataclass(frozen=True)
class DeploymentSettings:
    # Who releases the service: CodeDeploy (the default) or ECS itself; and its configured name.
    strategy: EcsStrategy
    strategy_name: str
    config: DeploymentConfigChoice
    termination_wait_minutes: int
    approval_wait_minutes: int
    # As the test-traffic hook reads them: {path, expectStatus, timeoutSeconds, expectBody}.
    smoke_paths: tuple[dict, ...]
    # A task definition revision CodeDeploy rolled back, to release again deliberately.
    retry_revision: str | None
    # The revision to keep live instead of the newest (written by `ops rollback`, cleared by hand).
    pinned_revision: str | None


@dataclass(frozen=True)
class FunctionSettings:
    """One Lambda canary of a stack: `functions.<name>`."""

    name: str
    # How long the error rate must last before it counts (functions.<name>.alarms).
    evaluation: AlarmEvaluation
    code_path: str
    handler: str
    runtime: str
    memory_mb: int
    timeout_seconds: int
    tracing: bool
    reserved_concurrency: int | None
    log_retention_days: int
    error_rate_percent: float
    minimum_invocations: int
    deployment_config: DeploymentConfigChoice
    # As the pre-traffic hook reads them (hooks/smoke.py): {name, payload, expect} and
    # {url, expectStatus, timeoutSeconds, expectBody}.
    smoke_events: tuple[dict, ...]
    smoke_endpoints: tuple[dict, ...]
    check_timeout_seconds: float
    # How long the post-traffic hook keeps watching the rollback alarms after the last shift.
    watch_minutes: int
    # A version CodeDeploy rolled back, to release again deliberately.
    retry_revision: str | None
    # The version to keep live instead of the newest (written by `ops rollback`, cleared by hand).
    pinned_version: str | None

    @property
    def config_path(self) -> str:
        return f"functions.{self.name}"


@dataclass(frozen=True)
class PipelineSettings:
    """The pipeline stack: it carries commits from GitHub through the service stacks."""

    repository: str
    branch: str
    staging_stack: str
    production_stack: str
    notification_emails: tuple[str, ...]
    health_check_minutes: int
    # Checked on staging after each deploy, all at once: {path, expectStatus, timeoutSeconds, expectBody}.
    smoke_endpoints: tuple[dict, ...]
    log_retention_days: int


@dataclass(frozen=True)
class ServiceSettings:
    """One ECS service of a stack: `services.<name>`."""

    name: str
    container: Container
    desired_count: int
    log_retention_days: int
    load_balancer: LoadBalancerSettings
    alarms: AlarmSettings
    deployment: DeploymentSettings

    @property
    def config_path(self) -> str:
        return f"services.{self.name}"


@dataclass(frozen=True)
class Settings:
    environment: Literal["staging", "prod"]
    # The stack's network, shared by its services, and its resource name: renaming it replaces the VPC.
    network_name: str
    network: NewVpc | ExistingVpc
    # In the stack file's order; names are unique across services and functions.
    services: tuple[ServiceSettings, ...]
    functions: tuple[FunctionSettings, ...]
    # The service whose URL the pipeline smoke-tests after a deploy to this stack.
    pipeline_service: str

    @property
    def is_production(self) -> bool:
        return self.environment == "prod"


_REQUIRED = object()


class _Reader:
    """Reads one configuration object, collecting problems instead of stopping at the first."""

    def __init__(self, problems: list[str], key: str, raw: Any):
        self.problems = problems
        self.key = key
        if raw is not None and not isinstance(raw, dict):
            self.problem("", raw, "an object with keys")
            raw = {}
        self.raw: dict = raw or {}
        self.used: set[str] = set()

    def problem(self, field_name: str, value: Any, allowed: str) -> None:
        where = f"{PROJECT}:{self.key}" + (f".{field_name}" if field_name else "")
        self.problems.append(f"{where} = {value!r}: {allowed}")

    def has(self, field_name: str) -> bool:
        return field_name in self.raw

    def _value(self, field_name: str, default: Any) -> Any:
        self.used.add(field_name)
        if field_name in self.raw:
            return self.raw[field_name]
        if default is _REQUIRED:
            self.problem(field_name, None, "required")
        return default

    def checked(self, field_name: str, default: Any, accept: Callable[[Any], bool], allowed: str, fallback: Any) -> Any:
        value = self._value(field_name, default)
        if value is _REQUIRED:
            return fallback
        if value is default or accept(value):
            return value
        self.problem(field_name, value, allowed)
        return fallback

    def integer(self, field_name: str, default: Any = _REQUIRED, *, low: int, high: int) -> int:
        return self.checked(
            field_name,
            default,
            lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
            f"a whole number from {low} to {high}",
            _fallback(default, low),
        )

    def number(self, field_name: str, default: Any = _REQUIRED, *, low: float, high: float) -> float:
        value = self.checked(
            field_name,
            default,
            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high,
            f"a number from {low:g} to {high:g}",
            _fallback(default, low),
        )
        return None if value is None else float(value)

    def boolean(self, field_name: str, default: Any = _REQUIRED) -> bool:
        return self.checked(field_name, default, lambda v: isinstance(v, bool), "true or false", False)

    def text(self, field_name: str, default: Any = _REQUIRED, *, choices=None, pattern=None, rule="") -> str:
        def accept(v: Any) -> bool:
            if not isinstance(v, str) or not v:
                return False
            return (choices is None or v in choices) and (pattern is None or re.fullmatch(pattern, v) is not None)

        allowed = rule or (f"one of {', '.join(sorted(choices))}" if choices else "a non-empty string")
        return self.checked(field_name, default, accept, allowed, default if isinstance(default, str) else "")

    def version_number(self, field_name: str) -> str | None:
        """A published version number, optional: `pulumi config set --path` (what `ops rollback`
        and `ops redeploy` run) stores 7 as the integer 7, a person may write "7"."""
        value = self.checked(
            field_name,
            None,
            lambda v: (
                (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
                or (isinstance(v, str) and re.fullmatch(r"[1-9]\d*", v) is not None)
            ),
            "a published version number such as 7",
            None,
        )
        return None if value is None else str(value)

    def texts(
        self, field_name: str, default: Any = _REQUIRED, *, each: Callable[[str], bool] = bool, rule: str
    ) -> tuple:
        value = self.checked(
            field_name,
            default,
            lambda v: isinstance(v, list) and all(isinstance(x, str) and each(x) for x in v),
            rule,
            (),
        )
        return None if value is None else tuple(value)

    def mapping(self, field_name: str) -> dict[str, str]:
        return self.checked(
            field_name,
            {},
            lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
            "an object of string names to string values",
            {},
        )

    def objects(self, field_name: str, parse: Callable[[Any], Any]) -> tuple[dict, ...]:
        """A list of objects, each accepted by `parse` (which raises ValueError naming the problem)."""
        value = self._value(field_name, ())
        if not isinstance(value, (list, tuple)):
            self.problem(field_name, value, "a list")
            return ()
        for item in value:
            try:
                parse(item)
            except (ValueError, TypeError) as error:
                self.problem(field_name, item, str(error))
        return tuple(value)

    def section(self, field_name: str) -> _Reader:
        self.used.add(field_name)
        return _Reader(self.problems, f"{self.key}.{field_name}", self.raw.get(field_name))

    def done(self) -> None:
        for unknown in sorted(set(self.raw) - self.used):
            self.problem(unknown, self.raw[unknown], f"unknown key; known keys: {', '.join(sorted(self.used))}")


def _fallback(default: Any, otherwise: Any) -> Any:
    """What an invalid value reads as, so later checks are not misled by it (its problem is recorded)."""
    return otherwise if default is _REQUIRED or default is None else default


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.IPv4Network(value)
    except ValueError:
        return False
    return True


_CIDRS_RULE = "a list of IPv4 CIDR blocks such as 10.0.0.0/16"


def load_settings(config: pulumi.Config | None = None) -> Settings | PipelineSettings:
    """Read and validate the current stack's configuration: a service stack (staging, prod) or the
    pipeline stack."""
    config = config or pulumi.Config(PROJECT)
    problems: list[str] = []
    environment = config.get("environment")
    if environment == PIPELINE:
        settings = _pipeline_stack(config, problems)
    else:
        if environment not in ENVIRONMENTS:
            _Reader(problems, "environment", None).problem(
                "", environment, f"one of {', '.join(ENVIRONMENTS)}, {PIPELINE}"
            )
        settings = _service_stack(config, problems, environment)
    if problems:
        raise SettingsError(problems)
    return settings


# Round 1's single-service keys, and where each moved.
_MOVED_KEYS = {
    "service": "services.<name>",
    "loadBalancer": "services.<name>.loadBalancer",
    "alarms": "services.<name>.alarms",
    "deployment": "services.<name>.deployment",
    "function": "functions.<name> (its errorRatePercent and minimumInvocations under functions.<name>.alarms)",
}


def _service_stack(config: pulumi.Config, problems: list[str], environment: str) -> Settings:
    prod = environment == "prod"
    for key, moved_to in _MOVED_KEYS.items():
        if config.get(key) is not None:
            problems.append(f"{PROJECT}:{key}: moved to {PROJECT}:{moved_to}; this stack file has the old layout")
    sections = _sections(config, problems, ("network", "services", "functions"))
    network_name = sections["network"].text(
        "name",
        f"{environment}-net",
        pattern=r"[a-z][a-z0-9-]{0,19}",
        rule="1 to 20 lowercase letters, digits or dashes",
    )
    network = _network(sections["network"])
    services = _entries(sections["services"], _SERVICE_NAME.pattern, _SERVICE_NAME_RULE, _service, prod)
    functions = _entries(sections["functions"], _FUNCTION_NAME, _FUNCTION_NAME_RULE, _function, prod)
    if not sections["services"].raw:
        sections["services"].problem("", None, "at least one ECS service: {<name>: {image, tag, ...}}")
    for name in sorted({s.name for s in services} & {f.name for f in functions}):
        sections["functions"].problem("", name, "a name no service has: releases are recorded under it")
    for reader in sections.values():
        reader.done()
    return Settings(
        environment,
        network_name,
        network,
        services,
        functions,
        _pipeline_service(config, problems, [service.name for service in services]),
    )


def _entries(reader: _Reader, pattern: str, rule: str, read: Callable[[_Reader, str, bool], Any], prod: bool) -> tuple:
    """A map of named entries (`services`, `functions`), each read by `read(its reader, its name, prod)`."""
    found = []
    for name, raw in reader.raw.items():
        entry = reader.section(name)  # names a value that is not an object
        if not re.fullmatch(pattern, name):
            reader.problem("", name, f"names of {rule}")
        elif isinstance(raw, dict):
            found.append(read(entry, name, prod))
    return tuple(found)


def _pipeline_service(config: pulumi.Config, problems: list[str], names: list[str]) -> str:
    """Which service the pipeline smoke-tests: named when there are several."""
    chosen = config.get("pipelineService")
    if chosen is None and len(names) > 1:
        problems.append(
            f"{PROJECT}:pipelineService = None: required with several services; the one the pipeline smoke-tests, "
            f"one of {', '.join(names)}"
        )
    elif chosen is not None and chosen not in names:
        problems.append(f"{PROJECT}:pipelineService = {chosen!r}: one of this stack's services ({', '.join(names)})")
    return chosen or (names[0] if names else "")


def _pipeline_stack(config: pulumi.Config, problems: list[str]) -> PipelineSettings:
    reader = _sections(config, problems, ("pipeline",))["pipeline"]
    stack_rule = "a stack name (letters, digits, - _ .)"
    endpoints = reader.objects("smokeEndpoints", PathCheck.from_dict)
    if not 1 <= len(endpoints) <= MAX_SMOKE_ENDPOINTS:
        reader.problem("smokeEndpoints", f"{len(endpoints)} endpoints", f"1 to {MAX_SMOKE_ENDPOINTS} endpoints")
    settings = PipelineSettings(
        repository=reader.text("repository", pattern=r"[\w.-]+/[\w.-]+", rule="a GitHub repository as owner/name"),
        branch=reader.text("branch", "main", pattern=r"[^\s~^:?*\[\\]+", rule="a git branch name"),
        staging_stack=reader.text("stagingStack", "staging", pattern=r"[\w.-]+", rule=stack_rule),
        production_stack=reader.text("productionStack", "prod", pattern=r"[\w.-]+", rule=stack_rule),
        notification_emails=reader.texts(
            "notificationEmails",
            (),
            each=lambda a: re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", a) is not None,
            rule="a list of e-mail addresses",
        ),
        health_check_minutes=reader.integer("healthCheckMinutes", 5, low=1, high=60),
        smoke_endpoints=endpoints,
        log_retention_days=_log_retention(reader, True, 90),
    )
    reader.done()
    return settings


def _sections(config: pulumi.Config, problems: list[str], keys: tuple[str, ...]) -> dict[str, _Reader]:
    return {key: _Reader(problems, key, _object(config, key, problems)) for key in keys}


def _object(config: pulumi.Config, key: str, problems: list[str]) -> Any:
    try:
        return config.get_object(key)
    except Exception as error:  # malformed JSON in the stack file
        problems.append(f"{PROJECT}:{key}: not a valid object ({error})")
        return None


def _network(reader: _Reader) -> NewVpc | ExistingVpc:
    if reader.has("vpcId"):
        subnets = {
            name: reader.texts(
                name, each=lambda s: s.startswith("subnet-"), rule="a non-empty list of subnet ids (subnet-...)"
            )
            for name in ("publicSubnetIds", "privateSubnetIds")
        }
        for name, ids in subnets.items():
            if reader.has(name) and not ids:
                reader.problem(name, [], "a non-empty list of subnet ids (subnet-...)")
        return ExistingVpc(
            vpc_id=reader.text("vpcId", pattern=r"vpc-[0-9a-f]+", rule="a VPC id (vpc-...)"),
            public_subnet_ids=subnets["publicSubnetIds"],
            private_subnet_ids=subnets["privateSubnetIds"],
        )
    cidr = reader.text("cidrBlock", "10.0.0.0/16", pattern=None)
    if cidr and not (_is_cidr(cidr) and 16 <= ipaddress.IPv4Network(cidr).prefixlen <= 24):
        reader.problem("cidrBlock", cidr, "an IPv4 CIDR block from /16 to /24, or vpcId with subnet ids")
    return NewVpc(
        cidr_block=cidr,
        availability_zones=reader.integer("availabilityZones", 2, low=2, high=6),
        nat_gateways=reader.text("natGateways", "one-per-az", choices=NAT_STRATEGIES),
    )


def _service(reader: _Reader, name: str, prod: bool) -> ServiceSettings:
    """`services.<name>`: the container and its task count, then its load balancer, alarms and
    deployment."""
    cpu = reader.integer("cpu", 256, low=256, high=16384)
    memory = reader.integer("memory", 512, low=512, high=122880)
    if cpu not in _FARGATE_MEMORY:
        reader.problem("cpu", cpu, f"one of Fargate's CPU sizes: {', '.join(map(str, _FARGATE_MEMORY))}")
    else:
        lowest, highest, step = _FARGATE_MEMORY[cpu]
        sizes = (512, 1024, 2048) if step is None else range(lowest, highest + 1, step)
        if memory not in sizes:
            reader.problem(
                "memory",
                memory,
                f"with cpu {cpu}, Fargate allows {lowest} to {highest} MiB"
                + (f" in steps of {step}" if step else " (512, 1024 or 2048)"),
            )

    desired = reader.integer("desiredCount", 2, low=1, high=1000)
    if prod and desired < PROD_MIN_DESIRED_COUNT:
        reader.problem(
            "desiredCount",
            desired,
            f"prod runs at least {PROD_MIN_DESIRED_COUNT} tasks so one failing task is not an outage",
        )
    retention = _log_retention(reader, prod, 30)

    tag = reader.text("tag", pattern=r"[\w][\w.-]{0,127}", rule="an image tag (letters, digits, _ . -)")
    if tag == "latest":
        reader.problem("tag", tag, "a pinned tag: with 'latest' a rollback cannot name the version to go back to")

    load_balancer = _load_balancer(reader.section("loadBalancer"), prod)
    known = len(reader.problems)
    alarms = _alarms(reader.section("alarms"))
    # What depends on how fast the alarms detect waits for valid alarms: their problem is named.
    detection = alarms.evaluation if len(reader.problems) == known else None
    deployment = _deployment(reader.section("deployment"), prod, detection, desired)
    settings = ServiceSettings(
        name=name,
        container=Container(
            name=name,
            image=reader.text(
                "image",
                pattern=r"[^\s:@]+(:\d+)?[^\s:@]*",
                rule="an image repository without a tag, such as public.ecr.aws/nginx/nginx",
            ),
            tag=tag,
            port=reader.integer("containerPort", 80, low=1, high=65535),
            cpu=cpu,
            memory=memory,
            cpu_architecture=reader.text("cpuArchitecture", "X86_64", choices=_CPU_ARCHITECTURES),
            environment=reader.mapping("environment"),
        ),
        desired_count=desired,
        log_retention_days=retention,
        load_balancer=load_balancer,
        alarms=alarms,
        deployment=deployment,
    )
    reader.done()
    return settings


def _load_balancer(reader: _Reader, prod: bool) -> LoadBalancerSettings:
    deletion_protection = reader.boolean("deletionProtection", True)
    if prod and not deletion_protection:
        reader.problem("deletionProtection", False, "prod load balancers keep deletion protection on")
    health = reader.section("healthCheck")
    interval = health.integer("intervalSeconds", 15, low=5, high=300)
    timeout = health.integer("timeoutSeconds", 5, low=2, high=120)
    if timeout >= interval:
        health.problem("timeoutSeconds", timeout, f"less than intervalSeconds ({interval})")
    health_check = HealthCheck(
        path=health.text("path", "/", pattern=r"/\S{0,1023}", rule="a path starting with /"),
        matcher=health.text(
            "matcher", "200-399", pattern=r"\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*", rule="HTTP codes such as 200 or 200-399"
        ),
        interval_seconds=interval,
        timeout_seconds=timeout,
        healthy_threshold=health.integer("healthyThreshold", 3, low=2, high=10),
        unhealthy_threshold=health.integer("unhealthyThreshold", 3, low=2, high=10),
    )
    health.done()
    listener_port = reader.integer("listenerPort", 80, low=1, high=65535)
    test_listener_port = reader.integer("testListenerPort", 8080, low=1, high=65535)
    if listener_port == test_listener_port:
        reader.problem("testListenerPort", test_listener_port, "a port other than listenerPort")
    settings = LoadBalancerSettings(
        listener_port=listener_port,
        test_listener_port=test_listener_port,
        certificate_arn=reader.text(
            "certificateArn", None, pattern=r"arn:aws[\w-]*:acm:\S+", rule="an ACM certificate ARN"
        ),
        ingress_cidrs=reader.texts("ingressCidrs", ("0.0.0.0/0",), each=_is_cidr, rule=_CIDRS_RULE),
        test_ingress_cidrs=reader.texts("testIngressCidrs", None, each=_is_cidr, rule=_CIDRS_RULE),
        deletion_protection=deletion_protection,
        health_check=health_check,
    )
    reader.done()
    return settings


def _evaluation(reader: _Reader) -> AlarmEvaluation:
    period = reader.integer("periodSeconds", 60, low=60, high=86400)
    if period % 60:
        # ALB and Lambda metrics have one-minute resolution; shorter periods suit high-resolution metrics only.
        reader.problem("periodSeconds", period, "a multiple of 60 (the metrics have one-minute resolution)")
    periods = reader.integer("evaluationPeriods", 3, low=1, high=1440)
    datapoints = reader.integer("datapointsToAlarm", 3, low=1, high=1440)
    if datapoints > periods:
        reader.problem("datapointsToAlarm", datapoints, f"at most evaluationPeriods ({periods})")
    ceiling = 86400 if period < 3600 else 604800
    if period * periods > ceiling:
        reader.problem(
            "evaluationPeriods",
            periods,
            f"periodSeconds x evaluationPeriods at most {ceiling} s (CloudWatch's limit for a {period} s period)",
        )
    return AlarmEvaluation(period_seconds=period, evaluation_periods=periods, datapoints_to_alarm=datapoints)


def _alarms(reader: _Reader) -> AlarmSettings:
    alarms = AlarmSettings(
        evaluation=_evaluation(reader),
        error_rate_percent=reader.number("errorRatePercent", 1.0, low=0.01, high=100),
        minimum_requests=reader.integer("minimumRequests", 50, low=1, high=1_000_000),
        latency_anomaly_band=reader.number("latencyAnomalyBand", None, low=0.5, high=10),
        extra_alarm_names=reader.texts(
            "extraAlarmNames", (), each=lambda s: 0 < len(s) <= 255, rule="a list of CloudWatch alarm names"
        ),
    )
    if alarms.rollback_alarm_count > MAX_ALARMS_PER_DEPLOYMENT_GROUP:
        reader.problem(
            "extraAlarmNames",
            list(alarms.extra_alarm_names),
            f"with the {alarms.rollback_alarm_count - len(alarms.extra_alarm_names)} alarms built here, at most "
            f"{MAX_ALARMS_PER_DEPLOYMENT_GROUP} alarms per deployment group (got {alarms.rollback_alarm_count})",
        )
    reader.done()
    return alarms


def _deployment(
    reader: _Reader, prod: bool, detection: AlarmEvaluation | None, desired_count: int
) -> DeploymentSettings:
    strategy_name = reader.text("strategy", CODEDEPLOY_STRATEGY, choices=STRATEGY_KEYS)
    reader.used.update(_STRATEGY_OF_KEY)  # known keys, whichever strategy they belong to
    for key, owners in _STRATEGY_OF_KEY.items():
        if reader.raw.get(key) is not None and strategy_name not in owners:
            reader.problem(
                key, reader.raw[key], f"only with strategy {' or '.join(owners)} (strategy is {strategy_name})"
            )
    strategy = _strategy(reader, strategy_name, prod, detection, desired_count)
    config = _deployment_config(reader, "config", ECS_PREDEFINED_CONFIGS, DEFAULT_ECS_CONFIG, prod)

    wait = reader.integer("terminationWaitMinutes", 15, low=0, high=MAX_WAIT_MINUTES)
    if isinstance(strategy, CodeDeployBlueGreen):
        _check_blue_is_kept(reader, "terminationWaitMinutes", wait, MAX_WAIT_MINUTES, prod, detection)
    smoke_paths = reader.objects("smokePaths", PathCheck.from_dict)
    if not smoke_paths and not isinstance(strategy, Rolling):
        reader.problem("smokePaths", [], "at least one path: the test-traffic hook fails without one")
    settings = DeploymentSettings(
        strategy=strategy,
        strategy_name=strategy_name,
        config=config,
        termination_wait_minutes=wait,
        approval_wait_minutes=reader.integer("approvalWaitMinutes", 0, low=0, high=MAX_WAIT_MINUTES),
        smoke_paths=smoke_paths,
        retry_revision=reader.text(
            "retryRevision", None, pattern=r"[\w.-]+:\d+", rule="a task definition revision such as web-prod:7"
        ),
        pinned_revision=reader.text(
            "pinnedRevision", None, pattern=r"[\w.-]+:\d+", rule="a task definition revision such as web-prod:7"
        ),
    )
    reader.done()
    return settings


def _deployment_config(
    reader: _Reader, key: str, predefined: frozenset[str], default: str, prod: bool
) -> DeploymentConfigChoice:
    raw = reader.raw.get(key, default)
    if isinstance(raw, dict):
        shift = reader.section(key)
        kind = shift.text("type", choices=_SHIFT_KINDS)
        choice = TimeBasedShift(
            kind=kind or "linear",
            percentage=shift.integer("percentage", low=1, high=99),
            interval_minutes=shift.integer("intervalMinutes", low=1, high=MAX_WAIT_MINUTES),
        )
        shift.done()
        return choice
    choice = reader.text(
        key,
        default,
        choices=predefined,
        rule=f"one of {', '.join(sorted(predefined))}, or {{type: linear|canary, percentage, intervalMinutes}}",
    )
    if prod and choice in ALL_AT_ONCE_CONFIGS:
        reader.problem(
            key, choice, "prod shifts traffic gradually (linear or canary) so an alarm can stop a bad release early"
        )
    return choice


def _log_retention(reader: _Reader, prod: bool, default: int) -> int:
    retention = reader.integer("logRetentionDays", default, low=1, high=3653)
    if retention not in _LOG_RETENTION_DAYS:
        allowed = ", ".join(map(str, _LOG_RETENTION_DAYS))
        reader.problem("logRetentionDays", retention, f"one of CloudWatch's retention periods: {allowed}")
    elif prod and retention < PROD_MIN_LOG_RETENTION_DAYS:
        reader.problem("logRetentionDays", retention, f"prod keeps logs at least {PROD_MIN_LOG_RETENTION_DAYS} days")
    return retention


def _function(reader: _Reader, name: str, prod: bool) -> FunctionSettings:
    """`functions.<name>`: the function, its smoke checks, its alarms and its release."""
    alarms = reader.section("alarms")
    known = len(reader.problems)
    evaluation = _evaluation(alarms)
    error_rate = alarms.number("errorRatePercent", 1.0, low=0.01, high=100)
    minimum_invocations = alarms.integer("minimumInvocations", 20, low=1, high=1_000_000)
    alarms.done()
    # What depends on how fast the alarms detect waits for valid alarms: their problem is named.
    detection = evaluation if len(reader.problems) == known else None
    code_path = reader.text("codePath", rule="a folder of this project holding the function's code")
    handler = reader.text("handler", pattern=r"[\w-]+(\.[\w-]+)+", rule="module.function, such as app.handler")
    runtime = reader.text("runtime", "python3.13", choices=LAMBDA_RUNTIMES)
    code_dir = (PROJECT_ROOT / code_path).resolve()
    if code_path and not (code_dir.is_dir() and code_dir.is_relative_to(PROJECT_ROOT)):
        reader.problem("codePath", code_path, "a folder inside this project")
    elif code_path and handler and runtime.startswith("python"):
        module_file = code_dir / (handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
        if not module_file.is_file():
            reader.problem("handler", handler, f"a function in a module of {code_path} ({module_file.name} not found)")

    timeout = reader.number("checkTimeoutSeconds", 20, low=1, high=MAX_CHECK_TIMEOUT_SECONDS)
    function_timeout = reader.integer("timeoutSeconds", 10, low=1, high=900)
    events = reader.objects("smokeEvents", lambda raw: InvokeCheck.from_dict(raw, timeout))
    endpoints = reader.objects("smokeEndpoints", EndpointCheck.from_dict)
    if reader.raw.get("smokeEvents", []) == []:  # a malformed list has its own problem already
        reader.problem(
            "smokeEvents",
            [],
            "at least one smoke event: only an event invokes the new version before traffic moves (an endpoint "
            "reaches the alias, which still serves the previous version), and the pre-traffic hook fails without one",
        )
    if events and timeout < function_timeout + COLD_START_SECONDS:
        reader.problem(
            "checkTimeoutSeconds",
            reader.raw.get("checkTimeoutSeconds", timeout),
            f"at least timeoutSeconds + {COLD_START_SECONDS} ({function_timeout + COLD_START_SECONDS}): "
            "a smoke event is the new version's first invocation, cold start included",
        )

    settings = FunctionSettings(
        name=name,
        evaluation=evaluation,
        code_path=code_path,
        handler=handler,
        runtime=runtime,
        memory_mb=reader.integer("memoryMb", 256, low=128, high=10240),
        timeout_seconds=function_timeout,
        tracing=reader.boolean("tracing", True),
        reserved_concurrency=reader.integer("reservedConcurrency", None, low=1, high=10000),
        log_retention_days=_log_retention(reader, prod, 30),
        error_rate_percent=error_rate,
        minimum_invocations=minimum_invocations,
        deployment_config=_deployment_config(
            reader, "deploymentConfig", LAMBDA_PREDEFINED_CONFIGS, DEFAULT_LAMBDA_CONFIG, prod
        ),
        smoke_events=events,
        smoke_endpoints=endpoints,
        check_timeout_seconds=timeout,
        watch_minutes=_watch_minutes(reader, alarms, prod, detection),
        retry_revision=reader.version_number("retryRevision"),
        pinned_version=reader.version_number("pinnedVersion"),
    )
    reader.done()
    return settings


def _watch_minutes(reader: _Reader, alarms: _Reader, prod: bool, detection: AlarmEvaluation | None) -> int:
    """After a Lambda shift's last step only the post-traffic hook watches the alarms: long enough
    for an alarm to fire on a version that went bad at that step, and in prod as long as ECS keeps
    blue."""
    shortest = minimum_watch_minutes(detection) if detection else 1
    if detection and shortest > MAX_WATCH_MINUTES:
        reader.used.add("watchMinutes")  # no watch would do: the alarms are what to change
        reader.problems.append(
            f"{PROJECT}:{alarms.key}.periodSeconds = {detection.period_seconds} with datapointsToAlarm = "
            f"{detection.datapoints_to_alarm}: an alarm needs up to {shortest} min to fire, longer than the Lambda "
            f"post-traffic hook can keep watching ({MAX_WATCH_MINUTES} min, within Lambda's 15-minute limit), so a "
            "version that goes bad at its last shift would complete"
        )
        return MAX_WATCH_MINUTES
    low = max(shortest, PROD_MIN_ROLLBACK_WINDOW_MINUTES if prod else 1)
    why = f"; prod keeps watching at least {PROD_MIN_ROLLBACK_WINDOW_MINUTES}" if prod else ""
    return reader.checked(
        "watchMinutes",
        max(10, low),
        lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= MAX_WATCH_MINUTES,
        f"a whole number from {low} to {MAX_WATCH_MINUTES}: the alarms need up to {shortest} min to fire after the "
        f"last shift{why}, and the hook must report within Lambda's 15-minute limit",
        max(10, low),
    )


# Which keys of `deployment` belong to which strategy; the rest apply to all.
CODEDEPLOY_STRATEGY = "codedeploy-blue-green"
_NATIVE = {"ecs-blue-green": "BLUE_GREEN", "ecs-canary": "CANARY", "ecs-linear": "LINEAR"}
STRATEGY_KEYS = (CODEDEPLOY_STRATEGY, "rolling", *_NATIVE)
_STRATEGY_OF_KEY = {
    "config": (CODEDEPLOY_STRATEGY,),
    "terminationWaitMinutes": (CODEDEPLOY_STRATEGY,),
    "approvalWaitMinutes": (CODEDEPLOY_STRATEGY,),
    "retryRevision": (CODEDEPLOY_STRATEGY,),
    "pinnedRevision": (CODEDEPLOY_STRATEGY,),
    # Rolling has no test traffic to check.
    "smokePaths": (CODEDEPLOY_STRATEGY, *_NATIVE),
    "minimumHealthyPercent": ("rolling",),
    "maximumPercent": ("rolling",),
    "bakeTimeMinutes": tuple(_NATIVE),
    "canaryPercent": ("ecs-canary",),
    "canaryBakeMinutes": ("ecs-canary",),
    "stepPercent": ("ecs-linear",),
    "stepBakeMinutes": ("ecs-linear",),
}
# ECS's documented ranges.
MAX_BAKE_MINUTES = 1440


def _strategy(
    reader: _Reader, name: str, prod: bool, detection: AlarmEvaluation | None, desired_count: int
) -> EcsStrategy:
    if name == "rolling":
        low = reader.integer("minimumHealthyPercent", 100, low=0, high=100)
        high = reader.integer("maximumPercent", 200, low=100, high=200)
        # ECS rounds the healthy minimum up and the running maximum down, in tasks.
        minimum, maximum = math.ceil(desired_count * low / 100), math.floor(desired_count * high / 100)
        if maximum <= minimum:
            reader.problem(
                "maximumPercent",
                high,
                f"room for one more task than minimumHealthyPercent ({low}) keeps running: with desiredCount "
                f"{desired_count} that is {minimum} healthy and at most {maximum} running, "
                "so ECS cannot replace a task",
            )
        return Rolling(minimum_healthy_percent=low, maximum_percent=high)
    if name in _NATIVE:
        bake = reader.integer("bakeTimeMinutes", 15, low=0, high=MAX_BAKE_MINUTES)
        _check_blue_is_kept(reader, "bakeTimeMinutes", bake, MAX_BAKE_MINUTES, prod, detection)
        native = _NATIVE[name]
        return NativeShift(
            strategy=native,
            bake_time_minutes=bake,
            canary_percent=reader.number("canaryPercent", 10.0, low=0.1, high=100) if native == "CANARY" else None,
            canary_bake_minutes=reader.integer("canaryBakeMinutes", 10, low=0, high=MAX_BAKE_MINUTES)
            if native == "CANARY"
            else None,
            step_percent=reader.number("stepPercent", 10.0, low=3, high=100) if native == "LINEAR" else None,
            step_bake_minutes=reader.integer("stepBakeMinutes", 1, low=0, high=MAX_BAKE_MINUTES)
            if native == "LINEAR"
            else None,
        )
    return CodeDeployBlueGreen()


def _check_blue_is_kept(
    reader: _Reader, key: str, minutes: int, ceiling: int, prod: bool, detection: AlarmEvaluation | None
) -> None:
    """Blue must outlive the alarms' worst detection time (and 10 minutes in prod), or a late alarm
    has nothing to roll back to."""
    low, reasons = 0, []
    if prod:
        low = PROD_MIN_ROLLBACK_WINDOW_MINUTES
        reasons.append(
            f"prod keeps blue at least {low} minutes so an alarm within {low} minutes of the release rolls back"
        )
    if detection:
        low = max(low, minimum_blue_kept_minutes(detection))
        reasons.append(
            f"the alarms need up to {detection.worst_detection_seconds / 60:g} min to fire on a version that went bad "
            f"at the last shift, and up to {ALARM_POLL_SECONDS // 60} more to be read"
        )
    if minutes < low:
        reader.problem(key, minutes, f"at least {low} (allowed: {low} to {ceiling}): " + "; ".join(reasons))
