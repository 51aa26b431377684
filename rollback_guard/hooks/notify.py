"""Turns pipeline and CodeDeploy events into messages a person reads, and publishes them to SNS.

EventBridge delivers: CodePipeline execution state changes (succeeded, failed, rolled back),
CodeDeploy deployment state changes (succeeded, failed, stopped) and the canary judge's verdicts
(hooks/judge.py). For a failed deployment the message names what CodeDeploy said (the alarm that
fired, the hook that failed) and whether traffic went back; for a verdict, the judge's explanation
and every finding that called for the rollback: metric, new and old values, statistic, threshold
and window.

Environment: TOPIC_ARN.
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError

from rollback_guard.hooks import aws
from rollback_guard.hooks.environment import environment
from rollback_guard.hooks.judge import EVENT_SOURCE as JUDGE_SOURCE
from rollback_guard.hooks.logs import log


def handler(event, context=None) -> dict:
    subject, message = describe(event)
    aws.client("sns").publish(TopicArn=environment("TOPIC_ARN"), Subject=subject[:100], Message=message)
    log(logging.INFO, "notified", subject=subject)
    return {"subject": subject}


def describe(event: dict) -> tuple[str, str]:
    detail = event.get("detail", {})
    if event.get("source") == "aws.codepipeline":
        return _pipeline(detail, event.get("region", ""))
    if event.get("source") == "aws.codedeploy":
        return _deployment(detail)
    if event.get("source") == JUDGE_SOURCE:
        return _verdict(detail)
    return "rollback-guard: unrecognised event", str(event)


def _pipeline(detail: dict, region: str) -> tuple[str, str]:
    pipeline, execution, state = detail.get("pipeline"), detail.get("execution-id"), detail.get("state")
    trigger = (detail.get("execution-trigger") or {}).get("trigger-type")
    link = f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{pipeline}/executions/{execution}"
    if trigger == "AutomatedRollback":
        return (
            f"ROLLBACK: pipeline {pipeline} is rolling back",
            f"A stage of pipeline {pipeline} failed (smoke test or health check) and CodePipeline is redeploying "
            f"the last successful revision (execution {execution}, {state}).\n{link}",
        )
    outcome = {"SUCCEEDED": "released", "FAILED": "FAILED"}.get(state, state)
    return f"{outcome}: pipeline {pipeline}", f"Pipeline {pipeline} execution {execution}: {state}.\n{link}"


def _deployment(detail: dict) -> tuple[str, str]:
    deployment, group, state = detail.get("deploymentId"), detail.get("deploymentGroup"), detail.get("state")
    if state == "SUCCESS":
        return f"released: {group}", f"CodeDeploy deployment {deployment} of {group} succeeded."
    lines = [f"CodeDeploy deployment {deployment} of {group}: {state}."]
    try:
        info = aws.client("codedeploy").get_deployment(deploymentId=deployment)["deploymentInfo"]
    except (ClientError, BotoCoreError) as error:  # the notice still goes out, with less detail
        lines.append(f"(details unavailable: {error})")
        info = {}
    error = info.get("errorInformation") or {}
    if error:
        lines.append(f"Why: {error.get('code')}: {error.get('message', '')}")
    rollback = info.get("rollbackInfo") or {}
    if rollback.get("rollbackDeploymentId"):
        lines.append(
            f"Traffic went back to the previous version (rollback deployment {rollback['rollbackDeploymentId']})."
        )
        return f"ROLLBACK: {group}", "\n".join(lines)
    return f"{state}: {group}", "\n".join(lines)


def _verdict(detail: dict) -> tuple[str, str]:
    group, deployment = detail.get("deploymentGroup"), detail.get("deploymentId")
    where = " ".join(str(part) for part in (detail.get("service"), detail.get("environment")) if part)
    stopped = (
        "CodeDeploy is putting traffic back on the previous version."
        if detail.get("stopped")
        else "The stop did not go through: the post-traffic hook still refuses the release."
    )
    lines = [
        f"The canary judge stopped deployment {deployment} of {group}{f' ({where})' if where else ''} with rollback.",
        stopped,
        f"Why: {detail.get('explanation', 'no explanation given')}",
    ]
    for finding in detail.get("findings") or []:
        if finding.get("bad"):
            # The ceiling tests compare the new version with the path's threshold, not the old one.
            against = "ceiling" if finding.get("check") in ("errors-vs-ceiling", "probes") else "old"
            # verdict.py's statistics: -log10 of the rank test's p-value, else log10 of a likelihood ratio.
            meaning = "-log10 p" if finding.get("check") == "latency" else "log10 likelihood ratio"
            lines.append(
                f"- {finding.get('check')}: {finding.get('metric')}: new {_shown(finding, 'newValue')}, "
                f"{against} {_shown(finding, 'oldValue')}; statistic {finding.get('statistic')} ({meaning}) "
                f"against threshold {finding.get('threshold')}; window {finding.get('window')}"
            )
    return f"ROLLBACK: {group} (canary judge)", "\n".join(lines)


def _shown(finding: dict, key: str) -> str:
    """A finding's value as its explanation shows it: milliseconds for latency, else a rate."""
    value = finding.get(key)
    if value is None:
        return "none"
    return f"{value:.4g} ms" if finding.get("check") == "latency" else f"{value * 100:.3g}%"
