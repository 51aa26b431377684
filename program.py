"""The whole program as a function of its settings, so tests can build any stack under mocks."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from rollback_guard.components.alarms import LambdaAlarms, LambdaAlarmsArgs, LoadBalancerAlarms, LoadBalancerAlarmsArgs
from rollback_guard.components.codedeploy import (
    DeploymentGroupBase,
    EcsDeploymentGroup,
    EcsDeploymentGroupArgs,
    LambdaDeploymentGroup,
    LambdaDeploymentGroupArgs,
    RollbackPolicy,
    shift_minutes,
)
from rollback_guard.components.deployment_log import DeploymentLog, DeploymentLogArgs
from rollback_guard.components.ecs_service import (
    CodeDeployBlueGreen,
    FargateService,
    FargateServiceArgs,
    NativeRouting,
    NativeShift,
)
from rollback_guard.components.lambda_function import CanaryFunction, CanaryFunctionArgs
from rollback_guard.components.load_balancer import BlueGreenLoadBalancer, BlueGreenLoadBalancerArgs
from rollback_guard.components.network import Network, NetworkArgs
from rollback_guard.components.notifications import ReleaseNotifications, ReleaseNotificationsArgs
from rollback_guard.components.pipeline import (
    PipelineStorage,
    PipelineStorageArgs,
    ReleasePipeline,
    ReleasePipelineArgs,
)
from rollback_guard.components.pipeline_checks import PipelineChecks, PipelineChecksArgs
from rollback_guard.components.release import (
    DeploymentLogRef,
    EcsReleaseTarget,
    LambdaReleaseTarget,
    Release,
    ReleaseArgs,
)
from rollback_guard.components.traffic_hooks import (
    PostShiftWatch,
    ReleaseContext,
    ReleaseRecorder,
    ReleaseRecorderArgs,
    TestTrafficHook,
    TestTrafficHookArgs,
    TrafficHooks,
    TrafficHooksArgs,
)
from settings import FunctionSettings, PipelineSettings, Settings

# Beyond the traffic shift and the waits, time for CodeDeploy to start tasks and run hooks.
RELEASE_MARGIN_MINUTES = 30


@dataclass
class CodeDeployRelease:
    """What a CodeDeploy-released service adds: the deployment group and the release."""

    deployment_group: EcsDeploymentGroup
    release: Release

    @property
    def exports(self) -> dict[str, pulumi.Input]:
        group = self.deployment_group
        return {
            "codedeployApplicationName": group.application.name,
            "codedeployApplicationArn": group.application.arn,
            "deploymentGroupName": group.deployment_group.deployment_group_name,
            "deploymentGroupArn": group.deployment_group.arn,
            "serviceLiveRevision": self.release.live_revision,
        }


@dataclass
class EcsService:
    name: str
    load_balancer: BlueGreenLoadBalancer
    service: FargateService
    # The rollback alarms: those built here and any configured extra ones.
    alarm_names: pulumi.Output[list[str]]
    strategy: str
    codedeploy: CodeDeployRelease | None

    @property
    def exports(self) -> dict[str, pulumi.Input]:
        return {
            "serviceUrl": self.load_balancer.service_url,
            "testUrl": self.load_balancer.test_url,
            "clusterName": self.service.cluster.name,
            "serviceName": self.service.service.name,
            "serviceStrategy": self.strategy,
            **(self.codedeploy.exports if self.codedeploy else {}),
        }

    @property
    def release_path(self) -> dict[str, pulumi.Input]:
        """What `ops` needs to inspect and roll back this service's releases."""
        path = {
            "service": self.name,
            "kind": "ecs",
            "strategy": self.strategy,
            "cluster": self.service.cluster.name,
            "ecsService": self.service.service.name,
            # What a corrective deployment names in its AppSpec: the container behind the load balancer.
            "container": self.service.container_name,
            "containerPort": self.service.container_port,
            "alarms": self.alarm_names,
        }
        if self.codedeploy:
            group = self.codedeploy.deployment_group
            path |= {
                "application": group.application.name,
                "deploymentGroup": group.deployment_group.deployment_group_name,
            }
        return path


@dataclass
class LambdaCanary:
    name: str
    function: CanaryFunction
    alarms: LambdaAlarms
    deployment_group: LambdaDeploymentGroup
    hooks: TrafficHooks
    release: Release

    @property
    def exports(self) -> dict[str, pulumi.Input]:
        group = self.deployment_group
        return {
            "lambdaFunctionName": self.function.function.name,
            "lambdaAliasArn": self.function.alias.arn,
            "lambdaApplicationName": group.application.name,
            "lambdaDeploymentGroupName": group.deployment_group.deployment_group_name,
            "lambdaDeploymentGroupArn": group.deployment_group.arn,
            "preTrafficHookName": self.hooks.pre_traffic.name,
            "postTrafficHookName": self.hooks.post_traffic.name,
            "lambdaLiveVersion": self.release.live_revision,
        }

    @property
    def release_path(self) -> dict[str, pulumi.Input]:
        """What `ops` needs to inspect, roll back and drill this function's releases."""
        group = self.deployment_group
        return {
            "service": self.name,
            "kind": "lambda",
            "strategy": "lambda-canary",
            "application": group.application.name,
            "deploymentGroup": group.deployment_group.deployment_group_name,
            "function": self.function.function.name,
            "alias": self.function.alias.name,
            "hooks": {
                "BeforeAllowTraffic": self.hooks.pre_traffic.name,
                "AfterAllowTraffic": self.hooks.post_traffic.name,
            },
            "alarms": self.alarms.alarm_names,
        }


@dataclass
class Program:
    environment: str
    ecs: EcsService
    deployment_log: DeploymentLog
    canary: LambdaCanary | None

    @property
    def exports(self) -> dict[str, pulumi.Input]:
        alarm_lists = [self.ecs.alarm_names] + ([self.canary.alarms.alarm_names] if self.canary else [])
        return {
            **self.ecs.exports,
            "deploymentLogTableName": self.deployment_log.table.name,
            # What the pipeline's health check watches after a production deploy.
            "rollbackAlarmNames": pulumi.Output.all(*alarm_lists).apply(
                lambda lists: [name for names in lists for name in names]
            ),
            **(self.canary.exports if self.canary else {}),
            "environment": self.environment,
            "releasePaths": [
                self.ecs.release_path,
                *([self.canary.release_path] if self.canary else []),
            ],
        }


@dataclass
class PipelineProgram:
    storage: PipelineStorage
    checks: PipelineChecks
    notifications: ReleaseNotifications
    pipeline: ReleasePipeline

    @property
    def exports(self) -> dict[str, pulumi.Input]:
        pipeline = self.pipeline
        return {
            "pipelineName": pipeline.pipeline.name,
            "githubConnectionArn": pipeline.connection.arn,
            "stateBackend": pulumi.Output.concat("s3://", self.storage.state_bucket.bucket),
            "secretsProvider": pulumi.Output.concat("awskms://", self.storage.key_alias.name),
            "notificationTopicArn": self.notifications.topic.arn,
            "smokeTestStateMachineArn": self.checks.smoke_test.arn,
            "healthCheckStateMachineArn": self.checks.health_check.arn,
        }


def build(settings: Settings | PipelineSettings) -> Program | PipelineProgram:
    if isinstance(settings, PipelineSettings):
        return _pipeline(settings)
    # Production is protected as a whole: children inherit `protect` from these components, so
    # `pulumi destroy` (or a deleted block of code) cannot take prod down.
    top = pulumi.ResourceOptions(protect=settings.is_production)
    deployment_log = DeploymentLog(
        f"{settings.environment}-deployment-log", DeploymentLogArgs(protected=settings.is_production), opts=top
    )
    ecs = _ecs_service(settings, deployment_log, top)
    canary = _lambda_canary(settings, settings.function, deployment_log, top) if settings.function else None
    return Program(settings.environment, ecs, deployment_log, canary)


def _ecs_service(settings: Settings, deployment_log: DeploymentLog, top: pulumi.ResourceOptions) -> EcsService:
    name = settings.service.name
    deployment = settings.deployment
    strategy = deployment.strategy
    network = Network(f"{name}-net", NetworkArgs(vpc=settings.network), opts=top)

    lb_settings = settings.load_balancer
    load_balancer = BlueGreenLoadBalancer(
        f"{name}-lb",
        BlueGreenLoadBalancerArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.public_subnet_ids,
            target_port=settings.service.container.port,
            target_cidr=network.cidr_block,
            health_check=lb_settings.health_check,
            listener_port=lb_settings.listener_port,
            test_listener_port=lb_settings.test_listener_port,
            certificate_arn=lb_settings.certificate_arn,
            ingress_cidrs=lb_settings.ingress_cidrs,
            test_ingress_cidrs=lb_settings.test_ingress_cidrs or [network.cidr_block],
            deletion_protection=lb_settings.deletion_protection,
            weighted_rules=isinstance(strategy, NativeShift),
        ),
        opts=top,
    )

    alarm_settings = settings.alarms
    alarms = LoadBalancerAlarms(
        f"{name}-rollback",
        LoadBalancerAlarmsArgs(
            load_balancer_arn_suffix=load_balancer.load_balancer.arn_suffix,
            target_group_arn_suffixes=[load_balancer.blue.arn_suffix, load_balancer.green.arn_suffix],
            evaluation=alarm_settings.evaluation,
            error_rate_percent=alarm_settings.error_rate_percent,
            minimum_requests=alarm_settings.minimum_requests,
            latency_anomaly_band=alarm_settings.latency_anomaly_band,
        ),
        opts=top,
    )
    alarm_names = alarms.alarm_names.apply(lambda names: [*names, *alarm_settings.extra_alarm_names])

    def test_traffic_hook(group: EcsDeploymentGroup | None) -> TestTrafficHook:
        return TestTrafficHook(
            f"{name}-test-traffic",
            TestTrafficHookArgs(
                vpc_id=network.vpc_id,
                vpc_cidr=network.cidr_block,
                subnet_ids=network.private_subnet_ids,
                load_balancer_arn_suffix=load_balancer.load_balancer.arn_suffix,
                load_balancer_dns_name=load_balancer.load_balancer.dns_name,
                test_listener_port=lb_settings.test_listener_port,
                smoke_paths=deployment.smoke_paths,
                deployment_group_arn=group.deployment_group.arn if group else None,
                codedeploy_role_name=group.role.name if group else None,
                log_retention_days=settings.service.log_retention_days,
            ),
            opts=top,
        )

    native_hook = test_traffic_hook(None) if isinstance(strategy, NativeShift) else None
    service = FargateService(
        name,
        FargateServiceArgs(
            container=settings.service.container,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            load_balancer_security_group_id=load_balancer.security_group.id,
            target_group_arn=load_balancer.blue.arn,
            desired_count=settings.service.desired_count,
            log_retention_days=settings.service.log_retention_days,
            strategy=strategy,
            rollback_alarm_names=alarm_names,
            native_routing=NativeRouting(
                alternate_target_group_arn=load_balancer.green.arn,
                production_listener_rule_arn=load_balancer.production_rule.arn,
                test_listener_rule_arn=load_balancer.test_rule.arn,
                smoke_test_function_arn=native_hook.function.arn,
            )
            if native_hook
            else None,
        ),
        # The service may only join a target group that a listener already routes to.
        opts=pulumi.ResourceOptions.merge(top, pulumi.ResourceOptions(depends_on=[load_balancer])),
    )
    parts = dict(
        name=name,
        load_balancer=load_balancer,
        service=service,
        alarm_names=alarm_names,
        strategy=deployment.strategy_name,
    )
    if not isinstance(strategy, CodeDeployBlueGreen):
        return EcsService(**parts, codedeploy=None)

    group = EcsDeploymentGroup(
        f"{name}-deploy",
        EcsDeploymentGroupArgs(
            cluster_name=service.cluster.name,
            service_name=service.service.name,
            blue_target_group_name=load_balancer.blue.name,
            green_target_group_name=load_balancer.green.name,
            production_listener_arn=load_balancer.production_listener.arn,
            test_listener_arn=load_balancer.test_listener.arn,
            rollback=RollbackPolicy(alarm_names=alarm_names),
            deployment_config=deployment.config,
            termination_wait_minutes=deployment.termination_wait_minutes,
            approval_wait_minutes=deployment.approval_wait_minutes,
        ),
        opts=top,
    )
    hook = test_traffic_hook(group)
    recorder = ReleaseRecorder(
        f"{name}-recorder",
        ReleaseRecorderArgs(
            release=_release_context(
                name, settings.environment, group, deployment_log, settings.service.log_retention_days
            ),
            codedeploy_role_name=group.role.name,
        ),
        opts=top,
    )
    release = Release(
        f"{name}-release",
        ReleaseArgs(
            deployment_group=group,
            target=EcsReleaseTarget(
                cluster=service.cluster.name,
                service=service.service.name,
                task_definition_arn=_task_definition_arn(deployment.pinned_revision)
                if deployment.pinned_revision
                else service.task_definition.arn,
                container_name=service.container_name,
                container_port=service.container_port,
                hooks={"AfterAllowTestTraffic": hook.function.name, "AfterAllowTraffic": recorder.function.name},
            ),
            alarm_names=alarm_names,
            retry_revision=deployment.retry_revision,
            retry_setting="rollback-guard:deployment.retryRevision",
            deployment_log=DeploymentLogRef(deployment_log.table.name, name, settings.environment),
            timeout_minutes=shift_minutes(deployment.config)
            + deployment.approval_wait_minutes
            + deployment.termination_wait_minutes
            + RELEASE_MARGIN_MINUTES,
        ),
        opts=pulumi.ResourceOptions.merge(top, pulumi.ResourceOptions(depends_on=[hook, recorder, service])),
    )
    return EcsService(**parts, codedeploy=CodeDeployRelease(group, release))


def _lambda_canary(
    settings: Settings, function: FunctionSettings, deployment_log: DeploymentLog, top: pulumi.ResourceOptions
) -> LambdaCanary:
    name = function.name
    canary = CanaryFunction(
        name,
        CanaryFunctionArgs(
            code_path=function.code_path,
            handler=function.handler,
            runtime=function.runtime,
            memory_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
            tracing=function.tracing,
            reserved_concurrency=function.reserved_concurrency,
            log_retention_days=function.log_retention_days,
        ),
        opts=top,
    )
    # The version the release shifts to, which the error-rate alarm must watch.
    target_version = function.pinned_version or canary.function.version
    alarms = LambdaAlarms(
        f"{name}-rollback",
        LambdaAlarmsArgs(
            function_name=canary.function.name,
            alias_name=canary.alias.name,
            version=target_version,
            evaluation=settings.alarms.evaluation,
            error_rate_percent=function.error_rate_percent,
            minimum_invocations=function.minimum_invocations,
        ),
        opts=top,
    )
    group = LambdaDeploymentGroup(
        f"{name}-deploy",
        LambdaDeploymentGroupArgs(
            rollback=RollbackPolicy(alarm_names=alarms.alarm_names), deployment_config=function.deployment_config
        ),
        opts=top,
    )
    hooks = TrafficHooks(
        f"{name}-hooks",
        TrafficHooksArgs(
            release=_release_context(name, settings.environment, group, deployment_log, function.log_retention_days),
            target_function_name=canary.function.name,
            target_function_arn=canary.function.arn,
            codedeploy_role_name=group.role.name,
            watch=PostShiftWatch(alarms.alarm_names, alarms.alarm_arns, function.watch_minutes),
            smoke_events=function.smoke_events,
            smoke_endpoints=function.smoke_endpoints,
            check_timeout_seconds=function.check_timeout_seconds,
        ),
        opts=top,
    )
    release = Release(
        f"{name}-release",
        ReleaseArgs(
            deployment_group=group,
            target=LambdaReleaseTarget(
                function_name=canary.function.name,
                alias=canary.alias.name,
                version=target_version,
                hooks={"BeforeAllowTraffic": hooks.pre_traffic.name, "AfterAllowTraffic": hooks.post_traffic.name},
            ),
            alarm_names=alarms.alarm_names,
            retry_revision=function.retry_revision,
            retry_setting="rollback-guard:function.retryRevision",
            deployment_log=DeploymentLogRef(deployment_log.table.name, name, settings.environment),
            timeout_minutes=shift_minutes(function.deployment_config) + function.watch_minutes + RELEASE_MARGIN_MINUTES,
        ),
        opts=pulumi.ResourceOptions.merge(top, pulumi.ResourceOptions(depends_on=[hooks, canary])),
    )
    return LambdaCanary(name, canary, alarms, group, hooks, release)


def _pipeline(settings: PipelineSettings) -> PipelineProgram:
    checks = PipelineChecks(
        "release-checks",
        PipelineChecksArgs(
            smoke_endpoints=settings.smoke_endpoints,
            health_check_minutes=settings.health_check_minutes,
            log_retention_days=settings.log_retention_days,
        ),
    )
    # The pipeline's name is fixed so the notifications can match its events before it exists.
    pipeline_name = f"rollback-guard-{pulumi.get_stack()}"
    storage = PipelineStorage(
        "release-storage", PipelineStorageArgs(key_alias_name=f"alias/rollback-guard-{pulumi.get_stack()}")
    )
    notifications = ReleaseNotifications(
        "release-notifications",
        ReleaseNotificationsArgs(
            pipeline_name=pipeline_name,
            kms_key_arn=storage.key.arn,
            email_subscribers=settings.notification_emails,
            log_retention_days=settings.log_retention_days,
        ),
    )
    pipeline = ReleasePipeline(
        "release",
        ReleasePipelineArgs(
            pipeline_name=pipeline_name,
            repository=settings.repository,
            branch=settings.branch,
            staging_stack=settings.staging_stack,
            production_stack=settings.production_stack,
            smoke_test_arn=checks.smoke_test.arn,
            health_check_arn=checks.health_check.arn,
            notification_topic_arn=notifications.topic.arn,
            storage=storage,
            log_retention_days=settings.log_retention_days,
        ),
    )
    return PipelineProgram(storage, checks, notifications, pipeline)


def _release_context(
    service: str, environment: str, group: DeploymentGroupBase, deployment_log: DeploymentLog, log_retention_days: int
) -> ReleaseContext:
    """Whose releases a hook serves, and where it records them."""
    return ReleaseContext(
        service=service,
        environment=environment,
        deployment_group_arn=group.deployment_group.arn,
        application_arn=group.application.arn,
        table_name=deployment_log.table.name,
        table_arn=deployment_log.table.arn,
        log_retention_days=log_retention_days,
    )


def _task_definition_arn(revision: str) -> pulumi.Output[str]:
    """The ARN of a pinned task definition revision (family:number) in this stack's account."""
    region = aws.get_region_output().region
    account = aws.get_caller_identity_output().account_id
    return pulumi.Output.format("arn:aws:ecs:{0}:{1}:task-definition/{2}", region, account, revision)
