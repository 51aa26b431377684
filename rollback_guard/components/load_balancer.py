"""An application load balancer prepared for blue/green releases.

Its shape is the same for every strategy (blue and green target groups, a production and a test
listener), so switching a service between strategies changes routing, not the load balancer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from rollback_guard.components.encryption import expire_objects, private_bucket
from rollback_guard.limits import SECURITY_GROUP_RULES
from rollback_guard.policy import rules

# CodeDeploy rewrites these on every release; re-applying Pulumi's stale copy could point production
# at the target group that has just been emptied.
CODEDEPLOY_OWNED_LISTENER_PROPERTIES = ["defaultActions"]
# ECS-native blue/green, canary and linear shift traffic by rewriting the weights of listener rules.
ECS_OWNED_RULE_PROPERTIES = ["actions"]


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/"
    matcher: str = "200-399"
    interval_seconds: int = 15
    timeout_seconds: int = 5
    healthy_threshold: int = 3
    unhealthy_threshold: int = 3


# Where each region's load balancers deliver access logs from: the regions opened before August 2022
# deliver as a regional Elastic Load Balancing account, the later ones as the log delivery service
# (Elastic Load Balancing user guide, "Enable access logs for your Application Load Balancer").
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580",
    "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584",
    "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993",
    "cn-northwest-1": "037604701340",
}
ACCESS_LOG_DAYS = 90


class AccessLogBucket(pulumi.ComponentResource):
    """A private bucket for a load balancer's access logs: encrypted with S3-managed keys (the only
    kind load balancers can write with), written only by the region's log delivery, kept 90 days.
    Not versioned and not itself access-logged: it holds append-only logs that expire."""

    bucket: aws.s3.Bucket
    # The bucket's name once its policy lets the load balancer write: a load balancer checks that
    # when its access logs are switched on.
    writable_name: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:load_balancer:AccessLogBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = private_bucket(
            name,
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            ),
            child,
        )
        expire_objects(name, self.bucket, ACCESS_LOG_DAYS, child)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(self.bucket.arn, region, account).apply(
                lambda values: json.dumps(_delivery_policy(*values))
            ),
            opts=child,
        )
        self.writable_name = pulumi.Output.all(self.bucket.bucket, policy.id).apply(lambda values: values[0])
        self.register_outputs({"bucket": self.bucket.bucket})


def _delivery_policy(bucket_arn: str, region: str, account: str) -> dict:
    writer = {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    if region in ELB_LOG_ACCOUNTS:
        writer = {"AWS": f"arn:aws:iam::{ELB_LOG_ACCOUNTS[region]}:root"}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": writer,
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/AWSLogs/{account}/*",
            },
            {
                # Logs travel over TLS only.
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


@dataclass
class BlueGreenLoadBalancerArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    target_port: int
    # Where the targets live: the load balancer may only send traffic there.
    target_cidr: pulumi.Input[str]
    health_check: HealthCheck
    # The VPC's own block, always allowed on the test listener: the test-traffic hook and the canary
    # judge call it from inside the VPC.
    vpc_cidr: pulumi.Input[str]
    listener_port: int = 80
    test_listener_port: int = 8080
    # With a certificate the production listener is HTTPS, and this port redirects HTTP to it.
    certificate_arn: str | None = None
    http_redirect_port: int = 80
    ingress_cidrs: Sequence[pulumi.Input[str]] = ("0.0.0.0/0",)
    # Blocks allowed on the test listener besides the VPC's own. It exposes the release candidate
    # before any user sees it: keep it private.
    test_ingress_cidrs: Sequence[pulumi.Input[str]] = ()
    deletion_protection: bool = True
    # Where access logs go (AccessLogBucket.writable_name); None: not kept.
    access_logs_bucket: pulumi.Input[str] | None = None
    deregistration_delay_seconds: int = 30
    # ECS-native blue/green, canary and linear move traffic through weighted listener rules.
    weighted_rules: bool = False


class BlueGreenLoadBalancer(pulumi.ComponentResource):
    """Load balancer, its security group, blue and green target groups (ip targets), a production
    listener forwarding to blue and a test listener forwarding to green. CodeDeploy owns the
    listeners' actions after creation."""

    load_balancer: aws.lb.LoadBalancer
    security_group: aws.ec2.SecurityGroup
    blue: aws.lb.TargetGroup
    green: aws.lb.TargetGroup
    production_listener: aws.lb.Listener
    test_listener: aws.lb.Listener
    # With a certificate: HTTP on http_redirect_port answers with a redirect to HTTPS.
    redirect_listener: aws.lb.Listener | None
    # With weighted_rules: one rule on each listener forwarding to blue (100) and green (0).
    production_rule: aws.lb.ListenerRule | None = None
    test_rule: aws.lb.ListenerRule | None = None
    service_url: pulumi.Output[str]
    test_url: pulumi.Output[str]

    def __init__(self, name: str, args: BlueGreenLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        tls = args.certificate_arn is not None
        if problem := inbound_rules_problem(args.ingress_cidrs, args.test_ingress_cidrs, tls):
            raise rules.UnsafeConfiguration(f"load balancer {name}", [problem])
        super().__init__("rollback-guard:load_balancer:BlueGreenLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description=f"{name} load balancer", opts=child
        )

        def allow(role: str, port: int, index: int, cidr: pulumi.Input[str]) -> None:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{role}-in-{index}",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=cidr,
                description=f"{role} listener",
                opts=child,
            )

        public = [("prod", args.listener_port)] + ([("redirect", args.http_redirect_port)] if tls else [])
        for role, port in public:
            for index, cidr in enumerate(_distinct(args.ingress_cidrs)):
                allow(role, port, index, cidr)
        allow("test", args.test_listener_port, 0, args.vpc_cidr)

        # The other test blocks once the VPC's is known: AWS refuses a rule twice, and a block may be
        # given twice or be the VPC's own. Nothing waits for them: the hooks come in by the rule above.
        def allow_on_test_listener(cidrs: list[str]) -> None:
            for index, cidr in enumerate(_distinct(cidrs)[1:], start=1):
                allow("test", args.test_listener_port, index, cidr)

        pulumi.Output.all(args.vpc_cidr, *args.test_ingress_cidrs).apply(allow_on_test_listener)

        aws.vpc.SecurityGroupEgressRule(
            f"{name}-to-targets",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=args.target_port,
            to_port=args.target_port,
            cidr_ipv4=args.target_cidr,
            description="health checks and requests to the targets",
            opts=child,
        )

        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            subnets=args.subnet_ids,
            security_groups=[self.security_group.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.deletion_protection,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=args.access_logs_bucket, enabled=True)
            if args.access_logs_bucket is not None
            else None,
            opts=child,
        )

        health = args.health_check
        self.blue, self.green = (
            aws.lb.TargetGroup(
                f"{name}-{color}",
                vpc_id=args.vpc_id,
                target_type="ip",
                port=args.target_port,
                protocol="HTTP",
                deregistration_delay=args.deregistration_delay_seconds,
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    path=health.path,
                    matcher=health.matcher,
                    interval=health.interval_seconds,
                    timeout=health.timeout_seconds,
                    healthy_threshold=health.healthy_threshold,
                    unhealthy_threshold=health.unhealthy_threshold,
                ),
                opts=child,
            )
            for color in ("blue", "green")
        )

        # Production may be HTTPS; the test listener stays HTTP: it is private (the VPC and
        # test_ingress_cidrs), and the test-traffic hook reaches it on a node's private address, which no
        # certificate names.
        owned_by_codedeploy = pulumi.ResourceOptions(parent=self, ignore_changes=CODEDEPLOY_OWNED_LISTENER_PROPERTIES)
        self.production_listener, self.test_listener = (
            aws.lb.Listener(
                f"{name}-{role}",
                load_balancer_arn=self.load_balancer.arn,
                port=port,
                protocol="HTTPS" if secure else "HTTP",
                certificate_arn=args.certificate_arn if secure else None,
                ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06" if secure else None,
                default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)],
                opts=owned_by_codedeploy,
            )
            for role, port, group, secure in (
                ("prod", args.listener_port, self.blue, tls),
                ("test", args.test_listener_port, self.green, False),
            )
        )

        self.redirect_listener = None
        if tls:
            self.redirect_listener = aws.lb.Listener(
                f"{name}-redirect",
                load_balancer_arn=self.load_balancer.arn,
                port=args.http_redirect_port,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                            protocol="HTTPS", port=str(args.listener_port), status_code="HTTP_301"
                        ),
                    )
                ],
                opts=child,
            )

        if args.weighted_rules:
            self.production_rule, self.test_rule = (
                aws.lb.ListenerRule(
                    f"{name}-{role}-rule",
                    listener_arn=listener.arn,
                    priority=1,
                    conditions=[
                        aws.lb.ListenerRuleConditionArgs(
                            path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=["/*"])
                        )
                    ],
                    actions=[
                        aws.lb.ListenerRuleActionArgs(
                            type="forward",
                            forward=aws.lb.ListenerRuleActionForwardArgs(
                                target_groups=[
                                    aws.lb.ListenerRuleActionForwardTargetGroupArgs(arn=self.blue.arn, weight=100),
                                    aws.lb.ListenerRuleActionForwardTargetGroupArgs(arn=self.green.arn, weight=0),
                                ]
                            ),
                        )
                    ],
                    opts=pulumi.ResourceOptions(parent=self, ignore_changes=ECS_OWNED_RULE_PROPERTIES),
                )
                for role, listener in (("prod", self.production_listener), ("test", self.test_listener))
            )

        dns = self.load_balancer.dns_name
        self.service_url = pulumi.Output.concat("https://" if tls else "http://", dns, f":{args.listener_port}")
        self.test_url = pulumi.Output.concat("http://", dns, f":{args.test_listener_port}")
        self.register_outputs({"serviceUrl": self.service_url, "testUrl": self.test_url})


def _distinct(cidrs: Sequence[pulumi.Input[str]]) -> list[pulumi.Input[str]]:
    """Each block once, in the order given."""
    return list(dict.fromkeys(cidrs))


def inbound_rules(
    ingress_cidrs: Sequence[pulumi.Input[str]], test_ingress_cidrs: Sequence[pulumi.Input[str]], https: bool
) -> tuple[int, int]:
    """The inbound rules of the load balancer's security group, one per block and listener, at most:
    (on the public listeners, on the test listener). The production blocks are allowed on the
    production listener and, with HTTPS, on its HTTP redirect; the test listener allows the VPC's own
    block and `test_ingress_cidrs` (one of which may be the VPC's)."""
    return len(_distinct(ingress_cidrs)) * (2 if https else 1), 1 + len(_distinct(test_ingress_cidrs))


def inbound_rules_problem(
    ingress_cidrs: Sequence[pulumi.Input[str]], test_ingress_cidrs: Sequence[pulumi.Input[str]], https: bool
) -> str | None:
    """Why the security group could not hold the rules these blocks need, or None when it can."""
    public, test = inbound_rules(ingress_cidrs, test_ingress_cidrs, https)
    if public + test <= SECURITY_GROUP_RULES:
        return None
    return (
        f"ingress_cidrs and test_ingress_cidrs need {public + test} inbound rules in the load balancer's security "
        f"group, one per block and listener ({public} on the public listeners, {test} on the test listener, the "
        f"VPC's own block included): at most {SECURITY_GROUP_RULES} (AWS's default quota)"
    )
