"""The release resource: `pulumi up` is the release command.

When the wanted revision (a Lambda version, an ECS task definition) is not the live one, the
resource creates a CodeDeploy deployment and follows it to its end, blue's termination wait
included; a failed, stopped or rolled-back deployment fails `pulumi up` with what happened and what
to do, while traffic stays on the previous version. The engine behind it is release/engine.py.

Pickling: Pulumi stores a Python dynamic provider in the state with dill. `ReleaseProvider` holds
no attributes (no clients, no credentials: each call builds its clients from the inputs and the
default credential chain), and dill stores a class from an importable module by reference, so every
operation, delete included, runs this file's current code.

Delete: removing a release forgets it and changes nothing in AWS. Traffic stays on whatever is
live and the deployments stay in CodeDeploy's history; removing a service is what removes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import pulumi
import pulumi.dynamic as dynamic
import pulumi_aws as aws
from pulumi.runtime.rpc import UNKNOWN

from rollback_guard.components.arguments import PORT, Text, Whole, allow, problems
from rollback_guard.components.codedeploy import MAX_WAIT_MINUTES, DeploymentGroupBase
from rollback_guard.policy import rules
from rollback_guard.release.engine import Releaser, ReleaseRequest, parse_target
from rollback_guard.release.history import LogRef

# The inputs that say what to release; a change to any of them is a diff.
INPUT_KEYS = (
    "kind",
    "region",
    "application",
    "deployment_group",
    "target",
    "alarm_names",
    "retry_revision",
    "retry_setting",
    "timeout_minutes",
    "log",
    "judge_alarm",
)


# The lifecycle hooks an AppSpec may name, per platform (CodeDeploy's AppSpec "hooks" section).
LAMBDA_HOOKS = ("BeforeAllowTraffic", "AfterAllowTraffic")
ECS_HOOKS = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")
# The longest a CodeDeploy release can take: the shift, the approval wait and blue's termination
# wait, each at most two days, and an hour for tasks and hooks.
LONGEST_RELEASE_MINUTES = 3 * MAX_WAIT_MINUTES + 60
RETRY_SETTING = Text(r"\S+", "the name of a setting (no spaces), as a person would change it")


@dataclass
class LambdaReleaseTarget:
    """What a Lambda release shifts.

    Attributes:
        function_name: Required. The function released.
        alias: Required. The alias CodeDeploy shifts from the live version to `version`.
        version: Required. The version to release, a published number (never $LATEST).
        hooks: Default: none. The functions CodeDeploy runs at BeforeAllowTraffic and AfterAllowTraffic,
            by lifecycle event.
    """

    function_name: pulumi.Input[str]
    alias: pulumi.Input[str]
    version: pulumi.Input[str]
    hooks: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


@dataclass
class EcsReleaseTarget:
    """What an ECS release replaces.

    Attributes:
        cluster: Required. The service's cluster.
        service: Required. The service, under the CODE_DEPLOY deployment controller.
        task_definition_arn: Required. The task definition to release.
        container_name: Required. The container the load balancer sends traffic to.
        container_port: Required. Its port, 1 to 65535.
        hooks: Default: none. The functions CodeDeploy runs at ECS's lifecycle events (BeforeInstall,
            AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic), by event.
    """

    cluster: pulumi.Input[str]
    service: pulumi.Input[str]
    task_definition_arn: pulumi.Input[str]
    container_name: str
    container_port: int = field(metadata=allow(PORT))
    hooks: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


@dataclass
class DeploymentLogRef:
    """Where releases are recorded.

    Attributes:
        table_name: Required. The deployment log's table.
        service: Required. The name releases are recorded under.
        environment: Required. The environment they are recorded under.
    """

    table_name: pulumi.Input[str]
    service: str
    environment: str


@dataclass
class ReleaseArgs:
    """One release path's release, which `pulumi up` runs.

    Attributes:
        deployment_group: Required. The deployment group that releases.
        target: Required. What it releases: LambdaReleaseTarget or EcsReleaseTarget.
        alarm_names: Default: none. The rollback alarms, by name: a release does not start while one
            is in ALARM.
        retry_revision: Default: None. A revision CodeDeploy rolled back is released again only if
            named here (on purpose, by a person).
        retry_setting: Default: "retryRevision". The setting a person changes to name it, said in the
            refusal of a rolled-back revision.
        timeout_minutes: Default: 120. The longest the release may take (shift, waits and a margin)
            before `pulumi up` stops following it; 1 to 8700 (three waits of CodeDeploy's two days
            and an hour).
        deployment_log: Default: None. Where `ops rollback` records the revisions it rolled back,
            which are then refused like those CodeDeploy rolled back.
        judge_alarm: Default: None. The canary judge's heartbeat alarm: a deployment waits for the
            judge to report first.
    """

    deployment_group: DeploymentGroupBase
    target: LambdaReleaseTarget | EcsReleaseTarget
    alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    retry_revision: str | None = None
    retry_setting: str = field(default="retryRevision", metadata=allow(RETRY_SETTING))
    timeout_minutes: int = field(
        default=120, metadata=allow(Whole(1, LONGEST_RELEASE_MINUTES, "minutes", why="three waits of two days"))
    )
    deployment_log: DeploymentLogRef | None = None
    judge_alarm: pulumi.Input[str] | None = None

    @property
    def kind(self) -> Literal["lambda", "ecs"]:
        return "lambda" if isinstance(self.target, LambdaReleaseTarget) else "ecs"


class ReleaseProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=_release_id(props), outs=_release(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=_release(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        """A change of inputs, a deployment still in flight (an interrupted `up` left it: the
        update follows it, blue's termination wait included), or a live revision that is not the
        wanted one (read from AWS)."""
        changed = [key for key in INPUT_KEYS if olds.get(key) != news.get(key)]
        if changed or _has_unknown(news):
            return dynamic.DiffResult(changes=True, replaces=[], delete_before_replace=False)
        releaser = Releaser(news["region"], on_progress=pulumi.log.info)
        if releaser.history(news["application"], news["deployment_group"]).in_flight():
            return dynamic.DiffResult(changes=True, replaces=[], delete_before_replace=False)
        target = parse_target(news["kind"], news["target"])
        live = releaser.live_revision(target)
        return dynamic.DiffResult(changes=live != target.revision, replaces=[], delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        target = parse_target(props["kind"], props["target"])
        live = Releaser(props["region"], on_progress=pulumi.log.info).live_revision(target)
        return dynamic.ReadResult(id_=id_, outs={**props, "live_revision": live})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Forgets the release; see the module docstring."""


class Release(dynamic.Resource, module="release", name="Release"):
    """One service's or function's release through CodeDeploy. Outputs: `live_revision` and the
    `deployment_id` of the last deployment it created (None when nothing needed releasing)."""

    live_revision: pulumi.Output[str]
    deployment_id: pulumi.Output[str | None]

    def __init__(self, name: str, args: ReleaseArgs, opts: pulumi.ResourceOptions | None = None):
        rules.refuse(f"release {name}", release_problems(args))
        group = args.deployment_group
        props = {
            "kind": args.kind,
            "region": aws.get_region_output().region,
            "application": group.application.name,
            "deployment_group": group.deployment_group.deployment_group_name,
            # Shallow on purpose: asdict would deep-copy the Outputs inside.
            "target": {f.name: getattr(args.target, f.name) for f in fields(args.target)},
            "alarm_names": args.alarm_names,
            "retry_revision": args.retry_revision,
            "retry_setting": args.retry_setting,
            "timeout_minutes": args.timeout_minutes,
            "judge_alarm": args.judge_alarm,
            "log": {
                "table": args.deployment_log.table_name,
                "service": args.deployment_log.service,
                "environment": args.deployment_log.environment,
            }
            if args.deployment_log
            else None,
            "live_revision": None,
            "deployment_id": None,
        }
        # CodeDeploy must have its group (and the hooks their invoke grants) before a release.
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[group]))
        super().__init__(ReleaseProvider(), name, props, opts)


def release_problems(args: ReleaseArgs, where: str = "ReleaseArgs") -> list[str]:
    """What a release refuses in `args`, each naming its argument: the declarations, and hooks at
    lifecycle events its platform does not have."""
    found = problems(args, where)
    target = args.target
    events = LAMBDA_HOOKS if isinstance(target, LambdaReleaseTarget) else ECS_HOOKS
    unknown = [event for event in getattr(target, "hooks", {}) if event not in events]
    if unknown:
        found.append(f"{where}.target.hooks = {sorted(unknown)!r}: lifecycle events among {', '.join(events)}")
    if not isinstance(target, (LambdaReleaseTarget, EcsReleaseTarget)):
        found.append(f"{where}.target = {target!r}: a LambdaReleaseTarget or an EcsReleaseTarget")
    return found


def _release(props: dict[str, Any]) -> dict[str, Any]:
    request = ReleaseRequest(
        application=props["application"],
        deployment_group=props["deployment_group"],
        target=parse_target(props["kind"], props["target"]),
        retry_revision=props.get("retry_revision"),
        retry_setting=props.get("retry_setting") or "retryRevision",
        timeout_minutes=int(props["timeout_minutes"]),
        alarm_names=tuple(props.get("alarm_names") or ()),
        log=LogRef(**props["log"]) if props.get("log") else None,
        judge_alarm=props.get("judge_alarm"),
    )
    outcome = Releaser(props["region"], on_progress=pulumi.log.info).release(request)
    return {**props, "live_revision": outcome.live_revision, "deployment_id": outcome.deployment_id}


def _release_id(props: dict[str, Any]) -> str:
    return f"{props['application']}/{props['deployment_group']}"


def _has_unknown(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_unknown(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_unknown(item) for item in value)
    return value == UNKNOWN
