"""This project's stacks, built from the library's high-level components: the whole program as a
function of its settings, so tests can build any stack under mocks."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from rollback_guard.components.delivery import DeliveryPipeline, DeliveryPipelineArgs
from rollback_guard.components.deployment_log import DeploymentLog, DeploymentLogArgs
from rollback_guard.components.lambda_canary import LambdaCanary, LambdaCanaryArgs
from rollback_guard.components.service import (
    EcsRelease,
    EcsServiceWithRollback,
    EcsServiceWithRollbackArgs,
    LoadBalancerOptions,
    ServiceAlarms,
)
from settings import PROJECT, FunctionSettings, PipelineSettings, Settings


@dataclass
class Program:
    settings: Settings
    deployment_log: DeploymentLog
    ecs: EcsServiceWithRollback
    canary: LambdaCanary | None

    @property
    def exports(self) -> dict[str, pulumi.Input]:
        ecs, canary, settings = self.ecs, self.canary, self.settings
        name = settings.service.name
        alarm_lists = [ecs.alarm_names] + ([canary.alarms.alarm_names] if canary else [])
        exports = {
            "serviceUrl": ecs.service_url,
            "testUrl": ecs.test_url,
            "clusterName": ecs.service.cluster.name,
            "serviceName": ecs.service.service.name,
            "serviceStrategy": settings.deployment.strategy_name,
        }
        if ecs.deployment_group:
            group = ecs.deployment_group
            exports |= {
                "codedeployApplicationName": group.application.name,
                "codedeployApplicationArn": group.application.arn,
                "deploymentGroupName": group.deployment_group.deployment_group_name,
                "deploymentGroupArn": group.deployment_group.arn,
                "serviceLiveRevision": ecs.release.live_revision,
            }
        exports |= {
            "deploymentLogTableName": self.deployment_log.table.name,
            # What the pipeline's health check watches after a production deploy.
            "rollbackAlarmNames": pulumi.Output.all(*alarm_lists).apply(
                lambda lists: [alarm for names in lists for alarm in names]
            ),
        }
        if canary:
            group = canary.deployment_group
            exports |= {
                "lambdaFunctionName": canary.function.function.name,
                "lambdaAliasArn": canary.function.alias.arn,
                "lambdaApplicationName": group.application.name,
                "lambdaDeploymentGroupName": group.deployment_group.deployment_group_name,
                "lambdaDeploymentGroupArn": group.deployment_group.arn,
                "preTrafficHookName": canary.hooks.pre_traffic.name,
                "postTrafficHookName": canary.hooks.post_traffic.name,
                "lambdaLiveVersion": canary.release.live_revision,
            }
        exports |= {
            "environment": settings.environment,
            "releasePaths": [
                ecs.release_path(name, settings.deployment.strategy_name),
                *([canary.release_path(settings.function.name)] if canary else []),
            ],
        }
        return exports


def build(settings: Settings | PipelineSettings) -> Program | DeliveryPipeline:
    if isinstance(settings, PipelineSettings):
        return _pipeline(settings)
    production = settings.is_production
    # Production's log is what a rollback trusts: protected, like every production component.
    deployment_log = DeploymentLog(
        f"{settings.environment}-deployment-log",
        DeploymentLogArgs(protected=production),
        opts=pulumi.ResourceOptions(protect=production),
    )
    ecs = _ecs_service(settings, deployment_log)
    canary = _lambda_canary(settings, settings.function, deployment_log) if settings.function else None
    return Program(settings, deployment_log, ecs, canary)


def _ecs_service(settings: Settings, deployment_log: DeploymentLog) -> EcsServiceWithRollback:
    service, deployment, alarms, lb = settings.service, settings.deployment, settings.alarms, settings.load_balancer
    return EcsServiceWithRollback(
        service.name,
        EcsServiceWithRollbackArgs(
            network=settings.network,
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
                retry_setting=f"{PROJECT}:deployment.retryRevision",
                pinned_revision=deployment.pinned_revision,
            ),
            alarms=ServiceAlarms(
                evaluation=alarms.evaluation,
                error_rate_percent=alarms.error_rate_percent,
                minimum_requests=alarms.minimum_requests,
                latency_anomaly_band=alarms.latency_anomaly_band,
                extra_alarm_names=alarms.extra_alarm_names,
            ),
            load_balancer=LoadBalancerOptions(
                listener_port=lb.listener_port,
                test_listener_port=lb.test_listener_port,
                certificate_arn=lb.certificate_arn,
                ingress_cidrs=lb.ingress_cidrs,
                test_ingress_cidrs=lb.test_ingress_cidrs,
                deletion_protection=lb.deletion_protection,
                health_check=lb.health_check,
            ),
            deployment_log=deployment_log,
            environment=settings.environment,
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
            evaluation=settings.alarms.evaluation,
            error_rate_percent=function.error_rate_percent,
            minimum_invocations=function.minimum_invocations,
            deployment_config=function.deployment_config,
            smoke_endpoints=function.smoke_endpoints,
            check_timeout_seconds=function.check_timeout_seconds,
            watch_minutes=function.watch_minutes,
            retry_revision=function.retry_revision,
            retry_setting=f"{PROJECT}:function.retryRevision",
            pinned_version=function.pinned_version,
            deployment_log=deployment_log,
            environment=settings.environment,
            production=settings.is_production,
        ),
    )


def _pipeline(settings: PipelineSettings) -> DeliveryPipeline:
    return DeliveryPipeline(
        "release",
        DeliveryPipelineArgs(
            repository=settings.repository,
            smoke_endpoints=settings.smoke_endpoints,
            branch=settings.branch,
            staging_stack=settings.staging_stack,
            production_stack=settings.production_stack,
            notification_emails=settings.notification_emails,
            health_check_minutes=settings.health_check_minutes,
            log_retention_days=settings.log_retention_days,
        ),
    )
