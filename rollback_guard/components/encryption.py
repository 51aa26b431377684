"""Keys and private buckets: a KMS key that delegates to the account's IAM policies, a bucket that is
private and encrypted, and a customer-managed key for a stack's CloudWatch log groups with the
stack transformation that puts every log group the program creates under it.

CloudWatch Logs encrypts and decrypts with the key itself (the writers, Lambda and ECS, need no KMS
permission); the key policy lets the service use it for this account's log groups in this region
only, and delegates everything else to the account's IAM policies, as AWS KMS's default key policy
does. Deleting the key would make every log it protects unreadable, so it is retained.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from rollback_guard.components.boundaries import KEY_TAG, LOGS_KEY_TAG_VALUE
from rollback_guard.components.parts import Component

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


def account_key(
    name: str,
    description: str,
    opts: pulumi.ResourceOptions,
    statements: list | None = None,
    tags: dict[str, str] | None = None,
) -> aws.kms.Key:
    """A rotated key whose policy delegates to the account's IAM policies, as AWS KMS's default key
    policy does, plus `statements` for the services that use it."""
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=opts.parent)).account_id
    delegation = {
        "Effect": "Allow",
        "Principal": {"AWS": pulumi.Output.format("arn:aws:iam::{0}:root", account)},
        "Action": "kms:*",
        "Resource": "*",
    }
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [delegation, *(statements or [])]}),
        tags=tags,
        opts=opts,
    )


def private_bucket(
    name: str,
    encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs,
    opts: pulumi.ResourceOptions,
) -> aws.s3.Bucket:
    """A bucket no one outside the account can read, with objects encrypted by default and owned
    by the bucket's owner (no ACLs)."""
    bucket = aws.s3.Bucket(name, opts=opts)
    child = pulumi.ResourceOptions(parent=opts.parent)
    aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=encryption,
                bucket_key_enabled=encryption.sse_algorithm == "aws:kms" or None,
            )
        ],
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=child,
    )
    return bucket


def expire_objects(name: str, bucket: aws.s3.Bucket, days: int, opts: pulumi.ResourceOptions) -> None:
    """Objects (and their older versions, and unfinished uploads) deleted after `days`."""
    s3 = aws.s3
    s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=[
            s3.BucketLifecycleConfigurationRuleArgs(
                id=f"expire-after-{days}-days",
                status="Enabled",
                filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=days
                ),
                abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=1
                ),
            )
        ],
        opts=opts,
    )


class LogsKey(Component):
    """A stack's customer-managed key for its CloudWatch log groups (see the module docstring); it
    takes no arguments. `encrypted_log_groups(key.key.arn)` puts every log group under it."""

    key: aws.kms.Key

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:encryption:LogsKey", name, opts)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        logs = {"Service": pulumi.Output.format("logs.{0}.amazonaws.com", region)}
        log_groups = pulumi.Output.format("arn:aws:logs:{0}:{1}:log-group:*", region, account)
        self.key = account_key(
            f"{name}-key",
            "rollback-guard: this stack's CloudWatch log groups",
            pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            [
                {
                    "Effect": "Allow",
                    "Principal": logs,
                    "Action": LOGS_KEY_ACTIONS,
                    "Resource": "*",
                    "Condition": {"StringLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
                },
                # DescribeKey carries no encryption context to condition on.
                {"Effect": "Allow", "Principal": logs, "Action": "kms:DescribeKey", "Resource": "*"},
            ],
            # The deploy roles may manage keys with this tag, and no others.
            tags={KEY_TAG: LOGS_KEY_TAG_VALUE},
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
