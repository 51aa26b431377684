"""This project's stacks, built from the library's high-level components: the whole program as a
function of its settings, so tests can build any stack under mocks."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from rollback_guard.components.boundaries import WORKLOAD_BOUNDARY
from rollback_guard.components.delivery import DeliveryPipeline, DeliveryPipelineArgs, PipelineSource
from rollback_guard.components.deployment_log import DeploymentLog, DeploymentLogArgs
from rollback_guard.components.encryption import LogsKey, encrypted_log_groups
from rollback_guard.components.iam import ROLE_PATH, bounded_roles, customer_policy_arn
from rollback_guard.components.lambda_canary import LambdaCanary, LambdaCanaryArgs
from rollback_guard.components.naming import physical_name
from rollback_guard.components.network import Network, NetworkArgs
from rollback_guard.components.service import (
    EcsRelease,
    EcsServiceWithRollback,
    EcsServiceWithRollbackArgs,
    LoadBalancerOptions,
    ServiceAlarms,
)
from settings import PROJECT, FunctionSettings, PipelineSettings, ServiceSettings, Settings

# The outputs the pipeline's deploy stages read from a service stack (DeliveryPipelineArgs).
URL_OUTPUT = "serviceUrl"
ALARM_NAMES_OUTPUT = "rollbackAlarmNames"


@dataclass
class Program:
    settings: Settings
    deployment_log: DeploymentLog
    services: dict[str, EcsServiceWithRollback]
    functions: dict[str, LambdaCanary]

    @property
    def exports(self) -> dict[str, pulumi.Input]:
        settings = self.settings
        alarm_lists = [s.alarm_names for s in self.services.values()]
        alarm_lists += [f.alarms.alarm_names for f in self.functions.values()]
        return {
            "environment": settings.environment,
            "deploymentLogTableName": self.deployment_log.table.name,
            # What the pipeline smoke-tests after a deploy, and the alarms its health check watches.
            URL_OUTPUT: self.services[settings.pipeline_service].service_url,
            ALARM_NAMES_OUTPUT: pulumi.Output.all(*alarm_lists).apply(
                lambda lists: [alarm for names in lists for alarm in names]
            ),
            "services": {s.name: _service_exports(self.services[s.name], s) for s in settings.services},
            "functions": {name: _function_exports(canary) for name, canary in self.functions.items()},
            # What `ops` needs to inspect and roll back each release path, and which settings pin it.
            "releasePaths": [
                *(
                    self.services[s.name].release_path(s.name, s.deployment.strategy_name)
                    | _pin_settings(f"{s.config_path}.deployment", "pinnedRevision")
                    for s in settings.services
                ),
                *(
                    self.functions[f.name].release_path(f.name) | _pin_settings(f.config_path, "pinnedVersion")
                    for f in settings.functions
                ),
            ],
        }


def _service_exports(ecs: EcsServiceWithRollback, settings: ServiceSettings) -> dict[str, pulumi.Input]:
    exports = {
        "url": ecs.service_url,
        "testUrl": ecs.test_url,
        "clusterName": ecs.service.cluster.name,
        "serviceName": ecs.service.service.name,
        "strategy": settings.deployment.strategy_name,
        # What `ops preflight` checks is issued in the stack's region.
        "certificateArn": settings.load_balancer.certificate_arn,
    }
    if ecs.deployment_group:
        group = ecs.deployment_group
        exports |= {
            "codedeployApplicationName": group.application.name,
            "codedeployApplicationArn": group.application.arn,
            "deploymentGroupName": group.deployment_group.deployment_group_name,
            "deploymentGroupArn": group.deployment_group.arn,
            "liveRevision": ecs.release.live_revision,
            "judgeFunctionName": ecs.judge.function.name,
        }
    if ecs.dashboard_url is not None:
        # What whoever is on call opens during a release: blue and green, the alarms, the judge.
        exports["dashboardUrl"] = ecs.dashboard_url
    return exports


def _function_exports(canary: LambdaCanary) -> dict[str, pulumi.Input]:
    group = canary.deployment_group
    exports = {
        "functionName": canary.function.function.name,
        "aliasArn": canary.function.alias.arn,
        "codedeployApplicationName": group.application.name,
        "deploymentGroupName": group.deployment_group.deployment_group_name,
        "deploymentGroupArn": group.deployment_group.arn,
        "preTrafficHookName": canary.hooks.pre_traffic.name,
        "postTrafficHookName": canary.hooks.post_traffic.name,
        "liveVersion": canary.release.live_revision,
        "judgeFunctionName": canary.judge.function.name,
    }
    if canary.dashboard_url is not None:
        # What whoever is on call opens during a release: traffic per version, the alarms, the judge.
        exports["dashboardUrl"] = canary.dashboard_url
    return exports


def _pin_settings(section: str, pin: str) -> dict[str, dict[str, str]]:
    """The settings `ops rollback` and `ops redeploy` write for a release path."""
    return {"settings": {"pin": f"{PROJECT}:{section}.{pin}", "retry": f"{PROJECT}:{section}.retryRevision"}}


def build(settings: Settings | PipelineSettings) -> Program | DeliveryPipeline:
    if isinstance(settings, PipelineSettings):
        return _pipeline(settings)
    production = settings.is_production
    # Every role lives under the project's path and within the workload boundary, which the
    # pipeline stack creates: the deploy roles may create no other kind (boundaries.py).
    boundary = customer_policy_arn(WORKLOAD_BOUNDARY)
    pulumi.runtime.register_stack_transformation(bounded_roles(boundary, f"{ROLE_PATH}{pulumi.get_stack()}/"))
    # The services and functions of a stack share its network and its deployment log. Production's
    # log is what a rollback trusts: protected, like every production component.
    stack_wide = pulumi.ResourceOptions(protect=production)
    if production:
        # Production's logs under a key of its own (staging's stay under CloudWatch's).
        logs_key = LogsKey(f"{settings.environment}-logs", opts=stack_wide)
        pulumi.runtime.register_stack_transformation(encrypted_log_groups(logs_key.key.arn))
    deployment_log = DeploymentLog(
        f"{settings.environment}-deployment-log", DeploymentLogArgs(protected=production), opts=stack_wide
    )
    network = Network(settings.network_name, NetworkArgs(vpc=settings.network), opts=stack_wide)
    return Program(
        settings,
        deployment_log,
        {s.name: _ecs_service(settings, s, network, deployment_log) for s in settings.services},
        {f.name: _lambda_canary(settings, f, deployment_log) for f in settings.functions},
    )


def _ecs_service(
    settings: Settings, service: ServiceSettings, network: Network, deployment_log: DeploymentLog
) -> EcsServiceWithRollback:
    deployment, alarms, lb = service.deployment, service.alarms, service.load_balancer
    return EcsServiceWithRollback(
        service.name,
        EcsServiceWithRollbackArgs(
            network=network,
            container=service.container,
            desired_count=service.desired_count,
            log_retention_days=service.log_retention_days,
            release=EcsRelease(
                strategy=deployment.strategy,
                config=deployment.config,
                termination_wait_minutes=deployment.termination_wait_minutes,
                approval_wait_minutes=deployment.approval_wait_minutes,
                smoke_paths=deployment.smoke_paths,
                retry_revision=deployment.retry_revision,
                retry_setting=f"{PROJECT}:{service.config_path}.deployment.retryRevision",
                pinned_revision=deployment.pinned_revision,
            ),
            alarms=ServiceAlarms(
                evaluation=alarms.evaluation,
                error_rate_percent=alarms.error_rate_percent,
                minimum_requests=alarms.minimum_requests,
                latency_anomaly_band=alarms.latency_anomaly_band,
                extra_alarm_names=tuple(alarms.extra_alarm_names),
            ),
            load_balancer=LoadBalancerOptions(
                listener_port=lb.listener_port,
                test_listener_port=lb.test_listener_port,
                certificate_arn=lb.certificate_arn,
                http_redirect_port=lb.http_redirect_port,
                ingress_cidrs=tuple(lb.ingress_cidrs),
                test_ingress_cidrs=None if lb.test_ingress_cidrs is None else tuple(lb.test_ingress_cidrs),
                deletion_protection=lb.deletion_protection,
                health_check=lb.health_check,
            ),
            deployment_log=deployment_log,
            environment=settings.environment,
            judge=service.judge.options,
            production=settings.is_production,
        ),
    )


def _lambda_canary(settings: Settings, function: FunctionSettings, deployment_log: DeploymentLog) -> LambdaCanary:
    return LambdaCanary(
        function.name,
        LambdaCanaryArgs(
            code_path=function.code_path,
            handler=function.handler,
            smoke_events=function.smoke_events,
            runtime=function.runtime,
            memory_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
            tracing=function.tracing,
            reserved_concurrency=function.reserved_concurrency,
            log_retention_days=function.log_retention_days,
            evaluation=function.evaluation,
            error_rate_percent=function.error_rate_percent,
            minimum_invocations=function.minimum_invocations,
            deployment_config=function.deployment_config,
            smoke_endpoints=function.smoke_endpoints,
            check_timeout_seconds=function.check_timeout_seconds,
            release_metrics=function.release_metrics,
            watch_minutes=function.watch_minutes,
            retry_revision=function.retry_revision,
            retry_setting=f"{PROJECT}:{function.config_path}.retryRevision",
            pinned_version=function.pinned_version,
            deployment_log=deployment_log,
            environment=settings.environment,
            judge=function.judge.options,
            production=settings.is_production,
        ),
    )


def _pipeline(settings: PipelineSettings) -> DeliveryPipeline:
    """This project's pipeline: DeliveryPipeline with this repository's build (its tests and the
    migration gate), the outputs its stacks export (Program.exports) and the name it was created with."""
    pipeline = settings.pipeline
    return DeliveryPipeline(
        "release",
        DeliveryPipelineArgs(
            source=PipelineSource(repository=pipeline.repository, branch=pipeline.branch, provider="GitHub"),
            smoke_endpoints=pipeline.smoke_endpoints,
            test_commands=("make test", "make lint-migrations"),
            url_output=URL_OUTPUT,
            alarm_names_output=ALARM_NAMES_OUTPUT,
            staging_stack=pipeline.staging_stack,
            production_stack=pipeline.production_stack,
            project=PROJECT,
            notification_emails=tuple(pipeline.notification_emails),
            health_check_minutes=pipeline.health_check_minutes,
            log_retention_days=pipeline.log_retention_days,
            # <project>-<stack>, as named before names carried the component's.
            pipeline_name=physical_name(PROJECT),
        ),
    )
