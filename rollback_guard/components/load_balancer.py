"""An application load balancer prepared for blue/green releases.

Its shape is the same for every strategy (blue and green target groups, a production and a test
listener), so switching a service between strategies changes routing, not the load balancer."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.arguments import PORT, Text, Whole, allow, problems, resolved
from rollback_guard.components.encryption import expire_objects, private_bucket
from rollback_guard.components.network import Cidr, Each
from rollback_guard.components.parts import Component
from rollback_guard.limits import SECURITY_GROUP_RULES
from rollback_guard.policy import rules

# CodeDeploy rewrites these on every release; re-applying Pulumi's stale copy could point production
# at the target group that has just been emptied.
CODEDEPLOY_OWNED_LISTENER_PROPERTIES = ["defaultActions"]
# ECS-native blue/green, canary and linear shift traffic by rewriting the weights of listener rules.
ECS_OWNED_RULE_PROPERTIES = ["actions"]
DUPLICATE_RULE = "a security group refuses a rule twice"


# What an ALB target group's health check allows (CreateTargetGroup:
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html).
HEALTH_CHECK_PATH = Text(r"/\S*", "a path starting with /, without spaces, up to 1024 characters", max_length=1024)
# Listener protocols: TLS 1.3 and 1.2 only, for the production listener with a certificate.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
HTTPS_PORT, HTTP_PORT = 443, 80


@dataclass(frozen=True)
class HttpCodes:
    """An ALB health check's matcher: HTTP codes from 200 to 499, single, listed or a range."""

    allowed: str = "HTTP codes from 200 to 499, such as 200, 200,302 or 200-399"

    def allows(self, value: Any) -> bool:
        if not isinstance(value, str) or not re.fullmatch(r"\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*", value):
            return False
        for part in value.split(","):
            low, _, high = part.partition("-")
            if not 200 <= int(low) <= int(high or low) <= 499:
                return False
        return True

    def schema(self) -> dict:
        return {"type": "string", "pattern": r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$", "description": self.allowed}


@dataclass(frozen=True)
class HealthCheck:
    """What marks a task healthy in the load balancer's target groups, blue's and green's alike.

    Attributes:
        path: Default: "/". The path the load balancer requests: starting with /, no spaces, up to
            1024 characters.
        matcher: Default: "200-399", any success or redirect. The HTTP codes that count as healthy,
            from 200 to 499 (ALB's range), such as 200, 200,302 or 200-399.
        interval_seconds: Default: 15, so a task that stops answering leaves the target group within
            a minute. From 5 to 300.
        timeout_seconds: Default: 5. How long one check waits for an answer: from 2 to 120, and less
            than interval_seconds.
        healthy_threshold: Default: 3 checks in a row before a new task gets traffic. From 2 to 10.
        unhealthy_threshold: Default: 3 failed checks in a row before a task is taken out. From 2 to 10.
    """

    path: str = field(default="/", metadata=allow(HEALTH_CHECK_PATH))
    matcher: str = field(default="200-399", metadata=allow(HttpCodes()))
    interval_seconds: int = field(default=15, metadata=allow(Whole(5, 300, "seconds")))
    timeout_seconds: int = field(default=5, metadata=allow(Whole(2, 120, "seconds", "less than interval_seconds")))
    healthy_threshold: int = field(default=3, metadata=allow(Whole(2, 10, "checks")))
    unhealthy_threshold: int = field(default=3, metadata=allow(Whole(2, 10, "checks")))

    def problems(self, where: str = "HealthCheck") -> list[str]:
        """Every field its declaration refuses, then a timeout as long as the interval."""
        found = problems(self, where)
        if not found and self.timeout_seconds >= self.interval_seconds:
            found.append(
                f"{where}.timeout_seconds = {self.timeout_seconds!r}: less than interval_seconds "
                f"({self.interval_seconds}): ALB refuses a check that outlasts its interval"
            )
        return found


# An ACM certificate's ARN; ACM certificates are regional, and an ALB takes only its own region's.
CERTIFICATE_ARN = Text(
    r"arn:aws[\w-]*:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+",
    "an ACM certificate's ARN (arn:aws:acm:<region>:<account>:certificate/<id>) in the stack's region: the "
    "production listener becomes HTTPS",
)


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to, as ARNs name it."""
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def certificate_problem(arn: Any, region: str | None) -> str | None:
    """Why an ALB in `region` (None: not known) cannot use the certificate `arn`, or None."""
    if not CERTIFICATE_ARN.allows(arn):
        return CERTIFICATE_ARN.allowed
    if region is None:
        return None
    parts = arn.split(":")
    if parts[1] != partition_of(region):
        return f"a certificate of the stack's partition ({partition_of(region)})"
    if parts[3] != region:
        return f"a certificate in the stack's region ({region}): an ALB uses ACM certificates of its own region"
    return None


def stack_region() -> str | None:
    """The stack's region as the AWS provider reads it: its configuration (aws:region), else the
    AWS_REGION or AWS_DEFAULT_REGION environment variable; None when none says."""
    return pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def checked_certificate(
    what: str, where: str, arn: pulumi.Input[str], opts: pulumi.InvokeOutputOptions | None = None
) -> pulumi.Output[str]:
    """The certificate `arn` once it and the stack's region are known, refused (with the line a known
    one gets at construction) when the load balancer could not use it."""
    region = stack_region()
    if region is not None:
        return resolved(what, where, arn, lambda known: certificate_problem(known, region))
    asked = aws.get_region_output(opts=opts).region
    return asked.apply(lambda region: resolved(what, where, arn, lambda known: certificate_problem(known, region)))


def listener_port_of(port: int | None, https: bool) -> int:
    """Where users reach the service: `port`, or by default 443 with a certificate and 80 without."""
    if port is not None:
        return port
    return HTTPS_PORT if https else HTTP_PORT


def listener_problems(
    where: str, listener_port: int | None, test_listener_port: int, http_redirect_port: int, https: bool
) -> list[str]:
    """Ports of their own: the production listener, the test listener and, with HTTPS, the redirect."""
    production = listener_port_of(listener_port, https)
    found = []
    if test_listener_port == production:
        found.append(
            f"{where}.test_listener_port = {test_listener_port!r}: a port other than the production listener's "
            f"({production}): the listeners need ports of their own"
        )
    if https and http_redirect_port in (production, test_listener_port):
        found.append(
            f"{where}.http_redirect_port = {http_redirect_port!r}: a port other than the production listener's "
            f"({production}) and the test listener's ({test_listener_port}) with a certificate: the listeners need "
            "ports of their own (HTTP there redirects to HTTPS on the production listener)"
        )
    return found


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


class AccessLogBucket(Component):
    """A private bucket for a load balancer's access logs: encrypted with S3-managed keys (the only
    kind load balancers can write with), written only by the region's log delivery, kept 90 days.
    Not versioned and not itself access-logged: it holds append-only logs that expire."""

    bucket: aws.s3.Bucket
    # The bucket's name once its policy lets the load balancer write: a load balancer checks that
    # when its access logs are switched on.
    writable_name: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rollback-guard:load_balancer:AccessLogBucket", name, opts)
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
    """What a BlueGreenLoadBalancer is built from.

    Attributes:
        vpc_id: Required. The VPC the load balancer and its targets are in.
        subnet_ids: Required. Public subnets in at least two zones (an ALB needs two).
        target_port: Required. The port the targets (the tasks) listen on, from 1 to 65535.
        target_cidr: Required. Where the targets live: the load balancer may only send traffic there.
        health_check: Required. What marks a target healthy (HealthCheck).
        vpc_cidr: Required. The VPC's own block, always allowed on the test listener: the test-traffic
            hook and the canary judge call it from inside the VPC.
        listener_port: Default: None, meaning 443 with a certificate and 80 without. Where users
            reach the service, from 1 to 65535.
        test_listener_port: Default: 8080. The test listener's port, which reaches green only; from 1
            to 65535 and not another listener's.
        certificate_arn: Default: None (HTTP). An ACM certificate's ARN in the stack's region, or an
            Output of one (checked when known): the production listener becomes HTTPS.
        http_redirect_port: Default: 80. With a certificate, plain HTTP here is redirected to HTTPS;
            from 1 to 65535 and not another listener's.
        ingress_cidrs: Default: ("0.0.0.0/0",), everyone: a service behind a load balancer is usually
            public. The blocks allowed on the production listener (and its redirect), each once.
        test_ingress_cidrs: Default: (), the VPC's own block only. Blocks allowed on the test listener
            besides the VPC's, each once: it exposes the release candidate before any user sees it,
            so add only blocks you trust.
        deletion_protection: Default: True: a load balancer deleted by mistake takes the service down.
        access_logs_bucket: Default: None, no access logs. Where access logs go
            (AccessLogBucket.writable_name).
        deregistration_delay_seconds: Default: 30, long enough for a task's requests in flight to
            finish on a release. From 0 to 3600.
        weighted_rules: Default: False. True for ECS-native blue/green, canary and linear, which move
            traffic through weighted listener rules.
    """

    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    target_port: int = field(metadata=allow(PORT))
    target_cidr: pulumi.Input[str]
    health_check: HealthCheck
    vpc_cidr: pulumi.Input[str]
    listener_port: int | None = field(default=None, metadata=allow(PORT))
    test_listener_port: int = field(default=8080, metadata=allow(PORT))
    certificate_arn: pulumi.Input[str] | None = field(default=None, metadata=allow(CERTIFICATE_ARN))
    http_redirect_port: int = field(default=HTTP_PORT, metadata=allow(PORT))
    ingress_cidrs: Sequence[pulumi.Input[str]] = field(
        default=("0.0.0.0/0",), metadata=allow(Each(Cidr(), "CIDR blocks", fewest=1, why=DUPLICATE_RULE))
    )
    test_ingress_cidrs: Sequence[pulumi.Input[str]] = field(
        default=(), metadata=allow(Each(Cidr(), "CIDR blocks", why=DUPLICATE_RULE))
    )
    deletion_protection: bool = True
    access_logs_bucket: pulumi.Input[str] | None = None
    deregistration_delay_seconds: int = field(default=30, metadata=allow(Whole(0, 3600, "seconds")))
    weighted_rules: bool = False


class BlueGreenLoadBalancer(Component):
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
        what = f"load balancer {name}"
        rules.refuse(what, load_balancer_problems(args))
        tls = args.certificate_arn is not None
        listener_port = listener_port_of(args.listener_port, tls)
        super().__init__("rollback-guard:load_balancer:BlueGreenLoadBalancer", name, opts)
        child = pulumi.ResourceOptions(parent=self)
        certificate = (
            checked_certificate(
                what,
                "BlueGreenLoadBalancerArgs.certificate_arn",
                args.certificate_arn,
                pulumi.InvokeOutputOptions(parent=self),
            )
            if tls
            else None
        )

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

        public = [("prod", listener_port)] + ([("redirect", args.http_redirect_port)] if tls else [])
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
                certificate_arn=certificate if secure else None,
                ssl_policy=TLS_POLICY if secure else None,
                default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)],
                opts=owned_by_codedeploy,
            )
            for role, port, group, secure in (
                ("prod", listener_port, self.blue, tls),
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
                            protocol="HTTPS", port=str(listener_port), status_code="HTTP_301"
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
        self.service_url = pulumi.Output.concat("https://" if tls else "http://", dns, f":{listener_port}")
        self.test_url = pulumi.Output.concat("http://", dns, f":{args.test_listener_port}")
        self.register_outputs({"serviceUrl": self.service_url, "testUrl": self.test_url})


def load_balancer_problems(args: BlueGreenLoadBalancerArgs) -> list[str]:
    """Every argument a BlueGreenLoadBalancer refuses, one line each: the declarations, the health
    check, the listeners' ports, the security group's room and a known certificate's region."""
    where = "BlueGreenLoadBalancerArgs"
    found = problems(args, where)
    if found:
        return found
    https = args.certificate_arn is not None
    found += args.health_check.problems(f"{where}.health_check")
    found += listener_problems(where, args.listener_port, args.test_listener_port, args.http_redirect_port, https)
    if problem := inbound_rules_problem(args.ingress_cidrs, args.test_ingress_cidrs, https):
        found.append(problem)
    if isinstance(args.certificate_arn, str) and (problem := certificate_problem(args.certificate_arn, stack_region())):
        found.append(f"{where}.certificate_arn = {args.certificate_arn!r}: {problem}")
    return found


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
