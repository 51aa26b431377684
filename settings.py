"""The only reader of `pulumi.Config`: the stack files' schema, declared once as pydantic models,
and the settings the program is built from.

The models are the settings: frozen, typed, validated on load. From the same declaration come the
JSON Schema of the stack files (`python settings.py > stack.schema.json`, which editors use to
underline a typo) and every error message: each names the key, the value and what is allowed (the
schema's description of the key), all problems at once, as a `pulumi.RunError` (Pulumi prints it
without a traceback) before any resource exists. Unknown keys are errors, with the nearest known
key: a misspelt key silently falling back to a default is how a safety setting gets lost.

Checks that span keys (memory for a CPU size, a termination wait the alarms need) run once the keys
they read are valid, so a bad value is reported once, not again as a misleading follow-on. The
production floors come from rollback_guard/policy/rules.py, shared with the components and the
policy pack, and hold for every strategy and release path; a stack's environment is tied to its
name, so `environment: staging` cannot switch them off in the prod stack.
"""

from __future__ import annotations

import ast
import copy
import difflib
import functools
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import pulumi
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from rollback_guard.components.alarms import AlarmEvaluation, evaluation_problems
from rollback_guard.components.arguments import LOG_RETENTION, Rule, rule_of
from rollback_guard.components.canary_judge import (
    DEFAULT_MAX_PROBES_PER_RELEASE,
    DEFAULT_PROBES_PER_SECOND,
    JUDGE_ALARMS,
    JudgeOptions,
    ecs_judge_environment_bytes,
    lambda_judge_environment_bytes,
)
from rollback_guard.components.codedeploy import (
    ALARM_POLL_SECONDS,
    ECS_PREDEFINED_CONFIGS,
    LAMBDA_PREDEFINED_CONFIGS,
    MAX_ALARMS_PER_DEPLOYMENT_GROUP,
    MAX_WAIT_MINUTES,
    DeploymentConfigChoice,
    TimeBasedShift,
    all_at_once,
    minimum_blue_kept_minutes,
    minutes_before_full_traffic,
    shift_minutes,
)
from rollback_guard.components.delivery import MAX_SMOKE_ENDPOINTS
from rollback_guard.components.ecs_service import (
    MAX_BAKE_MINUTES,
    TASK_DEFINITION_ROOM,
    CodeDeployBlueGreen,
    Container,
    EcsStrategy,
    NativeShift,
    Rolling,
    deployment_minutes,
    fargate_size_problem,
    pinned_tag_problem,
)
from rollback_guard.components.lambda_canary import LambdaCanaryArgs
from rollback_guard.components.lambda_function import function_code_problems
from rollback_guard.components.load_balancer import HealthCheck, inbound_rules, listener_problems
from rollback_guard.components.naming import PREFIX_PATTERN, prefix_of
from rollback_guard.components.network import (
    MAX_AVAILABILITY_ZONES,
    MIN_AVAILABILITY_ZONES,
    SUBNET_ID,
    ExistingVpc,
    NewVpc,
    zone_count_problem,
    zones_in_region,
)
from rollback_guard.components.network import Cidr as NetworkCidr
from rollback_guard.components.pipeline import DEPLOY_TIMEOUT_MINUTES, PipelineSource
from rollback_guard.components.service import (
    ALARMS_BUILT_HERE,
    RELEASE_MARGIN_MINUTES,
    RESERVED_NAME_PREFIXES,
    EcsRelease,
    EcsServiceWithRollbackArgs,
    LoadBalancerOptions,
    ServiceAlarms,
)
from rollback_guard.components.traffic_hooks import (
    LAMBDA_ENVIRONMENT_BYTES,
    MAX_WATCH_MINUTES,
    minimum_watch_minutes,
    pre_traffic_environment_bytes,
    test_traffic_environment_bytes,
)
from rollback_guard.hooks.smoke import MAX_CHECK_TIMEOUT_SECONDS, EndpointCheck, InvokeCheck, PathCheck, redacted
from rollback_guard.limits import (
    ALARM_NAME_LENGTH,
    DESCRIBE_ALARMS_NAMES,
    IMAGE_REFERENCE_LENGTH,
    LAMBDA_NAME_LENGTH,
    SECURITY_GROUP_RULES,
    TASK_DEFINITION_BYTES,
)
from rollback_guard.policy import rules

PROJECT = "rollback-guard"
ENVIRONMENTS = ("staging", "prod")
PIPELINE = "pipeline"
PROJECT_ROOT = Path(__file__).resolve().parent

# Lambda's init phase is not part of the function timeout; this much is allowed for it.
COLD_START_SECONDS = 10
CODEDEPLOY_STRATEGY = "codedeploy-blue-green"
_NATIVE = {"ecs-blue-green": "BLUE_GREEN", "ecs-canary": "CANARY", "ecs-linear": "LINEAR"}
STRATEGY_KEYS = (CODEDEPLOY_STRATEGY, "rolling", *_NATIVE)
DEFAULT_ECS_CONFIG = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
DEFAULT_LAMBDA_CONFIG = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
MAX_EXPECTED_REQUESTS_PER_SECOND = 1_000_000
# The longest Lambda function name each kind of entry gets, "<name><suffix><stack>", as the components
# name their children (tests/test_aws_limits.py renders the longest names these allow).
LONGEST_FUNCTION_SUFFIX = {"services": "-test-traffic-", "functions": "-hooks-post-traffic-"}
# The pipeline stack's, "<suffix><stack>": program.py's DeliveryPipeline "release" and its notifier.
PIPELINE_LONGEST_FUNCTION = "release-notifications-formatter-"
DEFAULT_SMOKE_PATHS = ({"path": "/"},)


class SettingsError(pulumi.RunError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{listing}")


# --- the vocabulary: each type's description is what an error says is allowed


def _whole(low: int, high: int, why: str = "") -> Any:
    return Annotated[int, Field(ge=low, le=high, description=f"a whole number from {low} to {high}{why}")]


def _text(pattern: str, rule: str, max_length: int | None = None) -> Any:
    return Annotated[str, Field(pattern=f"^(?:{pattern})$", max_length=max_length, description=rule)]


def _one_of(*choices: Any, why: str = "") -> Any:
    description = f"one of {', '.join(map(str, choices))}{why}"
    if all(isinstance(choice, str) for choice in choices):
        return Annotated[Literal[choices], Field(description=description)]

    # Numbers: a Literal would take true for 1.
    def chosen(value: int) -> int:
        if value not in choices:
            raise PydanticCustomError("choice", "not one of the choices")
        return value

    return Annotated[int, AfterValidator(chosen), WithJsonSchema({"enum": list(choices), "description": description})]


class Declared:
    """Marks a stack-file key whose values are what a component's Args field declares
    (rollback_guard.components.arguments): the parity test walks these to prove the component,
    used directly, refuses what the stack file refuses."""

    def __init__(self, args_class: type, field: str):
        self.args_class, self.field = args_class, field

    def __repr__(self) -> str:
        return f"{self.args_class.__name__}.{self.field}"


def _declared(args_class: type, field: str) -> Any:
    """The type of a key that takes what `args_class.field` allows: its rule, its description."""
    rule = rule_of(args_class, field)
    if rule is None:
        raise TypeError(f"{args_class.__name__}.{field} declares nothing it allows")
    return _allowed_by(rule, Declared(args_class, field))


def _allowed_by(rule: Rule, *marks: Any) -> Any:
    """The type of a value `rule` (rollback_guard.components.arguments) allows."""
    schema = rule.schema()
    python_type = {"integer": int, "number": float, "string": str}.get(schema.get("type"), Any)

    def allowed(value: Any) -> Any:
        if not rule.allows(value):
            raise PydanticCustomError("declared", rule.allowed)
        return value

    return Annotated[python_type, AfterValidator(allowed), WithJsonSchema(schema), *marks]


Cidr = _allowed_by(NetworkCidr())
# Load balancer and target group names are capped at 32 characters, and Pulumi appends 8 random ones
# to "<service>-lb-green".
ServiceName = _text(
    r"[a-z][a-z0-9-]{0,14}", "names of 1 to 15 lowercase letters, digits or dashes, starting with a letter"
)
# "<name>-<stack>" and "<name>-hooks-post-traffic-<stack>" must fit Lambda's 64 characters.
FunctionName = _text(
    r"[a-z][a-z0-9-]{0,24}", "names of 1 to 25 lowercase letters, digits or dashes, starting with a letter"
)


def _published_version(value: Any) -> str:
    """`pulumi config set --path` (what `ops rollback` runs) stores 7 as the integer 7; a person may write "7"."""
    if (type(value) is int and value >= 1) or (isinstance(value, str) and re.fullmatch(r"[1-9]\d*", value)):
        return str(value)
    raise PydanticCustomError("version", "not a version number")


LambdaVersion = Annotated[
    Any,
    AfterValidator(_published_version),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^[1-9]\d*$"}],
            "description": "a published version number such as 7",
        }
    ),
]
CheckSeconds = Annotated[
    float,
    Field(
        gt=0,
        le=MAX_CHECK_TIMEOUT_SECONDS,
        allow_inf_nan=False,
        description=f"seconds above 0, at most {MAX_CHECK_TIMEOUT_SECONDS}",
    ),
]


def _problems(found: Iterable[tuple[str, Any, str]]) -> None:
    """Raises a model's cross-key problems together: (key relative to the model, value, allowed)."""
    found = list(found)
    if found:
        raise PydanticCustomError("rules", "{count} problem(s)", {"count": len(found), "problems": found})


def _as_keys(where: str, lines: list[str]) -> list[tuple[str, Any, str]]:
    """A component's refusals (`<where>.<field> = <value>: <allowed>`, rollback_guard.components.arguments)
    as a section's problems, in the stack file's words: the rule is the component's, stated once."""
    found = []
    for line in lines:
        field, _, rest = line.removeprefix(f"{where}.").partition(" = ")
        value, _, allowed = rest.partition(": ")
        camel = re.sub(r"\b[a-z]+(?:_[a-z]+)+\b", lambda word: to_camel(word.group()), allowed)
        found.append((".".join(map(to_camel, field.split("."))), ast.literal_eval(value), camel))
    return found


def _production(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("production"))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, alias_generator=to_camel)

    @property
    def as_written(self) -> dict:
        """The keys the stack file set, as it wrote them."""
        return self.model_dump(by_alias=True, exclude_unset=True)


# --- smoke checks: the hooks' own parsers (hooks/smoke.py) decide; these declare their keys


class _SmokeCheck(_Section):
    # The hook's parser of this kind of check: it raises ValueError saying what it cannot use.
    hook_parser: ClassVar[Callable[[dict], Any]]

    @model_validator(mode="after")
    def _as_the_hook_reads_it(self) -> _SmokeCheck:
        try:
            type(self).hook_parser(self.as_written)
        except ValueError as error:
            raise PydanticCustomError("smoke_check", "{why}", {"why": str(error)}) from None
        return self


class _HttpExpectation(_SmokeCheck):
    expect_status: _whole(100, 599) = 200
    timeout_seconds: CheckSeconds = 5.0
    expect_body: Annotated[str, Field(min_length=1, description="text the body must contain")] | None = None


class SmokePath(_HttpExpectation):
    """A path on the service, checked through the test listener (or on the staging URL)."""

    hook_parser = PathCheck.from_dict
    path: _text(r"/\S*", "a path starting with /, without spaces", max_length=1024)


class SmokeEndpoint(_HttpExpectation):
    hook_parser = EndpointCheck.from_dict
    url: _text(r"https?://[^\s/]+\S*", "an http:// or https:// URL")


class SmokeEvent(_SmokeCheck):
    """A test event sent to the new version; every key of `expect` must be in the result."""

    hook_parser = functools.partial(InvokeCheck.from_dict, timeout_seconds=MAX_CHECK_TIMEOUT_SECONDS)
    name: Annotated[str, Field(min_length=1, description="the event's name, in logs")]
    payload: Annotated[Any, Field(description="the event, any JSON value")] = None
    expect: Annotated[
        dict[str, Any], Field(min_length=1, description="keys the result must hold, such as {statusCode: 200}")
    ] = None


def _dumped(checks: Iterable[_SmokeCheck] | None) -> tuple[dict, ...]:
    return tuple(check.as_written for check in checks or ())


# --- network

SubnetId = _allowed_by(SUBNET_ID)


class NetworkSettings(_Section):
    """A new VPC (cidrBlock, availabilityZones, natGateways) or an existing one (vpcId and subnet ids)."""

    name: (
        _text(r"[a-z][a-z0-9-]{0,19}", "1 to 20 lowercase letters, digits or dashes; renaming it replaces the VPC")
        | None
    ) = None
    cidr_block: Annotated[
        Cidr,
        Field(
            description="an IPv4 CIDR block with no host bits from /16 to /24 with 2 availability zones, /23 with 3 "
            "or 4, /22 with 5 or 6 (a load balancer needs public subnets of /27), such as 10.0.0.0/16"
        ),
    ] = "10.0.0.0/16"
    availability_zones: _whole(
        MIN_AVAILABILITY_ZONES, MAX_AVAILABILITY_ZONES, ", at most the zones the region has (asked of AWS at preview)"
    ) = 2
    nat_gateways: _one_of("single", "one-per-az") = "one-per-az"
    vpc_id: _declared(ExistingVpc, "vpc_id") | None = None
    public_subnet_ids: Annotated[
        list[SubnetId],
        Field(
            min_length=2,
            description="a list of at least two public subnet ids (subnet-...), one per zone: an ALB needs two",
        ),
    ] = None
    private_subnet_ids: Annotated[
        list[SubnetId],
        Field(min_length=1, description="a list of the private subnet ids (subnet-...) the tasks run in"),
    ] = None

    @model_validator(mode="after")
    def _one_kind_of_vpc(self) -> NetworkSettings:
        found = []
        existing = ("vpcId", "publicSubnetIds", "privateSubnetIds")
        new = ("cidrBlock", "availabilityZones", "natGateways")
        given = {type(self).model_fields[field].alias for field in self.model_fields_set}
        if given & set(existing):
            found += [
                (key, None, "required with vpcId, publicSubnetIds, privateSubnetIds")
                for key in existing
                if key not in given
            ]
            found += [
                (key, getattr(self, _field_of(key)), "only for a new VPC, not with vpcId")
                for key in new
                if key in given
            ]
            public, private = list(self.public_subnet_ids or ()), list(self.private_subnet_ids or ())
            for key, ids in (("publicSubnetIds", public), ("privateSubnetIds", private)):
                repeated = sorted({subnet for subnet in ids if ids.count(subnet) > 1})
                if repeated:
                    found.append((key, repeated, "each subnet once"))
            both = sorted(set(public) & set(private))
            if both:
                found.append(("privateSubnetIds", both, "subnets that are not also public"))
        else:
            found += [(to_camel(argument), value, allowed) for argument, value, allowed in self.vpc.problems()]
        _problems(found)
        return self

    @property
    def vpc(self) -> NewVpc | ExistingVpc:
        if self.vpc_id:
            return ExistingVpc(self.vpc_id, tuple(self.public_subnet_ids), tuple(self.private_subnet_ids))
        return NewVpc(self.cidr_block, self.availability_zones, self.nat_gateways)


def _field_of(alias: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), alias)


# --- a service's load balancer and alarms


class HealthCheckSettings(_Section):
    path: _declared(HealthCheck, "path") = "/"
    matcher: _declared(HealthCheck, "matcher") = "200-399"
    interval_seconds: _declared(HealthCheck, "interval_seconds") = 15
    timeout_seconds: _declared(HealthCheck, "timeout_seconds") = 5
    healthy_threshold: _declared(HealthCheck, "healthy_threshold") = 3
    unhealthy_threshold: _declared(HealthCheck, "unhealthy_threshold") = 3

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> HealthCheckSettings:
        if self.timeout_seconds >= self.interval_seconds:
            _problems(
                [("timeoutSeconds", self.timeout_seconds, f"less than intervalSeconds ({self.interval_seconds})")]
            )
        return self

    @property
    def health_check(self) -> HealthCheck:
        return HealthCheck(
            self.path,
            self.matcher,
            self.interval_seconds,
            self.timeout_seconds,
            self.healthy_threshold,
            self.unhealthy_threshold,
        )


class LoadBalancerSettings(_Section):
    listener_port: _declared(LoadBalancerOptions, "listener_port") | None = None
    test_listener_port: _declared(LoadBalancerOptions, "test_listener_port") = 8080
    certificate_arn: _declared(LoadBalancerOptions, "certificate_arn") | None = None
    ingress_cidrs: Annotated[
        list[Cidr], Field(min_length=1, description="a list of CIDR blocks allowed on the production listener")
    ] = ["0.0.0.0/0"]
    test_ingress_cidrs: (
        Annotated[
            list[Cidr],
            Field(
                description="a list of CIDR blocks allowed on the test listener besides the VPC's own, which the "
                "hooks and the judge use"
            ),
        ]
        | None
    ) = None
    http_redirect_port: _declared(LoadBalancerOptions, "http_redirect_port") = 80
    deletion_protection: Annotated[bool, Field(description="true or false; prod keeps it on")] = True
    health_check_settings: HealthCheckSettings = Field(default_factory=HealthCheckSettings, alias="healthCheck")

    @field_validator("deletion_protection")
    @classmethod
    def _production_keeps_deletion_protection(cls, on: bool, info: ValidationInfo) -> bool:
        if _production(info) and not on:
            raise PydanticCustomError("floor", "prod load balancers keep deletion protection on")
        return on

    @field_validator("certificate_arn")
    @classmethod
    def _in_the_stacks_region(cls, arn: str | None, info: ValidationInfo) -> str | None:
        region = (info.context or {}).get("region")
        if _region_problems(region):
            return arn  # the region is wrong: that is the one line to read
        if arn and region and arn.split(":")[1] != _partition(region):
            raise PydanticCustomError(
                "region",
                "a certificate of the stack's partition ({partition})",
                {"partition": _partition(region)},
            )
        if arn and region and arn.split(":")[3] != region:
            raise PydanticCustomError(
                "region",
                "a certificate in the stack's region ({region}): an ALB uses ACM certificates of its own region",
                {"region": region},
            )
        return arn

    @model_validator(mode="after")
    def _listeners(self, info: ValidationInfo) -> LoadBalancerSettings:
        https = self.certificate_arn is not None
        ports = (self.listener_port, self.test_listener_port, self.http_redirect_port)
        found = _as_keys("loadBalancer", listener_problems("loadBalancer", *ports, https))
        if "http_redirect_port" in self.model_fields_set and not self.certificate_arn and not _production(info):
            found.append(
                ("httpRedirectPort", self.http_redirect_port, "only with certificateArn: it redirects to HTTPS")
            )
        for key, cidrs in (("ingressCidrs", self.ingress_cidrs), ("testIngressCidrs", self.test_ingress_cidrs or [])):
            repeated = sorted({cidr for cidr in cidrs if cidrs.count(cidr) > 1})
            if repeated:
                found.append((key, repeated, "each block once: a security group refuses a duplicate rule"))
        rules = sum(inbound_rules(self.ingress_cidrs, self.test_ingress_cidrs or [], bool(self.certificate_arn)))
        if rules > SECURITY_GROUP_RULES:
            found.append(
                (
                    "ingressCidrs",
                    f"{len(self.ingress_cidrs)} blocks",
                    f"at most {SECURITY_GROUP_RULES} inbound rules in the load balancer's security group, one per "
                    f"block and listener (HTTPS and its redirect count twice): {rules} here",
                )
            )
        if _production(info) and not self.certificate_arn:
            found.append(
                (
                    "certificateArn",
                    None,
                    "required in prod: production listens on HTTPS (an ACM certificate in the stack's region)",
                )
            )
        _problems(found)
        return self

    @property
    def health_check(self) -> HealthCheck:
        return self.health_check_settings.health_check


class _AlarmEvaluation(_Section):
    period_seconds: _declared(AlarmEvaluation, "period_seconds") = 60
    evaluation_periods: _declared(AlarmEvaluation, "evaluation_periods") = 3
    datapoints_to_alarm: _declared(AlarmEvaluation, "datapoints_to_alarm") = 3
    error_rate_percent: _declared(ServiceAlarms, "error_rate_percent") = 1.0

    @field_validator("error_rate_percent")
    @classmethod
    def _production_rate(cls, rate: float, info: ValidationInfo) -> float:
        if _production(info) and rate > rules.PROD_MAX_ERROR_RATE_PERCENT:
            raise PydanticCustomError(
                "floor",
                "prod rolls back at an error rate of at most {ceiling}%",
                {"ceiling": rules.PROD_MAX_ERROR_RATE_PERCENT},
            )
        return rate

    @model_validator(mode="after")
    def _evaluation_fits(self) -> _AlarmEvaluation:
        _problems(_as_keys("evaluation", evaluation_problems("evaluation", self.evaluation)))
        return self

    @property
    def evaluation(self) -> AlarmEvaluation:
        return AlarmEvaluation(self.period_seconds, self.evaluation_periods, self.datapoints_to_alarm)


def _alarm_name(name: str) -> str:
    if rules.alarm_names_not_arns([name]):
        raise PydanticCustomError("arn", "an ARN")
    if _control_characters(name):
        raise PydanticCustomError("control", "control characters")
    return name


class ServiceAlarmSettings(_AlarmEvaluation):
    minimum_requests: _declared(ServiceAlarms, "minimum_requests") = 50
    latency_anomaly_band: _declared(ServiceAlarms, "latency_anomaly_band") | None = None
    extra_alarm_names: Annotated[
        list[
            Annotated[
                str,
                AfterValidator(_alarm_name),
                Field(
                    min_length=1,
                    max_length=ALARM_NAME_LENGTH,
                    description=f"an alarm's name of 1 to {ALARM_NAME_LENGTH} characters, not its ARN (CodeDeploy "
                    "looks alarms up by name)",
                ),
            ]
        ],
        Field(
            description=f"a list of existing CloudWatch alarms' names (1 to {ALARM_NAME_LENGTH} characters, not "
            "ARNs: CodeDeploy looks alarms up by name), each once"
        ),
    ] = []

    @model_validator(mode="after")
    def _fits_a_deployment_group(self) -> ServiceAlarmSettings:
        found = []
        names = self.extra_alarm_names
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            found.append(("extraAlarmNames", repeated, "each alarm once: CodeDeploy rejects a repeated alarm name"))
        # The count also depends on the strategy (the judge's heartbeat alarm): ServiceSettings checks it.
        _problems(found)
        return self

    @property
    def rollback_alarm_count(self) -> int:
        """The service's rollback alarms: those built here and the extra ones."""
        return ALARMS_BUILT_HERE + (self.latency_anomaly_band is not None) + len(self.extra_alarm_names)


class FunctionAlarmSettings(_AlarmEvaluation):
    minimum_invocations: _declared(LambdaCanaryArgs, "minimum_invocations") = 20

    @property
    def rollback_alarm_count(self) -> int:
        """LambdaAlarms' error-rate and throttle-rate alarms."""
        return 2


class JudgeSettings(_Section):
    """The canary judge (components/canary_judge.py): the probes it sends the new version during a
    CodeDeploy release, and the most it may send in one."""

    probes_per_second: _declared(JudgeOptions, "probes_per_second") = DEFAULT_PROBES_PER_SECOND
    max_probes_per_release: _declared(JudgeOptions, "max_probes_per_release") = DEFAULT_MAX_PROBES_PER_RELEASE

    @field_validator("max_probes_per_release")
    @classmethod
    def _production_probes(cls, probes: int, info: ValidationInfo) -> int:
        if _production(info) and probes == 0:
            raise PydanticCustomError(
                "floor", "at least 1 in prod: the judge needs probes to see a bad version before the alarms do"
            )
        return probes

    @property
    def options(self) -> JudgeOptions:
        return JudgeOptions(self.probes_per_second, self.max_probes_per_release)


def _expected_rate(what: str) -> Any:
    return Annotated[
        float,
        Field(
            gt=0,
            le=MAX_EXPECTED_REQUESTS_PER_SECOND,
            allow_inf_nan=False,
            description=f"{what}, above 0 and at most {MAX_EXPECTED_REQUESTS_PER_SECOND:,}: the overall traffic "
            "the detection model plans with",
        ),
    ]


# --- how traffic moves


class CustomShift(_Section):
    type: _declared(TimeBasedShift, "kind")
    percentage: _declared(TimeBasedShift, "percentage")
    interval_minutes: _declared(TimeBasedShift, "interval_minutes")

    @property
    def shift(self) -> TimeBasedShift:
        return TimeBasedShift(self.type, self.percentage, self.interval_minutes)


def _shift_choice(predefined: frozenset[str]) -> Any:
    """A predefined config's name or a custom shift. Tags starting with ~ never show in a key."""
    names = ", ".join(sorted(predefined))
    return Annotated[
        Annotated[Literal[tuple(sorted(predefined))], Tag("~named")] | Annotated[CustomShift, Tag("~custom")],
        Discriminator(lambda value: "~custom" if isinstance(value, (dict, CustomShift)) else "~named"),
        Field(description=f"one of {names}, or {{type: linear|canary, percentage, intervalMinutes}}"),
    ]


def _shift_alone(shift: str | CustomShift, info: ValidationInfo) -> str | CustomShift:
    """What a shift must be whatever the other keys say, so it is reported with their problems."""
    choice = shift.shift if isinstance(shift, CustomShift) else shift
    shown = shift.as_written if isinstance(shift, CustomShift) else shift
    if shift_minutes(choice) > MAX_WAIT_MINUTES:
        raise PydanticCustomError(
            "shift", "a shift CodeDeploy completes within {low} minutes (two days)", {"low": MAX_WAIT_MINUTES}
        )
    for problem in rules.gradual_shift(str(shown), all_at_once(choice), _production(info)):
        raise PydanticCustomError("floor", problem)
    return shift


def _shift_problems(key: str, shift: str | CustomShift, detection: AlarmEvaluation, production: bool) -> list:
    """In production an alarm can stop the release while traffic still moves (rules.py)."""
    choice = shift.shift if isinstance(shift, CustomShift) else shift
    shown = shift.as_written if isinstance(shift, CustomShift) else shift
    detection_minutes = detection.worst_detection_seconds / 60
    found = rules.partial_traffic_outlasts_detection(minutes_before_full_traffic(choice), detection_minutes, production)
    return [(key, shown, problem) for problem in found]


# Which keys of `deployment` belong to which strategy; the rest apply to all.
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


class DeploymentSettings(_Section):
    """Who releases the service and how; each strategy takes its own keys (_STRATEGY_OF_KEY)."""

    strategy_name: Annotated[
        Literal[STRATEGY_KEYS], Field(alias="strategy", description=f"one of {', '.join(STRATEGY_KEYS)}")
    ] = CODEDEPLOY_STRATEGY
    shift: Annotated[_shift_choice(ECS_PREDEFINED_CONFIGS), Field(alias="config")] = DEFAULT_ECS_CONFIG
    termination_wait_minutes: _declared(EcsRelease, "termination_wait_minutes") = 15
    approval_wait_minutes: _declared(EcsRelease, "approval_wait_minutes") = 0
    smoke_path_checks: (
        Annotated[
            list[SmokePath],
            Field(
                description="a list of {path, expectStatus, timeoutSeconds, expectBody} checked on green through "
                "the test listener: at least one, by default / answering 200 (none with rolling)"
            ),
        ]
        | None
    ) = Field(None, alias="smokePaths")
    retry_revision: _declared(EcsRelease, "retry_revision") | None = None
    pinned_revision: _declared(EcsRelease, "pinned_revision") | None = None
    minimum_healthy_percent: _declared(Rolling, "minimum_healthy_percent") = 100
    maximum_percent: _declared(Rolling, "maximum_percent") = 200
    bake_time_minutes: _declared(NativeShift, "bake_time_minutes") = 15
    canary_percent: _declared(NativeShift, "canary_percent") = 10.0
    canary_bake_minutes: _declared(NativeShift, "canary_bake_minutes") = 10
    step_percent: _declared(NativeShift, "step_percent") = 10.0
    step_bake_minutes: _declared(NativeShift, "step_bake_minutes") = 1

    @field_validator("strategy_name")
    @classmethod
    def _production_shifts_part_first(cls, name: str, info: ValidationInfo) -> str:
        if _production(info) and name == "ecs-blue-green":
            raise PydanticCustomError(
                "floor",
                "prod moves part of the traffic first (ecs-canary, ecs-linear or codedeploy-blue-green), "
                "not all at once",
            )
        return name

    @field_validator("shift")
    @classmethod
    def _gradual(cls, shift: str | CustomShift, info: ValidationInfo) -> str | CustomShift:
        return _shift_alone(shift, info)

    @field_validator("termination_wait_minutes", "bake_time_minutes")
    @classmethod
    def _production_keeps_blue(cls, minutes: int, info: ValidationInfo) -> int:
        # A key of another strategy is refused as such (_keys_of_its_strategy), not by this floor.
        owners = _STRATEGY_OF_KEY[cls.model_fields[info.field_name].alias]
        if (
            _production(info)
            and info.data.get("strategy_name") in owners
            and minutes < rules.PROD_MIN_ROLLBACK_WINDOW_MINUTES
        ):
            raise PydanticCustomError(
                "floor",
                "prod keeps blue at least {low} minutes so an alarm within {low} minutes of the release rolls back",
                {"low": rules.PROD_MIN_ROLLBACK_WINDOW_MINUTES},
            )
        return minutes

    @field_validator("canary_percent", "step_percent")
    @classmethod
    def _production_shifts_part(cls, percent: float, info: ValidationInfo) -> float:
        if _production(info) and percent >= 100:
            raise PydanticCustomError("floor", "prod shifts part of the traffic first, not 100%")
        return percent

    @field_validator("minimum_healthy_percent")
    @classmethod
    def _production_keeps_tasks(cls, percent: int, info: ValidationInfo) -> int:
        if _production(info) and percent <= 0:
            raise PydanticCustomError("floor", "prod keeps some tasks running during a rolling update")
        return percent

    @model_validator(mode="after")
    def _keys_of_its_strategy(self) -> DeploymentSettings:
        found = []
        fields = type(self).model_fields
        for field in [field for field in fields if field in self.model_fields_set]:
            key = fields[field].alias
            owners = _STRATEGY_OF_KEY.get(key)
            if owners and self.strategy_name not in owners:
                found.append(
                    (
                        key,
                        _written(getattr(self, field)),
                        f"only with strategy {' or '.join(owners)} (strategy is {self.strategy_name})",
                    )
                )
        if self.strategy_name != "rolling" and self.smoke_path_checks == []:
            found.append(
                (
                    "smokePaths",
                    _written(self.smoke_path_checks),
                    "at least one path: the test-traffic hook fails without one",
                )
            )
        _problems(found)
        return self

    @property
    def strategy(self) -> EcsStrategy:
        if self.strategy_name == "rolling":
            return Rolling(self.minimum_healthy_percent, self.maximum_percent)
        native = _NATIVE.get(self.strategy_name)
        if native is None:
            return CodeDeployBlueGreen()
        return NativeShift(
            strategy=native,
            bake_time_minutes=self.bake_time_minutes,
            canary_percent=self.canary_percent if native == "CANARY" else None,
            canary_bake_minutes=self.canary_bake_minutes if native == "CANARY" else None,
            step_percent=self.step_percent if native == "LINEAR" else None,
            step_bake_minutes=self.step_bake_minutes if native == "LINEAR" else None,
        )

    @property
    def config(self) -> DeploymentConfigChoice:
        return self.shift.shift if isinstance(self.shift, CustomShift) else self.shift

    @property
    def smoke_paths(self) -> tuple[dict, ...]:
        if self.smoke_path_checks is None and self.strategy_name != "rolling":
            return DEFAULT_SMOKE_PATHS
        return _dumped(self.smoke_path_checks)

    def blue_kept(self) -> tuple[str, int] | None:
        """Which key keeps blue after the last shift, and for how long."""
        if self.strategy_name == CODEDEPLOY_STRATEGY:
            return "terminationWaitMinutes", self.termination_wait_minutes
        if self.strategy_name in _NATIVE:
            return "bakeTimeMinutes", self.bake_time_minutes
        return None


def _written(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_unset=True)
    if isinstance(value, list):
        return [_written(item) for item in value]
    return value


# --- a service and a function


class ServiceSettings(_Section):
    """One ECS service: `services.<name>`."""

    image: _declared(Container, "image")
    tag: _declared(Container, "tag")
    expected_requests_per_second: _expected_rate("requests a second at the load balancer")
    container_port: _declared(Container, "port") = 80
    cpu: _declared(Container, "cpu") = 256
    memory: _declared(Container, "memory") = 512
    desired_count: _declared(EcsServiceWithRollbackArgs, "desired_count") = 2
    cpu_architecture: _declared(Container, "cpu_architecture") = "X86_64"
    log_retention_days: _declared(EcsServiceWithRollbackArgs, "log_retention_days") = 30
    environment: Annotated[
        dict[
            _text(r"[A-Za-z_][A-Za-z0-9_]{0,254}", "environment variable names of letters, digits and _"),
            Annotated[str, Field(description="text (quote a number: YAML reads 4 as a number)")],
        ],
        Field(description="an object of container environment variables, names to text values"),
    ] = {}
    load_balancer: LoadBalancerSettings = Field(default_factory=LoadBalancerSettings)
    alarms: ServiceAlarmSettings = Field(default_factory=ServiceAlarmSettings)
    deployment: DeploymentSettings = Field(default_factory=DeploymentSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    _name: str = PrivateAttr("")

    @field_validator("tag")
    @classmethod
    def _pinned(cls, tag: str, info: ValidationInfo) -> str:
        if problem := pinned_tag_problem(tag, _production(info)):
            raise PydanticCustomError("latest", problem)
        return tag

    @field_validator("desired_count")
    @classmethod
    def _production_task_count(cls, count: int, info: ValidationInfo) -> int:
        if _production(info) and count < rules.PROD_MIN_DESIRED_COUNT:
            raise PydanticCustomError(
                "floor",
                "prod runs at least {low} tasks so one failing task is not an outage",
                {"low": rules.PROD_MIN_DESIRED_COUNT},
            )
        return count

    @field_validator("log_retention_days")
    @classmethod
    def _production_logs(cls, days: int, info: ValidationInfo) -> int:
        return _production_log_retention(days, info)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ServiceSettings:
        found = _fargate_size(self.cpu, self.memory)
        reference = f"{self.image}:{self.tag}"
        if len(reference) > IMAGE_REFERENCE_LENGTH:
            found.append(
                (
                    "tag",
                    self.tag,
                    f"an image and tag of at most {IMAGE_REFERENCE_LENGTH} characters together (ECS's "
                    f"limit; {len(reference)} here)",
                )
            )
        variables = len(json.dumps([{"name": k, "value": v} for k, v in self.environment.items()]))
        if variables > TASK_DEFINITION_BYTES - TASK_DEFINITION_ROOM:
            found.append(
                (
                    "environment",
                    f"{variables} bytes",
                    f"at most {TASK_DEFINITION_BYTES - TASK_DEFINITION_ROOM} bytes: ECS takes a task definition of "
                    f"{TASK_DEFINITION_BYTES // 1024} KiB, {TASK_DEFINITION_ROOM // 1024} of them kept for the rest "
                    "of it",
                )
            )
        deployment, production = self.deployment, _production(info)
        detection = self.alarms.evaluation
        kept = deployment.blue_kept()
        shortest = minimum_blue_kept_minutes(detection)
        ceiling = MAX_WAIT_MINUTES if kept and kept[0] == "terminationWaitMinutes" else MAX_BAKE_MINUTES
        # Blue is kept within the release, which must end within the pipeline's deploy step: when the
        # alarms alone make that impossible, they are what to change.
        others = self.release_minutes - kept[1] if kept else 0
        too_slow = others + shortest > DEPLOY_TIMEOUT_MINUTES and shortest > others - RELEASE_MARGIN_MINUTES
        if kept and (shortest > ceiling or too_slow):
            room = min(ceiling, DEPLOY_TIMEOUT_MINUTES - others)
            found.append(
                (
                    "alarms.periodSeconds",
                    self.alarms.period_seconds,
                    f"alarms that fire within {room} minutes of the last shift: these need up to {shortest} to "
                    f"fire and be read, longer than blue can be kept ({kept[0]} at most {ceiling}, and the release "
                    f"within the pipeline's {DEPLOY_TIMEOUT_MINUTES}-minute deploy step)",
                )
            )
        elif kept and kept[1] < shortest:
            found.append(
                (
                    f"deployment.{kept[0]}",
                    kept[1],
                    f"at least {shortest}: the alarms need up to {detection.worst_detection_seconds / 60:g} min "
                    "to fire on a version that went bad at the last shift, and up to "
                    f"{ALARM_POLL_SECONDS // 60} more to be read",
                )
            )
        else:
            found += _release_fits(self.release_minutes, *_longest_wait(deployment))
        alarms, count = self.alarms.extra_alarm_names, self.deployment_group_alarm_count
        if count > MAX_ALARMS_PER_DEPLOYMENT_GROUP:
            judged = " (the canary judge's heartbeat alarm among them)" if self._judged else ""
            found.append(
                (
                    "alarms.extraAlarmNames",
                    alarms,
                    f"with the {count - len(alarms)} alarms built here{judged}, at most "
                    f"{MAX_ALARMS_PER_DEPLOYMENT_GROUP} alarms per deployment group (got {count})",
                )
            )
        if deployment.strategy_name == CODEDEPLOY_STRATEGY:
            found += _shift_problems("deployment.config", deployment.shift, detection, production)
        elif "judge" in self.model_fields_set:
            found.append(
                (
                    "judge",
                    self.judge.as_written,
                    f"only with strategy {CODEDEPLOY_STRATEGY} (strategy is {deployment.strategy_name}): the judge "
                    "stops CodeDeploy deployments, and ECS releases this strategy itself",
                )
            )
        strategy = deployment.strategy
        if isinstance(strategy, NativeShift) and strategy.strategy != "BLUE_GREEN":
            key = "canaryBakeMinutes" if strategy.strategy == "CANARY" else "stepBakeMinutes"
            detection_minutes = detection.worst_detection_seconds / 60
            found += [
                (f"deployment.{key}", getattr(deployment, _field_of(key)), problem)
                for problem in rules.partial_traffic_outlasts_detection(
                    strategy.minutes_before_full_traffic, detection_minutes, production
                )
            ]
        if deployment.strategy_name == "rolling":
            low, high = deployment.minimum_healthy_percent, deployment.maximum_percent
            # ECS rounds the healthy minimum up and the running maximum down, in tasks.
            minimum, maximum = math.ceil(self.desired_count * low / 100), math.floor(self.desired_count * high / 100)
            if maximum <= minimum:
                found.append(
                    (
                        "deployment.maximumPercent",
                        high,
                        f"room for one more task than minimumHealthyPercent ({low}) keeps running: with desiredCount "
                        f"{self.desired_count} that is {minimum} healthy and at most {maximum} running, so ECS cannot "
                        "replace a task",
                    )
                )
        elif deployment.strategy_name == CODEDEPLOY_STRATEGY:
            # The judge's environment holds the test-traffic hook's and more: one line, for the larger.
            size = ecs_judge_environment_bytes(deployment.smoke_paths)
            if size > LAMBDA_ENVIRONMENT_BYTES:
                found.append(("deployment.smokePaths", f"{size} bytes", _environment_rule("canary judge's")))
        else:
            size = test_traffic_environment_bytes(deployment.smoke_paths)
            if size > LAMBDA_ENVIRONMENT_BYTES:
                found.append(("deployment.smokePaths", f"{size} bytes", _environment_rule("test-traffic hook's")))
        _problems(found)
        return self

    @property
    def release_minutes(self) -> int:
        """How long `pulumi up` may follow a release of the service, as the components set it."""
        deployment = self.deployment
        if deployment.strategy_name != CODEDEPLOY_STRATEGY:
            return deployment_minutes(deployment.strategy)
        waits = deployment.approval_wait_minutes + deployment.termination_wait_minutes
        return shift_minutes(deployment.config) + waits + RELEASE_MARGIN_MINUTES

    @property
    def _judged(self) -> bool:
        return self.deployment.strategy_name == CODEDEPLOY_STRATEGY

    @property
    def deployment_group_alarm_count(self) -> int:
        """The alarms that stop a release: the service's rollback alarms and, released by CodeDeploy,
        its canary judge's heartbeat alarm (as EcsServiceWithRollback lists them)."""
        return self.alarms.rollback_alarm_count + JUDGE_ALARMS * self._judged

    @property
    def name(self) -> str:
        return self._name

    @property
    def config_path(self) -> str:
        return f"services.{self.name}"

    @property
    def container(self) -> Container:
        return Container(
            self.name,
            self.image,
            self.tag,
            self.container_port,
            self.cpu,
            self.memory,
            self.cpu_architecture,
            dict(self.environment),
        )


def _longest_wait(deployment: DeploymentSettings) -> tuple[str, Any]:
    """The key that adds the most minutes to a service's release, to name when it is too long, and
    its value as written."""
    if deployment.strategy_name == CODEDEPLOY_STRATEGY:
        minutes = {
            "terminationWaitMinutes": deployment.termination_wait_minutes,
            "approvalWaitMinutes": deployment.approval_wait_minutes,
            "config": shift_minutes(deployment.config),
        }
    else:
        strategy = deployment.strategy
        minutes = {"bakeTimeMinutes": deployment.bake_time_minutes}
        if deployment.strategy_name == "ecs-canary":
            minutes["canaryBakeMinutes"] = deployment.canary_bake_minutes
        elif deployment.strategy_name == "ecs-linear":
            minutes["stepBakeMinutes"] = deployment_minutes(strategy) - deployment_minutes(
                replace(strategy, step_bake_minutes=0)
            )
    key = max(minutes, key=minutes.get)
    value = deployment.shift if key == "config" else getattr(deployment, _field_of(key))
    return f"deployment.{key}", _written(value)


def _release_fits(minutes: int, key: str, value: Any) -> list:
    """A release the pipeline's deploy step can follow to its end: a step stopped partway leaves the
    stack with an operation in progress and the release unrecorded."""
    if minutes <= DEPLOY_TIMEOUT_MINUTES:
        return []
    return [
        (
            key,
            value,
            f"a release that ends within the pipeline's deploy step: {minutes} min with the shift, the waits and "
            f"{RELEASE_MARGIN_MINUTES} min for tasks and hooks, and the step stops at {DEPLOY_TIMEOUT_MINUTES} "
            "(CodePipeline's limit for a CodeBuild action)",
        )
    ]


def _fargate_size(cpu: int, memory: int) -> list:
    problem = fargate_size_problem(cpu, memory)
    return [("memory", memory, problem)] if problem else []


def _production_log_retention(days: int, info: ValidationInfo) -> int:
    if _production(info) and days < rules.PROD_MIN_LOG_RETENTION_DAYS:
        raise PydanticCustomError(
            "floor", "prod keeps logs at least {low} days", {"low": rules.PROD_MIN_LOG_RETENTION_DAYS}
        )
    return days


def _environment_rule(hook: str) -> str:
    return (
        f"checks that fit the {hook} environment: Lambda allows {LAMBDA_ENVIRONMENT_BYTES} bytes of "
        "environment variables; use fewer or shorter checks"
    )


class FunctionSettings(_Section):
    """One Lambda canary: `functions.<name>`."""

    code_path: Annotated[str, Field(min_length=1, description="a folder of this project holding the function's code")]
    handler: _declared(LambdaCanaryArgs, "handler")
    expected_requests_per_second: _expected_rate("invocations a second of the alias")
    runtime: _declared(LambdaCanaryArgs, "runtime") = "python3.13"
    memory_mb: _declared(LambdaCanaryArgs, "memory_mb") = 256
    timeout_seconds: _declared(LambdaCanaryArgs, "timeout_seconds") = 10
    tracing: Annotated[bool, Field(description="true or false")] = True
    # The function's code publishes its per-version 10 s counts (rollback_guard.release_metrics),
    # which the judge then reads too (docs/release-metrics.md); off, as only the code can say so.
    release_metrics: Annotated[bool, Field(description="true or false")] = False
    reserved_concurrency: _declared(LambdaCanaryArgs, "reserved_concurrency") | None = None
    log_retention_days: _declared(LambdaCanaryArgs, "log_retention_days") = 30
    alarms: FunctionAlarmSettings = Field(default_factory=FunctionAlarmSettings)
    shift: Annotated[_shift_choice(LAMBDA_PREDEFINED_CONFIGS), Field(alias="deploymentConfig")] = DEFAULT_LAMBDA_CONFIG
    smoke_event_checks: Annotated[
        list[SmokeEvent],
        Field(
            alias="smokeEvents",
            min_length=1,
            description="a list of at least one {name, payload, expect}: only an event invokes the new version "
            "before traffic moves (an endpoint reaches the alias, which still serves the previous version)",
        ),
    ]
    smoke_endpoint_checks: Annotated[
        list[SmokeEndpoint],
        Field(
            alias="smokeEndpoints",
            description="a list of {url, expectStatus, timeoutSeconds, expectBody}, besides the events",
        ),
    ] = []
    check_timeout_seconds: _declared(LambdaCanaryArgs, "check_timeout_seconds") = 20.0
    watch: (
        Annotated[
            int,
            Field(
                description="minutes the post-traffic hook keeps watching the alarms after the last shift: at least "
                f"their worst detection time plus a poll, at most {MAX_WATCH_MINUTES} (Lambda's 15 minutes); "
                f"prod at least {rules.PROD_MIN_ROLLBACK_WINDOW_MINUTES}",
            ),
        ]
        | None
    ) = Field(None, alias="watchMinutes")
    retry_revision: LambdaVersion | None = None
    pinned_version: LambdaVersion | None = None
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    _name: str = PrivateAttr("")

    @field_validator("log_retention_days")
    @classmethod
    def _production_logs(cls, days: int, info: ValidationInfo) -> int:
        return _production_log_retention(days, info)

    @field_validator("shift")
    @classmethod
    def _gradual(cls, shift: str | CustomShift, info: ValidationInfo) -> str | CustomShift:
        return _shift_alone(shift, info)

    @field_validator("code_path")
    @classmethod
    def _inside_the_project(cls, code_path: str) -> str:
        folder = (PROJECT_ROOT / code_path).resolve()
        # Relative: the pipeline's build checks the project out in a folder of its own.
        if Path(code_path).is_absolute() or not (folder.is_dir() and folder.is_relative_to(PROJECT_ROOT)):
            raise PydanticCustomError("folder", "a folder inside this project")
        return code_path

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> FunctionSettings:
        found = [
            (to_camel(argument), value, allowed)
            for argument, value, allowed in function_code_problems(
                self.code_path, self.handler, self.runtime, root=PROJECT_ROOT
            )
        ]
        # A smoke event is the new version's first invocation, cold start included.
        longest = MAX_CHECK_TIMEOUT_SECONDS - COLD_START_SECONDS
        if self.timeout_seconds > longest:
            found.append(
                (
                    "timeoutSeconds",
                    self.timeout_seconds,
                    f"at most {longest}: the pre-traffic hook waits timeoutSeconds + {COLD_START_SECONDS} for a smoke "
                    f"event (cold start included) and at most {MAX_CHECK_TIMEOUT_SECONDS} s",
                )
            )
        elif self.check_timeout_seconds < self.timeout_seconds + COLD_START_SECONDS:
            found.append(
                (
                    "checkTimeoutSeconds",
                    self.check_timeout_seconds,
                    f"from {self.timeout_seconds + COLD_START_SECONDS} (timeoutSeconds + {COLD_START_SECONDS}: a smoke "
                    f"event is the new version's first invocation, cold start included) to {MAX_CHECK_TIMEOUT_SECONDS}",
                )
            )
        detection = self.alarms.evaluation
        shortest = minimum_watch_minutes(detection)
        production = _production(info)
        if shortest > MAX_WATCH_MINUTES:
            found.append(
                (
                    "alarms.periodSeconds",
                    self.alarms.period_seconds,
                    f"with datapointsToAlarm = {self.alarms.datapoints_to_alarm} an alarm needs up to {shortest} min "
                    f"to fire, longer than the post-traffic hook can keep watching ({MAX_WATCH_MINUTES} min, within "
                    "Lambda's 15-minute limit), so a version that goes bad at its last shift would complete",
                )
            )
        elif self.watch is not None and not self._lowest_watch(production) <= self.watch <= MAX_WATCH_MINUTES:
            why = f"; prod keeps watching at least {rules.PROD_MIN_ROLLBACK_WINDOW_MINUTES}" if production else ""
            found.append(
                (
                    "watchMinutes",
                    self.watch,
                    f"a whole number from {self._lowest_watch(production)} to {MAX_WATCH_MINUTES}: the alarms need up "
                    f"to {shortest} min to fire after the last shift{why}, and the hook must report within Lambda's "
                    "15-minute limit",
                )
            )
        found += _shift_problems("deploymentConfig", self.shift, detection, production)
        release = shift_minutes(self.deployment_config) + self.watch_minutes + RELEASE_MARGIN_MINUTES
        found += _release_fits(release, "deploymentConfig", _written(self.shift))
        size = pre_traffic_environment_bytes(self.smoke_events, self.smoke_endpoints, self.check_timeout_seconds)
        judge_size = lambda_judge_environment_bytes(self.smoke_events)
        if size > LAMBDA_ENVIRONMENT_BYTES:
            key = "smokeEndpoints" if self.smoke_endpoint_checks else "smokeEvents"
            found.append((key, f"{size} bytes with the events", _environment_rule("pre-traffic hook's")))
        elif judge_size > LAMBDA_ENVIRONMENT_BYTES:
            found.append(("smokeEvents", f"{judge_size} bytes", _environment_rule("canary judge's")))
        _problems(found)
        return self

    def _lowest_watch(self, production: bool) -> int:
        low = minimum_watch_minutes(self.alarms.evaluation)
        return max(low, rules.PROD_MIN_ROLLBACK_WINDOW_MINUTES) if production else low

    @property
    def name(self) -> str:
        return self._name

    @property
    def config_path(self) -> str:
        return f"functions.{self.name}"

    @property
    def evaluation(self) -> AlarmEvaluation:
        return self.alarms.evaluation

    @property
    def error_rate_percent(self) -> float:
        return self.alarms.error_rate_percent

    @property
    def minimum_invocations(self) -> int:
        return self.alarms.minimum_invocations

    @property
    def deployment_config(self) -> DeploymentConfigChoice:
        return self.shift.shift if isinstance(self.shift, CustomShift) else self.shift

    @property
    def smoke_events(self) -> tuple[dict, ...]:
        return _dumped(self.smoke_event_checks)

    @property
    def smoke_endpoints(self) -> tuple[dict, ...]:
        return _dumped(self.smoke_endpoint_checks)

    @property
    def watch_minutes(self) -> int:
        # Production's floor is where it is by default, so a stack moved to prod keeps its watch.
        return self.watch if self.watch is not None else max(10, self._lowest_watch(False))


# --- the stacks


class Settings(_Section):
    """A service stack (staging, prod): its network and deployment log, shared, and its services and
    functions by name."""

    environment: Annotated[
        Literal[ENVIRONMENTS],
        Field(description=f"one of {', '.join(ENVIRONMENTS)}, {PIPELINE}; a stack named prod is prod"),
    ]
    network_settings: NetworkSettings = Field(default_factory=NetworkSettings, alias="network")
    service_entries: Annotated[
        dict[ServiceName, ServiceSettings],
        Field(alias="services", min_length=1, description="at least one ECS service: {<name>: {image, tag, ...}}"),
    ]
    function_entries: Annotated[
        dict[FunctionName, FunctionSettings],
        Field(alias="functions", description="Lambda canaries: {<name>: {codePath, ...}}"),
    ] = {}
    pipeline_service_name: (
        Annotated[
            str,
            Field(description="the service the pipeline smoke-tests; required with several"),
        ]
        | None
    ) = Field(None, alias="pipelineService")
    # The library reads it (rollback_guard/components/naming.py); declared here so the stack files
    # may set it. This project's stacks set "": their names predate the project prefix.
    name_prefix: (
        _text(PREFIX_PATTERN, "the prefix of the names given to AWS resources: letters, digits, dashes and underscores")
        | None
    ) = None

    @model_validator(mode="after")
    def _names(self, info: ValidationInfo) -> Settings:
        for name, entry in [*self.service_entries.items(), *self.function_entries.items()]:
            entry._name = name
        found = []
        for name in sorted(set(self.service_entries) & set(self.function_entries)):
            found.append(("functions", name, "a name no service has: releases are recorded under it"))
        found += _name_problems(self, (info.context or {}).get("stack", ""))
        alarms = sum(entry.alarms.rollback_alarm_count for entry in (*self.services, *self.functions))
        if alarms > DESCRIBE_ALARMS_NAMES:
            found.append(
                (
                    "services",
                    f"{len(self.service_entries)} services and {len(self.function_entries)} functions",
                    f"at most {DESCRIBE_ALARMS_NAMES} rollback alarms in a stack ({alarms} here): the pipeline's "
                    f"health check reads them in one DescribeAlarms call, which takes {DESCRIBE_ALARMS_NAMES} names",
                )
            )
        names = ", ".join(self.service_entries)
        chosen = self.pipeline_service_name
        if chosen is None and len(self.service_entries) > 1:
            found.append(
                (
                    "pipelineService",
                    None,
                    f"required with several services: the one the pipeline smoke-tests, one of {names}",
                )
            )
        elif chosen is not None and chosen not in self.service_entries:
            found.append(("pipelineService", chosen, f"one of this stack's services ({names})"))
        _problems(found)
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "prod"

    def undetected(self) -> list[str]:
        """A line per release path that the detection model (rollback_guard/detection.py) says lets more than
        MISS_LIMIT of bad releases through at the traffic its stack declares: prod refuses it,
        staging is warned."""
        from rollback_guard.detection import MISS_LIMIT, assess_settings  # numpy, and a model that reads these settings

        lines = []
        for entry in (*self.services, *self.functions):
            problem = assess_settings(entry).problem()
            if problem:
                lines.append(
                    _line(
                        [*entry.config_path.split("."), "expectedRequestsPerSecond"],
                        _as_written_number(entry.expected_requests_per_second),
                        f"{problem}; a release path may let at most {MISS_LIMIT:.0%} through (more traffic, "
                        "smoke checks the judge can probe, or a slower shift)",
                    )
                )
        return lines

    @property
    def network_name(self) -> str:
        return self.network_settings.name or f"{self.environment}-net"

    @property
    def network(self) -> NewVpc | ExistingVpc:
        return self.network_settings.vpc

    @property
    def services(self) -> tuple[ServiceSettings, ...]:
        return tuple(self.service_entries.values())

    @property
    def functions(self) -> tuple[FunctionSettings, ...]:
        return tuple(self.function_entries.values())

    @property
    def pipeline_service(self) -> str:
        return self.pipeline_service_name or next(iter(self.service_entries))


def _name_problems(settings: Settings, stack: str) -> list:
    """Names AWS can hold, that do not collide: a name extending another's (web, web-api) would
    give their resources the same names."""
    found = []
    for key, entries in (("services", settings.service_entries), ("functions", settings.function_entries)):
        suffix = f"{LONGEST_FUNCTION_SUFFIX[key]}{stack}"
        # A stack name too long for any name has said so (_stack_name_problems).
        for name in entries if len(suffix) < LAMBDA_NAME_LENGTH else ():
            if len(name) + len(suffix) > LAMBDA_NAME_LENGTH:
                found.append(
                    (
                        key,
                        name,
                        f"a name of at most {LAMBDA_NAME_LENGTH - len(suffix)} characters in stack {stack} (or a "
                        f"shorter stack name): its longest function is named <name>{suffix}, and Lambda names hold "
                        f"{LAMBDA_NAME_LENGTH}",
                    )
                )
    for key, entries in (("services", settings.service_entries), ("functions", settings.function_entries)):
        for name in entries:
            others = [other for other in (*settings.service_entries, *settings.function_entries) if other != name]
            extended = [other for other in others if name.startswith(f"{other}-")]
            if extended:
                found.append(
                    (key, name, f"a name that does not extend {extended[0]}'s: their resources' names collide")
                )
    for name in settings.service_entries:
        if f"{name}-".startswith(RESERVED_NAME_PREFIXES):
            found.append(
                (
                    "services",
                    name,
                    "a name that does not start with internal (load balancers), xn-- or sthree (buckets)",
                )
            )
        deployment = settings.service_entries[name].deployment
        family = f"{prefix_of(PROJECT, settings.name_prefix)}{name}-{stack}"
        for key, revision in (
            ("pinnedRevision", deployment.pinned_revision),
            ("retryRevision", deployment.retry_revision),
        ):
            if revision and not revision.startswith(f"{family}:"):
                found.append(
                    (
                        f"services.{name}.deployment.{key}",
                        revision,
                        f"a revision of this service's own task definition, {family}:<n>",
                    )
                )
    return found


StackName = _text(r"[A-Za-z0-9_.-]+", "a stack name (letters, digits, - _ .)", max_length=100)


class PipelineSection(_Section):
    repository: _text(r"[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}/[A-Za-z0-9_.-]{1,100}", "a GitHub repository as owner/name")
    branch: _declared(PipelineSource, "branch") = "main"
    staging_stack: StackName = "staging"
    production_stack: StackName = "prod"
    notification_emails: Annotated[
        list[
            _text(
                r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+",
                "an e-mail address such as platform-team@example.com",
                max_length=254,
            )
        ],
        Field(description="a list of e-mail addresses, each once"),
    ] = []
    health_check_minutes: _whole(1, 60) = 5
    smoke_endpoint_checks: Annotated[
        list[SmokePath],
        Field(
            alias="smokeEndpoints",
            min_length=1,
            max_length=MAX_SMOKE_ENDPOINTS,
            description=f"1 to {MAX_SMOKE_ENDPOINTS} {{path, expectStatus, timeoutSeconds, expectBody}}",
        ),
    ]
    log_retention_days: _allowed_by(LOG_RETENTION) = 90

    @field_validator("log_retention_days")
    @classmethod
    def _kept(cls, days: int) -> int:
        if days < rules.PROD_MIN_LOG_RETENTION_DAYS:
            raise PydanticCustomError(
                "floor",
                "the pipeline deploys prod: logs kept at least {low} days",
                {"low": rules.PROD_MIN_LOG_RETENTION_DAYS},
            )
        return days

    @model_validator(mode="after")
    def _stages(self, info: ValidationInfo) -> PipelineSection:
        found = []
        if stack_environment(self.production_stack) != "prod":
            found.append(("productionStack", self.production_stack, "the prod stack (prod, production, prod-<name>)"))
        region = (info.context or {}).get("region")
        for key, stack in (("stagingStack", self.staging_stack), ("productionStack", self.production_stack)):
            stack_file = PROJECT_ROOT / f"Pulumi.{stack}.yaml"
            if not stack_file.is_file():
                found.append((key, stack, f"a stack of this project (Pulumi.{stack}.yaml is missing)"))
                continue
            # The deploy roles act in the pipeline's region, and its health check reads alarms there.
            theirs = ((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}).get("aws:region")
            if theirs != region:
                found.append(
                    (
                        key,
                        stack,
                        f"a stack in the pipeline's region ({region}): Pulumi.{stack}.yaml says aws:region {theirs}, "
                        "where the deploy roles may not act and the health check reads no alarms",
                    )
                )
        if self.repository.split("/")[1] in (".", ".."):
            found.append(("repository", self.repository, "a GitHub repository as owner/name"))
        elif self.repository.lower().endswith(".git"):
            found.append(
                (
                    "repository",
                    self.repository,
                    f"owner/name without .git ({self.repository[:-4]}): the source action looks the repository up "
                    "by that name",
                )
            )
        if stack_environment(self.staging_stack) in ("prod", PIPELINE):
            found.append(
                (
                    "stagingStack",
                    self.staging_stack,
                    "a stack that is not prod or the pipeline: it is deployed before the smoke test and the approval",
                )
            )
        emails = self.notification_emails
        repeated = sorted({email for email in emails if emails.count(email) > 1})
        if repeated:
            found.append(("notificationEmails", repeated, "each address once"))
        _problems(found)
        return self

    @property
    def smoke_endpoints(self) -> tuple[dict, ...]:
        return _dumped(self.smoke_endpoint_checks)


class PipelineSettings(_Section):
    """The pipeline stack: it carries commits from GitHub through the service stacks."""

    environment: Annotated[Literal["pipeline"], Field(description="pipeline")]
    pipeline: PipelineSection
    # The library reads it (rollback_guard/components/naming.py); declared here so the stack files
    # may set it. This project's stacks set "": their names predate the project prefix.
    name_prefix: (
        _text(PREFIX_PATTERN, "the prefix of the names given to AWS resources: letters, digits, dashes and underscores")
        | None
    ) = None


def _control_characters(text: str) -> bool:
    return any(ord(character) < 0x20 or ord(character) == 0x7F for character in text)


def stack_environment(stack: str) -> str | None:
    """The environment a stack's name commits it to: prod for prod, production and prod-<name>."""
    # Case-insensitive: a stack named Prod is production too.
    if re.fullmatch(r"(prod|production)([-_.].*)?", stack, re.IGNORECASE):
        return "prod"
    if re.fullmatch(r"staging([-_.].*)?", stack, re.IGNORECASE):
        return "staging"
    return PIPELINE if stack.lower() == PIPELINE else None


# --- reading the stack


# Round 1's single-service keys, and where each moved.
_MOVED_KEYS = {
    "service": "services.<name>",
    "loadBalancer": "services.<name>.loadBalancer",
    "alarms": "services.<name>.alarms",
    "deployment": "services.<name>.deployment",
    "function": "functions.<name> (its errorRatePercent and minimumInvocations under functions.<name>.alarms)",
}


def load_settings(config: pulumi.Config | None = None) -> Settings | PipelineSettings:
    """Read and validate the current stack's configuration: a service stack (staging, prod) or the
    pipeline stack."""
    config = config or pulumi.Config(PROJECT)
    problems: list[str] = []
    document, unreadable = {}, []
    for key in _project_keys():
        # Pulumi passes objects and lists as JSON, and text as it is.
        raw = config.get(key) or ""
        try:
            document[key] = json.loads(raw) if raw.lstrip()[:1] in ("{", "[") else raw
        except (json.JSONDecodeError, RecursionError) as error:
            problems.append(f"{PROJECT}:{key} = {raw[:80]!r}: not valid JSON, or nested too deeply ({error})")
            unreadable.append(key)
    region = pulumi.Config("aws").get("region")
    problems += _region_problems(region)
    stack = pulumi.get_stack()
    environment = document.get("environment")
    expected = stack_environment(stack)
    if expected and environment in (*ENVIRONMENTS, PIPELINE) and environment != expected:
        problems.append(
            f"{PROJECT}:environment = {environment!r}: {expected!r} in stack {stack} (a stack's name sets its "
            "environment, so production's rules cannot be switched off)"
        )
        # Checked as what the stack is, so the rest is judged by the right rules, and said once.
        environment = document["environment"] = expected
    # A stack whose name commits it is judged by that environment's rules even before its
    # environment key is right.
    judged_as = expected or environment
    problems += _stack_name_problems(stack, judged_as, document)
    model = PipelineSettings if judged_as == PIPELINE else Settings
    context = {"production": judged_as == "prod", "region": region, "stack": stack}
    try:
        settings = model.model_validate(document, context=context)
    except ValidationError as error:
        # A key that could not be read has said so; what its absence would add says nothing new.
        lines, repaired = _every_problem(document, model, context, error)
        problems += [
            line
            for line in lines
            if not any(line.startswith((f"{PROJECT}:{key} ", f"{PROJECT}:{key}.")) for key in unreadable)
        ]
        settings = None
        # What AWS says of the rest is said now too, not once the wrong keys are fixed.
        problems += _region_fit(repaired) if isinstance(repaired, Settings) else []
    if isinstance(settings, Settings):
        problems += _region_fit(settings)
        for line in settings.undetected():
            if settings.is_production:
                problems.append(line)
            else:
                pulumi.log.warn(line)
    if problems:
        raise SettingsError(problems)
    return settings


def _stack_name_problems(stack: str, judged_as: str | None, document: dict) -> list[str]:
    """A stack's name ends its functions' names: Lambda's characters, and room within its 64 for a
    name of one character before it."""
    if judged_as == PIPELINE:
        pattern = f"{PIPELINE_LONGEST_FUNCTION}<stack>"
    else:
        kinds = [key for key in LONGEST_FUNCTION_SUFFIX if document.get(key)] or ["services"]
        pattern = "<name>" + max((LONGEST_FUNCTION_SUFFIX[kind] for kind in kinds), key=len) + "<stack>"
    room = LAMBDA_NAME_LENGTH - len(pattern.replace("<stack>", "").replace("<name>", "x"))
    found = []
    if not re.fullmatch(r"[A-Za-z0-9_-]+", stack):
        found.append("letters, digits, - and _ (Lambda's characters)")
    if len(stack) > room:
        found.append(f"at most {room} characters (Lambda names hold {LAMBDA_NAME_LENGTH})")
    if not found:
        return []
    return [f"stack {stack}: a name of {' and '.join(found)}: its functions are named {pattern}"]


def _every_problem(
    document: dict, model: type[BaseModel], context: dict, error: ValidationError
) -> tuple[list[str], BaseModel | None]:
    """Every problem at once: a check across keys runs only once the keys it reads are valid, so the
    document is judged again without the keys found wrong (defaults, or a stand-in for a required
    key, take their place), until nothing new is found. A problem that follows from a key taken away
    is not said (_follows_from). Returns the lines, and the settings as repaired when they hold."""
    lines, removed = explain(error, model), []
    document = copy.deepcopy(document)
    for _ in range(_REJUDGED):
        wrong = sorted(set(_wrong_keys(error)) - set(removed), reverse=True)  # list items from the last
        if not wrong:
            break
        for path in wrong:
            _remove(document, path)
        removed += wrong
        try:
            return lines, model.model_validate(document, context=context)
        except ValidationError as again:
            error = again
            lines += [line for line in explain(again, model) if line not in lines and not _follows_from(line, removed)]
    return lines, None


# How many times a document is judged again without its wrong keys: each round can uncover checks of
# a section above the last (a service's, then the stack's).
_REJUDGED = 4
# Values that stand in for a required key taken away, so the checks that read the others still run.
_STAND_INS = {"image": "stand-in", "tag": "stand-in", "expectedRequestsPerSecond": 1}


def _wrong_keys(error: ValidationError) -> list[tuple]:
    """The keys a validation found wrong, as paths: those of single keys, and those a check across
    keys names."""
    found = []
    for problem in error.errors():
        loc = tuple(part for part in problem["loc"] if not (isinstance(part, str) and part.startswith("~")))
        if problem["type"] == "rules":
            found += [(*loc, *key.split(".")) for key, _, _ in problem["ctx"]["problems"]]
        elif loc and loc[-1] == "[key]":
            found.append(loc[:-1])  # an entry whose name is wrong: the whole entry
        else:
            # Up to a list's item: the item goes, its siblings stay.
            index = next((i for i, part in enumerate(loc) if isinstance(part, int)), len(loc) - 1)
            found.append(loc[: index + 1])
    return [path for path in found if path]


def _remove(document: Any, path: tuple) -> None:
    *parents, key = path
    for parent in parents:
        document = document[parent] if isinstance(document, (dict, list)) and _has(document, parent) else None
    if isinstance(document, list) and isinstance(key, int) and key < len(document):
        document.pop(key)
    elif isinstance(document, dict) and key in document:
        if key in _STAND_INS:
            document[key] = _STAND_INS[key]
        else:
            document.pop(key)


def _has(container: dict | list, part: Any) -> bool:
    return part in container if isinstance(container, dict) else isinstance(part, int) and part < len(container)


def _follows_from(line: str, removed: list[tuple]) -> bool:
    """A line about a key taken away, a map that lost an entry, or a sibling whose rule reads it."""
    key, _, allowed = line.removeprefix(f"{PROJECT}:").partition(" = ")
    for path in removed:
        dotted = _line(list(path), None, "").removeprefix(f"{PROJECT}:").partition(" = ")[0]
        if key == dotted or key.startswith((f"{dotted}.", f"{dotted}[")) or dotted.startswith((f"{key}.", f"{key}[")):
            return True
        # A rule of a key near it that reads the key, or its section ("the alarms need ..."), by name.
        names = [(path[:i], path[i]) for i in (len(path) - 1, len(path) - 2) if i >= 0 and isinstance(path[i], str)]
        for scope, name in names:
            inside = ".".join(map(str, scope))
            if (not inside or key.startswith(f"{inside}.")) and re.search(rf"\b{re.escape(name)}\b", allowed):
                return True
    return False


def _project_keys() -> list[str]:
    """The stack's keys in this project's namespace, whatever they are (so a typo is seen)."""
    every = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    return sorted(key.split(":", 1)[1] for key in every if key.startswith(f"{PROJECT}:"))


@functools.cache
def _endpoints():
    """botocore's bundled endpoint data (offline), read once."""
    import boto3

    return boto3.session.Session()


@functools.cache
def aws_regions() -> tuple[str, ...]:
    """Every region botocore knows in every partition."""
    session = _endpoints()
    return tuple(
        sorted(
            {
                region
                for partition in session.get_available_partitions()
                for region in session.get_available_regions("ecs", partition_name=partition)
            }
        )
    )


def _partition(region: str) -> str:
    return _endpoints().get_partition_for_region(region)


def _region_problems(region: str | None) -> list[str]:
    if region in aws_regions() and _partition(region) == "aws":
        return []
    if region in aws_regions():
        return [
            f"aws:region = {region!r}: a region of AWS's commercial partition (aws), such as us-east-1: this "
            f"program's policies name arn:aws: resources and AWS's managed policies, which {_partition(region)} "
            "refuses"
        ]
    near = difflib.get_close_matches(str(region), aws_regions(), n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return [f"aws:region = {region!r}: an AWS region where ECS and Lambda run, such as us-east-1{hint}"]


def _region_fit(settings: Settings) -> list[str]:
    """What only AWS can say about the stack file: the zones its region has available."""
    network = settings.network
    if not isinstance(network, NewVpc):
        return []
    problem = zone_count_problem(network.availability_zones, zones_in_region())
    return [_line(["network", "availabilityZones"], network.availability_zones, problem)] if problem else []


# --- errors as a person reads them


def explain(error: ValidationError, model: type[BaseModel]) -> list[str]:
    """One line per problem: `rollback-guard:<key> = <value>: <what is allowed>`."""
    schema = _schema_of(model)
    lines = []
    problems = error.errors(include_url=False)
    # An entry whose name is refused is not judged further: its name is the problem to fix first.
    refused = [tuple(problem["loc"][:-1]) for problem in problems if problem["loc"][-1:] == ("[key]",)]
    for problem in problems:
        if any(problem["loc"][: len(entry)] == entry and problem["loc"][-1:] != ("[key]",) for entry in refused):
            continue
        loc = list(problem["loc"])
        if problem["type"] == "rules":
            for key, value, allowed in problem["ctx"]["problems"]:
                lines.append(_line([*loc, *key.split(".")], _as_written_number(value), allowed))
            continue
        loc = [part for part in loc if not (isinstance(part, str) and part.startswith("~"))]
        if loc and loc[-1] == "[key]":  # a map key (a service's or function's name) that is not allowed
            names = _resolved(schema, _node(schema, loc[:-2])) or {}
            lines.append(_line(loc[:-2], loc[-2], _described(names.get("propertyNames")) or problem["msg"]))
            continue
        lines.append(_line(loc, _value(problem), _allowed(problem, loc, schema)))
    return lines


def _as_written_number(value: Any) -> Any:
    """A value read back from a model: validation made written whole numbers floats."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _as_written_number(item) for key, item in value.items()}
    return value


def _line(loc: list, value: Any, allowed: str) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    shown = repr(value)
    if len(shown) > 200:
        shown = f"{shown[:200]}… ({len(shown)} characters)"
    return f"{PROJECT}:{key} = {shown}: {allowed}"


def _value(problem: dict) -> Any:
    if problem["type"] == "missing":
        return None
    if problem["type"] == "too_long" and isinstance(problem["input"], (list, dict)):
        return f"{len(problem['input'])} entries"
    value = _written(problem["input"])
    # A smoke URL's password is never repeated back, whole check or URL alone.
    return redacted({"url": value})["url"] if isinstance(value, str) else redacted(value)


def _allowed(problem: dict, loc: list, schema: dict) -> str:
    kind, node = problem["type"], _node(schema, loc)
    if kind == "extra_forbidden":
        return _unknown_key(loc, schema)
    if kind in ("model_type", "model_attributes_type", "dict_type") and node and _properties(schema, node):
        return f"an object with keys {', '.join(_properties(schema, node))}"
    described = _described(node)
    if kind in ("floor", "region", "latest", "smoke_check", "folder", "shift"):
        return problem["msg"]
    if kind == "missing":
        return f"required: {described}" if described else "required"
    if kind == "string_type" and isinstance(problem["input"], (int, float)) and not isinstance(problem["input"], bool):
        return f"{described or 'text'}; quoted, as YAML reads {problem['input']!r} as a number"
    return described or problem["msg"][0].lower() + problem["msg"][1:]


def _unknown_key(loc: list, schema: dict) -> str:
    key = str(loc[-1])
    if len(loc) == 1 and key in _MOVED_KEYS:
        return f"moved to {PROJECT}:{_MOVED_KEYS[key]}; this stack file has the old layout"
    known = list(_properties(schema, _node(schema, loc[:-1])) or {})
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"unknown key{hint}; known keys: {', '.join(known)}"


def _resolved(schema: dict, node: dict | None) -> dict | None:
    while node and "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _properties(schema: dict, node: dict | None) -> dict:
    node = _resolved(schema, node)
    if not node:
        return {}
    if "properties" in node:
        return node["properties"]
    for member in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
        found = _properties(schema, member)
        if found:
            return found
    return {}


def _child(schema: dict, node: dict | None, part: Any) -> dict | None:
    node = _resolved(schema, node)
    if not node:
        return None
    if isinstance(part, int) and "items" in node:
        return node["items"]
    if isinstance(part, str) and part in node.get("properties", {}):
        return node["properties"][part]
    if isinstance(part, str):
        for pattern, child in node.get("patternProperties", {}).items():
            if re.search(pattern, part):
                return child
        if isinstance(node.get("additionalProperties"), dict):
            return node["additionalProperties"]
    for member in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
        found = _child(schema, member, part)
        if found is not None:
            return found
    return None


def _node(schema: dict, loc: list) -> dict | None:
    node: dict | None = schema
    for part in loc:
        node = _child(schema, node, part)
    return node


def _described(node: dict | None) -> str | None:
    if not node:
        return None
    if "description" in node:
        return node["description"]
    for member in node.get("anyOf", []):
        if member.get("description"):
            return member["description"]
    return None


@functools.cache
def _schema_of(model: type[BaseModel]) -> dict:
    return model.model_json_schema(by_alias=True)


# --- the published schema of the stack files


def stack_file_schema() -> dict:
    """JSON Schema of `Pulumi.<stack>.yaml`: a service stack's config or the pipeline stack's."""

    def stack_config(model: type[BaseModel]) -> dict:
        schema = TypeAdapter(model).json_schema(by_alias=True)
        required = [f"{PROJECT}:{key}" for key in schema.get("required", [])]
        return {
            "type": "object",
            "properties": {
                **{f"{PROJECT}:{key}": value for key, value in schema["properties"].items()},
                "aws:region": {"enum": list(aws_regions()), "description": "the stack's AWS region"},
            },
            # Other namespaces (providers' settings, other projects') are theirs to check.
            "patternProperties": {f"^(?!{re.escape(PROJECT)}:)[^:]+:": {}},
            "additionalProperties": False,
            "required": [*required, "aws:region"],
            "$defs": schema.get("$defs", {}),
        }

    service, pipeline = stack_config(Settings), stack_config(PipelineSettings)
    definitions = {**service.pop("$defs"), **pipeline.pop("$defs")}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/example-org/rollback-guard/stack.schema.json",
        "title": "rollback-guard stack file (Pulumi.<stack>.yaml)",
        "type": "object",
        "properties": {"config": {"oneOf": [service, pipeline]}},
        "required": ["config"],
        "$defs": definitions,
    }


if __name__ == "__main__":
    print(json.dumps(stack_file_schema(), indent=2, sort_keys=True))
