"""Release notifications: an encrypted SNS topic, and EventBridge rules that send pipeline and
CodeDeploy outcomes, and the canary judges' verdicts, through a formatter (hooks/notify.py) so people
read what happened, not JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# What each rule matches, by name: the outcomes a platform team wants to hear about.
from rollback_guard.components.codedeploy import APPLICATIONS
from rollback_guard.components.lambda_function import hook_handler, hooks_archive, invoked_by_rule, logged_function
from rollback_guard.components.naming import physical_name
from rollback_guard.components.parts import Component

PIPELINE_EVENTS = "CodePipeline Pipeline Execution State Change"
DEPLOYMENT_EVENTS = "CodeDeploy Deployment State-change Notification"
# What the canary judges put on the default bus (components/canary_judge.py): a verdict on a release.
JUDGE_SOURCE = "rollback-guard.judge"
VERDICT_EVENTS = "Canary verdict"


def event_patterns(pipeline_name: str) -> dict[str, dict]:
    return {
        "pipeline-succeeded": {
            "source": ["aws.codepipeline"],
            "detail-type": [PIPELINE_EVENTS],
            "detail": {"pipeline": [pipeline_name], "state": ["SUCCEEDED"]},
        },
        "pipeline-failed": {
            "source": ["aws.codepipeline"],
            "detail-type": [PIPELINE_EVENTS],
            "detail": {"pipeline": [pipeline_name], "state": ["FAILED"]},
        },
        "pipeline-rollback": {
            "source": ["aws.codepipeline"],
            "detail-type": [PIPELINE_EVENTS],
            "detail": {
                "pipeline": [pipeline_name],
                "state": ["STARTED"],
                "execution-trigger": {"trigger-type": ["AutomatedRollback"]},
            },
        },
        # A release's outcome, and the canary judge's verdict on it while it runs.
        "deployments": {
            "$or": [
                {
                    "source": ["aws.codedeploy"],
                    "detail-type": [DEPLOYMENT_EVENTS],
                    # This project's applications only: the deployment groups name theirs <service>-deploy-app-….
                    "detail": {"state": ["SUCCESS", "FAILURE", "STOP"], "application": [{"wildcard": APPLICATIONS}]},
                },
                {"source": [JUDGE_SOURCE], "detail-type": [VERDICT_EVENTS]},
            ]
        },
    }


@dataclass
class ReleaseNotificationsArgs:
    """What ReleaseNotifications builds (DeliveryPipeline checks these arguments before it builds them).

    Attributes:
        pipeline_name: Required. The pipeline whose runs are announced (its name is known before
            the pipeline exists, so the rules match its first run).
        kms_key_arn: Required. Encrypts the topic; the formatter and the pipeline's approval action
            publish through it.
        email_subscribers: Addresses subscribed to the topic. Default: () — none; each address
            confirms its subscription by e-mail.
        log_retention_days: How long the formatter's logs are kept. Default: 90, as the pipeline's.
    """

    pipeline_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    email_subscribers: Sequence[str] = ()
    log_retention_days: int = 90


def formatter_function_name(name: str) -> str:
    """The name of the formatter of ReleaseNotifications `name`, as logged_function names it."""
    return physical_name(f"{name}-formatter")


class ReleaseNotifications(Component):
    topic: aws.sns.Topic
    formatter: aws.lambda_.Function

    def __init__(self, name: str, args: ReleaseNotificationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:notifications:ReleaseNotifications", name, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=args.kms_key_arn, opts=child)
        for i, address in enumerate(args.email_subscribers):
            aws.sns.TopicSubscription(
                f"{name}-email-{i}", topic=self.topic.arn, protocol="email", endpoint=address, opts=child
            )

        invoked = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoked).partition
        region = aws.get_region_output(opts=invoked).region
        account = aws.get_caller_identity_output(opts=invoked).account_id
        self.formatter, _ = logged_function(
            f"{name}-formatter",
            self,
            log_retention_days=args.log_retention_days,
            statements=[
                {"Effect": "Allow", "Action": "sns:Publish", "Resource": self.topic.arn},
                {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": args.kms_key_arn},
                {
                    # Deployments of every group in the account: the services' stacks own them.
                    "Effect": "Allow",
                    "Action": "codedeploy:GetDeployment",
                    "Resource": pulumi.Output.format(
                        "arn:{0}:codedeploy:{1}:{2}:deploymentgroup:*", partition, region, account
                    ),
                },
            ],
            code=hooks_archive(),
            runtime="python3.13",
            handler=hook_handler("notify"),
            timeout=30,
            memory_size=128,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables={"TOPIC_ARN": self.topic.arn}),
        )

        pipeline_name = pulumi.Output.from_input(args.pipeline_name)
        for rule_name in event_patterns(""):
            rule = aws.cloudwatch.EventRule(
                f"{name}-{rule_name}",
                description=f"rollback-guard notification: {rule_name}",
                event_pattern=pipeline_name.apply(
                    lambda pipeline, key=rule_name: json.dumps(event_patterns(pipeline)[key])
                ),
                opts=child,
            )
            invoked_by_rule(f"{name}-{rule_name}", rule, self.formatter, child)
        self.register_outputs({"topicArn": self.topic.arn})
