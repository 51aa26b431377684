"""A customer-managed key for a stack's CloudWatch log groups, and the stack transformation that
puts every log group the program creates under it.

CloudWatch Logs encrypts and decrypts with the key itself (the writers, Lambda and ECS, need no KMS
permission); the key policy lets the service use it for this account's log groups in this region
only, and delegates everything else to the account's IAM policies, as AWS KMS's default key policy
does. Deleting the key would make every log it protects unreadable, so it is retained.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

# What CloudWatch Logs does with a log group's key (Encrypt log data with customer managed keys);
# each carries the log group's ARN as encryption context.
LOGS_KEY_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
]


class LogsKey(pulumi.ComponentResource):
    key: aws.kms.Key

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:encryption:LogsKey", name, None, opts)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.key = aws.kms.Key(
            f"{name}-key",
            description="rollback-guard: this stack's CloudWatch log groups",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            # The usual delegation: the account's IAM policies decide who reads the logs.
                            "Effect": "Allow",
                            "Principal": {"AWS": pulumi.Output.format("arn:aws:iam::{0}:root", account)},
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": pulumi.Output.format("logs.{0}.amazonaws.com", region)},
                            "Action": LOGS_KEY_ACTIONS,
                            "Resource": "*",
                            "Condition": {
                                "StringLike": {
                                    "kms:EncryptionContext:aws:logs:arn": pulumi.Output.format(
                                        "arn:aws:logs:{0}:{1}:log-group:*", region, account
                                    )
                                }
                            },
                        },
                        {
                            # DescribeKey carries no encryption context to condition on.
                            "Effect": "Allow",
                            "Principal": {"Service": pulumi.Output.format("logs.{0}.amazonaws.com", region)},
                            "Action": "kms:DescribeKey",
                            "Resource": "*",
                        },
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.register_outputs({"keyArn": self.key.arn})


def encrypted_log_groups(key_arn: pulumi.Input[str]) -> pulumi.ResourceTransformation:
    """A stack transformation: every CloudWatch log group the program creates is encrypted with
    `key_arn` (which it then depends on, so the key exists first)."""

    def transformation(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != "aws:cloudwatch/logGroup:LogGroup":
            return None
        return pulumi.ResourceTransformationResult({**args.props, "kms_key_id": key_arn}, args.opts)

    return transformation
