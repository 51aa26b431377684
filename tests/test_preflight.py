"""Preflight: is a stack ready to roll back? Against AWS on loopback: an account where everything a
rollback needs is in place passes; each fault seeded into it is reported, alone, with its line.

The ready account is built once for the module; a test that seeds a fault says how to undo it
(`undo`), so the next test finds the account ready again. Where AWS on loopback cannot seed a
fault through an API (a deleted deployment group or listener comes back only with a new ARN), the
test changes moto's objects in this process, and puts them back."""

from __future__ import annotations

import functools
import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from ops import cli
from rollback_guard.components import canary_judge
from rollback_guard.hooks.deployment_log import ROLLED_BACK, ReleaseRecord, put_once
from rollback_guard.hooks.judge import JUDGE_NAMESPACE
from rollback_guard.hooks.revisions import describe
from rollback_guard.preflight import BadOutputs, ReleasePath, Severity, StackExports, check_stack
from tests.hook_runs import create_alarm
from tests.local_aws import Fault, _moto_deployment, _moto_deployment_group
from tests.scenarios import (
    ALARM,
    FUNCTION,
    HOOKS,
    TABLE,
    create_log_table,
    ecs_service_on,
    publish_versions,
    zipped_code,
)
from tests.test_ops import FakeStack, run

REGION, ACCOUNT = "us-east-1", "123456789012"
GROUP_ARN = f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{{}}/{{}}-deploy"
APPLICATION_ARN = f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:application:{{}}"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
GREETER_JUDGE, WEB_JUDGE = "greeter-judge-staging", "web-judge-staging"
WEB_HOOKS = {"AfterAllowTestTraffic": "web-test-traffic-staging", "AfterAllowTraffic": "web-recorder-staging"}
WEB_ALARMS = ["web-rollback-5xx-rate", "web-rollback-unhealthy-hosts"]
TEST_PORT = 8080
VPC_CIDR, PUBLIC, PRIVATE = "10.0.0.0/16", ("10.0.0.0/24", "10.0.1.0/24"), ("10.0.2.0/24", "10.0.3.0/24")
GREETER = {
    "service": "greeter",
    "kind": "lambda",
    "strategy": "lambda-canary",
    "application": "greeter",
    "deploymentGroup": "greeter-deploy",
    "function": FUNCTION,
    "alias": "live",
    "hooks": HOOKS,
    "alarms": [ALARM],
    "judge": GREETER_JUDGE,
}
# A service ECS releases itself (rolling): no deployment group, its own circuit breaker and alarms.
API = {
    "service": "api",
    "kind": "ecs",
    "strategy": "rolling",
    "cluster": "web-cluster",
    "ecsService": "api-service",
    "alarms": ["api-rollback-5xx-rate"],
}
API_ROLLBACK = {
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    "alarms": {"alarmNames": API["alarms"], "enable": True, "rollback": True},
}
WEB = {
    "service": "web",
    "kind": "ecs",
    "strategy": "codedeploy-blue-green",
    "application": "web",
    "deploymentGroup": "web-deploy",
    "cluster": "web-cluster",
    "ecsService": "web-service",
    "hooks": WEB_HOOKS,
    "alarms": WEB_ALARMS,
    "judge": WEB_JUDGE,
}


@dataclass
class Account:
    """A ready account, and the handles a test needs to seed one fault into it."""

    outputs: dict
    load_balancer_group: str
    hook_group: str
    live_task_definition: str

    def only(self, service: str, **changes) -> dict:
        """The outputs with that release path alone, changed as given: a fault of one path is checked
        on that path (and the account), which keeps each test's reads few."""
        [path] = [{**path, **changes} for path in self.outputs["releasePaths"] if path["service"] == service]
        return {**self.outputs, "releasePaths": [path]}


@pytest.fixture(scope="module")
def session(local_aws) -> boto3.Session:
    """One session for the module's preflight runs: a new one would load every service's model again."""
    return boto3.Session(region_name=REGION)


@functools.cache
def aws(service: str):
    """A client on AWS on loopback, made once."""
    return boto3.client(service, region_name=REGION)


@pytest.fixture
def preflight(session):
    """The lines preflight reports for a stack with these outputs."""
    return lambda outputs: [finding.line() for finding in check_stack(StackExports.from_outputs(outputs), session)]


@pytest.fixture
def undo(local_aws):
    """Register how to undo what a test changed in the ready account; undone last first."""
    steps = []
    yield steps.append
    for step in reversed(steps):
        step()
    local_aws.faults.clear()


@pytest.fixture(scope="module")
def ready(local_aws, certificate) -> Account:
    """The sample stack's release paths, with everything a rollback needs in place: alarms listed
    by their groups, reporting OK and with data; automatic rollback on; a history of successful
    releases behind each live revision, whose revisions are all there; an issued certificate;
    CodeDeploy's roles, the hooks' and judges' grants, the test listener open to the hooks' subnets
    and theirs open to it; the deployment log; room in every quota; nothing in flight."""
    local_aws.reset()
    for alarm in [ALARM, f"{GREETER_JUDGE}-silent", *WEB_ALARMS, f"{WEB_JUDGE}-silent", *API["alarms"]]:
        create_alarm(alarm)
    # What the alarms watch has data (create_alarm's alarms watch AWS/Lambda Errors).
    aws("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[{"MetricName": "Errors", "Value": 0}])
    create_log_table()

    # greeter: versions 1 to 3, released 1 -> 2 -> 3.
    functions = publish_versions()
    functions.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="3")
    versions = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}:*"
    greeter_group = GROUP_ARN.format("greeter", "greeter")
    report = allow("codedeploy:PutLifecycleEventHookExecutionStatus", greeter_group)
    reads = reads_releases("greeter")
    create_function(HOOKS["BeforeAllowTraffic"], [report, *reads, allow("lambda:InvokeFunction", versions)])
    alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{ALARM}"
    create_function(
        HOOKS["AfterAllowTraffic"],
        [
            report,
            *reads,
            allow(["dynamodb:PutItem", "dynamodb:Query", "dynamodb:GetItem"], TABLE_ARN),
            allow("cloudwatch:DescribeAlarms", alarm_arn),
        ],
    )
    create_function(GREETER_JUDGE, [*judge_statements(greeter_group), allow("lambda:InvokeFunction", versions)])
    create_group("greeter", "Lambda", [ALARM, f"{GREETER_JUDGE}-silent"], HOOKS.values())
    released("greeter", ("1", "2"), ("2", "3"))

    # web: a load balancer in the public subnets, its hooks and judge in the private ones, whose
    # security group lets out the test listener's port (to the VPC) and HTTPS (to AWS's APIs).
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    zones = (f"{REGION}a", f"{REGION}b")
    public = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)["Subnet"]["SubnetId"]
        for c, z in zip(PUBLIC, zones, strict=True)
    ]
    private = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)["Subnet"]["SubnetId"]
        for c, z in zip(PRIVATE, zones, strict=True)
    ]
    balancer_group = ec2.create_security_group(GroupName="web-lb", Description="web-lb", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=balancer_group, IpPermissions=[tcp(443, "0.0.0.0/0"), tcp(TEST_PORT, VPC_CIDR)]
    )
    hook_group = ec2.create_security_group(GroupName="web-hooks", Description="web-hooks", VpcId=vpc)["GroupId"]
    everything = ec2.describe_security_groups(GroupIds=[hook_group])["SecurityGroups"][0]["IpPermissionsEgress"]
    ec2.revoke_security_group_egress(GroupId=hook_group, IpPermissions=everything)
    ec2.authorize_security_group_egress(
        GroupId=hook_group, IpPermissions=[tcp(TEST_PORT, VPC_CIDR), tcp(443, "0.0.0.0/0")]
    )
    network = {"SubnetIds": private, "SecurityGroupIds": [hook_group]}
    web_group = GROUP_ARN.format("web", "web")
    report = allow("codedeploy:PutLifecycleEventHookExecutionStatus", web_group)
    create_function(WEB_HOOKS["AfterAllowTestTraffic"], [report, allow("ec2:DescribeNetworkInterfaces", "*")], network)
    create_function(
        WEB_HOOKS["AfterAllowTraffic"],
        [report, *reads_releases("web"), allow(["dynamodb:PutItem", "dynamodb:Query", "dynamodb:GetItem"], TABLE_ARN)],
    )
    create_function(WEB_JUDGE, judge_statements(web_group), network)

    certificate_file, key_file = certificate
    issued = aws("acm").import_certificate(
        Certificate=Path(certificate_file).read_bytes(), PrivateKey=Path(key_file).read_bytes()
    )["CertificateArn"]
    elb = aws("elbv2")
    balancer = elb.create_load_balancer(Name="web-lb", Subnets=public, SecurityGroups=[balancer_group])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    blue, _ = (
        elb.create_target_group(Name=f"web-{color}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        for color in ("blue", "green")
    )
    forward = [{"Type": "forward", "TargetGroupArn": blue}]
    production = elb.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": issued}],
        DefaultActions=forward,
    )["Listeners"][0]["ListenerArn"]
    test = elb.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=TEST_PORT, DefaultActions=forward)[
        "Listeners"
    ][0]["ListenerArn"]
    live = ecs_service_on(live=1)[1]  # revisions 1 and 2, live on 2
    pair = {
        "targetGroups": [{"name": "web-blue"}, {"name": "web-green"}],
        "prodTrafficRoute": {"listenerArns": [production]},
        "testTrafficRoute": {"listenerArns": [test]},
    }
    create_group(
        "web",
        "ECS",
        [*WEB_ALARMS, f"{WEB_JUDGE}-silent"],
        WEB_HOOKS.values(),
        loadBalancerInfo={"targetGroupPairInfoList": [pair]},
        ecsServices=[{"serviceName": "web-service", "clusterName": "web-cluster"}],
    )
    released("web", ("web-staging:1", "web-staging:2"))

    # api: released by ECS, revisions 1 and 2, live on 2.
    ecs = aws("ecs")
    api_revisions = [
        ecs.register_task_definition(
            family="api-staging", containerDefinitions=[{"name": "api", "image": f"nginx:{tag}", "memory": 512}]
        )["taskDefinition"]["taskDefinitionArn"]
        for tag in ("1.27", "1.28")
    ]
    ecs.create_service(
        cluster="web-cluster", serviceName="api-service", taskDefinition=api_revisions[1], desiredCount=1
    )
    # moto keeps a service's deployment configuration from UpdateService only.
    ecs.update_service(cluster="web-cluster", service="api-service", deploymentConfiguration=API_ROLLBACK)
    outputs = {
        "environment": "staging",
        "deploymentLogTableName": TABLE,
        "services": {"web": {"certificateArn": issued}, "api": {"certificateArn": None}},
        "releasePaths": [WEB, GREETER, API],
    }
    return Account(outputs, balancer_group, hook_group, live)


def allow(action: str | list[str], resource: str | list[str]) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def tcp(port: int, cidr: str) -> dict:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}


def reads_releases(application: str) -> list[dict]:
    """What components/traffic_hooks.py grants a hook that reads the deployment it runs for."""
    return [
        allow("codedeploy:GetDeployment", GROUP_ARN.format(application, application)),
        allow("codedeploy:GetApplicationRevision", APPLICATION_ARN.format(application)),
    ]


def judge_statements(group: str) -> list[dict]:
    """What components/canary_judge.py grants a judge, as far as a rollback needs it."""
    return [
        allow(["codedeploy:ListDeployments", "codedeploy:GetDeployment"], group),
        allow(["codedeploy:ListDeploymentTargets", "codedeploy:GetDeploymentTarget", "codedeploy:StopDeployment"], "*"),
        allow("cloudwatch:GetMetricData", "*"),
        {
            **allow("cloudwatch:PutMetricData", "*"),
            "Condition": {"StringEquals": {"cloudwatch:namespace": JUDGE_NAMESPACE}},
        },
        allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], TABLE_ARN),
    ]


def invoke(hooks) -> dict:
    """What CodeDeploy's role is granted on the hooks (components/traffic_hooks.py)."""
    return allow("lambda:InvokeFunction", [f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{hook}" for hook in hooks])


def trusting(service: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def create_role(name: str, service: str, statements: list[dict]) -> str:
    arn = aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trusting(service))["Role"]["Arn"]
    put_policy(name, statements)
    return arn


def put_policy(role: str, statements: list[dict], name: str | None = None) -> None:
    """An inline policy of `role`: its own (`<role>-policy`) unless named."""
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    aws("iam").put_role_policy(RoleName=role, PolicyName=name or f"{role}-policy", PolicyDocument=document)


def create_function(name: str, statements: list[dict], network: dict | None = None) -> None:
    role = create_role(f"{name}-role", "lambda.amazonaws.com", statements)
    aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": zipped_code(0)},
        **({"VpcConfig": network} if network else {}),
    )


def create_group(application: str, platform: str, alarms: list[str], hooks, **group) -> None:
    """The application and its deployment group (and `group`'s settings), acting through a CodeDeploy
    role of its own, rolling back on failure and on alarm (components/codedeploy.py)."""
    policy = f"AWSCodeDeployRoleFor{'Lambda' if platform == 'Lambda' else 'ECS'}Limited"
    role = create_role(f"{application}-codedeploy", "codedeploy.amazonaws.com", [invoke(hooks)])
    path = "service-role/" if platform == "Lambda" else ""
    aws("iam").attach_role_policy(
        RoleName=f"{application}-codedeploy", PolicyArn=f"arn:aws:iam::aws:policy/{path}{policy}"
    )
    codedeploy = aws("codedeploy")
    codedeploy.create_application(applicationName=application, computePlatform=platform)
    codedeploy.create_deployment_group(
        applicationName=application,
        deploymentGroupName=f"{application}-deploy",
        serviceRoleArn=role,
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        alarmConfiguration={"enabled": True, "ignorePollAlarmFailure": False, "alarms": [{"name": a} for a in alarms]},
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
        **group,
    )


def released(application: str, *releases: tuple[str, str]) -> list[str]:
    """Successful releases of the group, `(from, to)`, oldest first and an hour apart, described
    as rollback-guard describes the deployments it creates; their ids."""
    codedeploy, ids = aws("codedeploy"), []
    for age, (source, target) in enumerate(reversed(releases), start=1):
        deployment = codedeploy.create_deployment(
            applicationName=application,
            deploymentGroupName=f"{application}-deploy",
            revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
            description=describe("release", target, source, "ops deploy"),
        )["deploymentId"]
        moto = _moto_deployment(deployment)
        moto.status, moto.create_time = "Succeeded", moto.create_time - timedelta(hours=age)
        ids.insert(0, deployment)
    return ids


def set_group(application: str, **settings) -> None:
    """The group's settings as moto keeps them (moto has no UpdateDeploymentGroup), until undone."""
    group = _moto_deployment_group(application, f"{application}-deploy")
    before = {name: getattr(group, name) for name in settings}
    for name, value in settings.items():
        setattr(group, name, value)
    return lambda: [setattr(group, name, value) for name, value in before.items()]


def moto_backend(service: str):
    """moto's backend of `service` in this account and region, in this process."""
    import moto.backends

    backends = moto.backends.get_backend(service)[ACCOUNT]
    return backends["global"] if service == "iam" else backends[REGION]


# --- the ready account, and what is not a fault


def test_preflight_passes_an_account_where_everything_a_rollback_needs_is_in_place(ready, preflight):
    assert preflight(ready.outputs) == []


def test_a_brand_new_stack_is_allowed_its_first_deploy_with_a_note(preflight):
    assert preflight({}) == [
        "note first-deploy: stack: nothing is deployed yet, so there is nothing to roll back to; go ahead: the first "
        "deploy is allowed, and every later one is checked"
    ]


def test_a_function_on_its_first_version_may_be_released_with_a_note(ready, preflight, undo):
    aws("lambda").update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    undo(lambda: aws("lambda").update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="3"))
    assert preflight(ready.only("greeter")) == [
        f"note known-good: function {FUNCTION}:live: 1 is its first version: nothing earlier to roll back to; "
        "nothing to do: the next release can roll back to 1"
    ]


def test_a_live_version_released_more_than_30_days_ago_may_be_released_with_a_note(ready, preflight, undo):
    """`ops rollback` reads 30 days of CodeDeploy's history: past that, it has nowhere to go. Only a
    release gives it somewhere again, so this does not block one."""
    codedeploy = aws("codedeploy")
    ids = codedeploy.list_deployments(applicationName="greeter", deploymentGroupName="greeter-deploy")["deployments"]
    for deployment in map(_moto_deployment, ids):
        deployment.create_time -= timedelta(days=31)
        undo(
            lambda deployment=deployment: setattr(
                deployment, "create_time", deployment.create_time + timedelta(days=31)
            )
        )
    assert preflight(ready.only("greeter")) == [
        f"note known-good: function {FUNCTION}:live: no deployment in CodeDeploy's last 30 days released 3, so `ops "
        "rollback` has no known-good version to go back to from it (it looks no further back); nothing to do: the "
        "next release rolls back to 3 if it fails, and `ops rollback` goes back to 3 after it; to leave 3 now, `ops "
        "redeploy staging --to` an earlier version"
    ]


def test_preflight_says_which_checks_it_could_not_run_when_the_stack_names_no_ecs_hooks(ready, session):
    findings = check_stack(StackExports.from_outputs(ready.only("web", hooks={})), session)
    assert [(finding.check, finding.severity, finding.blocks) for finding in findings] == [
        ("permissions", Severity.NOTE, False)
    ]


def test_the_heartbeat_alarm_preflight_expects_is_the_one_the_judge_component_names(monkeypatch):
    monkeypatch.setattr(canary_judge, "judge_function_name", lambda name: f"{name}-staging")
    path = ReleasePath("web", "ecs", alarms=("web-rollback-5xx-rate",), judge="web-judge-staging")
    assert canary_judge.heartbeat_alarm_name("web-judge") in path.group_alarms


def test_an_alarm_without_data_for_a_day_is_a_note_not_a_refusal(ready, preflight, undo):
    """The alarms treat missing data as notBreaching: on a metric nobody publishes, one stays OK for
    ever. CloudWatch cannot tell that from a service without traffic, which is not broken."""
    aws("cloudwatch").put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": "greeter-stagign"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    undo(lambda: create_alarm(ALARM))
    assert preflight(ready.only("greeter")) == [
        f"note alarms: alarm {ALARM}: none of its metrics (AWS/Lambda Errors [FunctionName=greeter-stagign]) has a "
        "datapoint in the last 24 hours: it treats missing data as notBreaching, so if nothing publishes them it "
        "stays OK whatever a release does; if greeter had traffic in that time, make its metrics the ones the "
        "service publishes (namespace, name, dimensions); if it had none, nothing to do"
    ]


# --- each fault alone, with its line


def test_preflight_refuses_a_release_whose_rollback_alarm_is_missing(ready, preflight, undo):
    aws("cloudwatch").delete_alarms(AlarmNames=[ALARM])
    undo(lambda: create_alarm(ALARM))
    assert preflight(ready.only("greeter")) == [
        f"not-ready alarms: alarm {ALARM}: does not exist: nothing watches for it; run `pulumi up --refresh`, which creates it"
    ]


def test_preflight_refuses_a_release_whose_group_does_not_stop_on_a_rollback_alarm(ready, preflight, undo):
    create_alarm("web-rollback-latency")
    undo(lambda: aws("cloudwatch").delete_alarms(AlarmNames=["web-rollback-latency"]))
    assert preflight(ready.only("web", alarms=[*WEB_ALARMS, "web-rollback-latency"])) == [
        "not-ready alarms: alarm web-rollback-latency: not listed by deployment group web/web-deploy: a release goes "
        "on while it fires; run `pulumi up --refresh`, which lists it again"
    ]


def test_preflight_refuses_a_release_whose_group_stops_on_an_alarm_the_stack_does_not_have(ready, preflight):
    assert preflight(ready.only("web", alarms=WEB_ALARMS[:1])) == [
        f"not-ready alarms: alarm {WEB_ALARMS[1]}: listed by deployment group web/web-deploy but not one of the "
        "stack's rollback alarms: it stops releases for reasons the stack does not know; remove it from the group "
        "(`pulumi up --refresh` puts the group's list back)"
    ]


def test_preflight_refuses_a_release_whose_alarm_has_no_data_to_fire_on(ready, preflight, undo):
    cloudwatch = aws("cloudwatch")
    reason = "no datapoints were received\nfor 3 periods"  # AWS's text may break lines: a finding does not
    cloudwatch.set_alarm_state(AlarmName=WEB_ALARMS[0], StateValue="INSUFFICIENT_DATA", StateReason=reason)
    undo(lambda: cloudwatch.set_alarm_state(AlarmName=WEB_ALARMS[0], StateValue="OK", StateReason="data again"))
    assert preflight(ready.only("web")) == [
        f"not-ready alarms: alarm {WEB_ALARMS[0]}: INSUFFICIENT_DATA (no datapoints were received for 3 periods): it "
        "cannot fire without data; check that its metrics (namespace, name, dimensions) are the ones the service "
        "publishes"
    ]


def test_preflight_refuses_a_release_whose_group_ignores_alarms_it_cannot_read(ready, preflight, undo):
    alarms = [{"name": ALARM}, {"name": f"{GREETER_JUDGE}-silent"}]
    undo(set_group("greeter", alarm_configuration={"enabled": True, "ignorePollAlarmFailure": True, "alarms": alarms}))
    assert preflight(ready.only("greeter")) == [
        "not-ready alarms: deployment group greeter/greeter-deploy: it ignores alarms it cannot read "
        "(ignorePollAlarmFailure): a release goes on when CodeDeploy cannot read an alarm's state; run `pulumi up --refresh`, "
        "which turns that off"
    ]


def test_preflight_refuses_a_release_whose_group_does_not_roll_back_by_itself(ready, preflight, undo):
    undo(set_group("greeter", auto_rollback_configuration={"enabled": False, "events": []}))
    assert preflight(ready.only("greeter")) == [
        "not-ready auto-rollback: deployment group greeter/greeter-deploy: its automatic rollback is disabled: a "
        "release that fails, or that an alarm stops, stays on the new revision; run `pulumi up --refresh`, which enables it on "
        "DEPLOYMENT_FAILURE and DEPLOYMENT_STOP_ON_ALARM"
    ]


def test_preflight_refuses_a_release_whose_group_does_not_roll_back_when_an_alarm_stops_it(ready, preflight, undo):
    undo(set_group("web", auto_rollback_configuration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}))
    assert preflight(ready.only("web")) == [
        "not-ready auto-rollback: deployment group web/web-deploy: its automatic rollback leaves out "
        "DEPLOYMENT_STOP_ON_ALARM: a release an alarm stops stays where the stop left it; run `pulumi up --refresh`, which "
        "restores the events"
    ]


@pytest.mark.parametrize(
    ("configuration", "line"),
    [
        (
            {**API_ROLLBACK, "deploymentCircuitBreaker": {"enable": True, "rollback": False}},
            "not-ready auto-rollback: service web-cluster/api-service: its deployment circuit breaker does not roll "
            "back: a release whose tasks never get healthy stays, and nothing puts the last completed revision back; "
            "run `pulumi up --refresh`, which turns it on with rollback",
        ),
        (
            {**API_ROLLBACK, "alarms": {**API_ROLLBACK["alarms"], "rollback": False}},
            "not-ready auto-rollback: service web-cluster/api-service: its deployment alarms do not roll back: a "
            "release goes on, or stays, while its rollback alarms fire; run `pulumi up --refresh`, which turns them on with "
            "rollback",
        ),
    ],
    ids=["circuit breaker", "deployment alarms"],
)
def test_preflight_refuses_a_release_of_a_service_ecs_does_not_roll_back(ready, preflight, undo, configuration, line):
    ecs = aws("ecs")
    ecs.update_service(cluster="web-cluster", service="api-service", deploymentConfiguration=configuration)
    undo(lambda: ecs.update_service(cluster="web-cluster", service="api-service", deploymentConfiguration=API_ROLLBACK))
    assert preflight(ready.only("api")) == [line]


def test_preflight_refuses_a_release_whose_way_back_was_deleted(ready, preflight, undo):
    """`ops rollback` goes back to what the live version's release replaced: 2."""
    versions = moto_backend("lambda")._lambdas._functions[FUNCTION]["versions"]
    kept = list(versions)
    aws("lambda").delete_function(FunctionName=FUNCTION, Qualifier="2")
    undo(lambda: versions.__setitem__(slice(None), kept))
    assert preflight(ready.only("greeter")) == [
        f"not-ready known-good: function {FUNCTION}:live: `ops rollback` would go back to 2, what 3's release "
        "replaced, which does not exist: a rollback now fails; keep the versions `ops rollback` may go back to; to "
        "release anyway (the release itself rolls back to 3), pass --skip-preflight"
    ]


def test_a_task_definition_deregistered_is_no_way_back(ready, preflight, undo):
    ecs = aws("ecs")
    ecs.deregister_task_definition(taskDefinition="web-staging:1")
    revision = moto_backend("ecs").task_definitions["web-staging"][1]
    undo(lambda: setattr(revision, "status", "ACTIVE"))
    assert preflight(ready.only("web")) == [
        "not-ready known-good: service web-cluster/web-service: `ops rollback` would go back to web-staging:1, what "
        "web-staging:2's release replaced, which is deregistered or deleted: a rollback now fails; keep the revisions "
        "`ops rollback` may go back to; to release anyway (the release itself rolls back to web-staging:2), pass "
        "--skip-preflight"
    ]


def rolled_back(version: str, to: str, undo) -> None:
    """`ops rollback` took `version` back to `to`: its record in the deployment log, until undone."""
    now = "2099-01-01T00:00:00+00:00"  # after every deployment of the group
    record = ReleaseRecord("greeter", "staging", f"ops-rollback-{version}", version, to, ROLLED_BACK, now, "")
    put_once(aws("dynamodb"), TABLE, record)
    key = {name: value for name, value in record.item().items() if name in ("pk", "sk")}
    undo(lambda: aws("dynamodb").delete_item(TableName=TABLE, Key=key))


def test_a_version_rolled_back_for_cause_is_never_the_way_back(ready, preflight, undo):
    """3 replaced 2, which an operator rolled back: `ops rollback` would pass over it to 1, which is gone."""
    rolled_back("2", "1", undo)
    versions = moto_backend("lambda")._lambdas._functions[FUNCTION]["versions"]
    kept = list(versions)
    aws("lambda").delete_function(FunctionName=FUNCTION, Qualifier="1")
    undo(lambda: versions.__setitem__(slice(None), kept))
    assert preflight(ready.only("greeter")) == [
        f"not-ready known-good: function {FUNCTION}:live: `ops rollback` would go back to 1, what 3's release "
        "replaced, which does not exist: a rollback now fails; keep the versions `ops rollback` may go back to; to "
        "release anyway (the release itself rolls back to 3), pass --skip-preflight"
    ]


def test_preflight_refuses_a_release_when_every_earlier_version_was_rolled_back(ready, preflight, undo):
    rolled_back("2", "1", undo)
    rolled_back("1", "3", undo)
    assert preflight(ready.only("greeter")) == [
        f"not-ready known-good: function {FUNCTION}:live: `ops rollback` has no known-good version to go back to "
        "from 3 (CodeDeploy's last 30 days and the deployment log): 2 and 1 were rolled back for cause; release a "
        "version you trust first (`ops redeploy staging --to N`), or pass --skip-preflight to release knowingly"
    ]


def test_preflight_refuses_a_release_whose_live_alias_points_at_latest(ready, preflight, undo):
    aws("lambda").update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="$LATEST")
    undo(lambda: aws("lambda").update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="3"))
    assert preflight(ready.only("greeter")) == [
        f"not-ready live-revision: function {FUNCTION}:live: points at $LATEST, not a published version: CodeDeploy "
        f"shifts between published versions only; point it at the version last released: aws lambda update-alias "
        f"--function-name {FUNCTION} --name live --function-version N"
    ]


def test_preflight_refuses_a_release_from_an_alias_left_half_shifted(ready, preflight, undo):
    """A shift stopped half-way (its rollback failed), nothing in flight: `ops rollback` clears it."""
    functions = aws("lambda")
    functions.update_alias(
        FunctionName=FUNCTION, Name="live", FunctionVersion="3", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}
    )
    undo(
        lambda: functions.update_alias(
            FunctionName=FUNCTION, Name="live", FunctionVersion="3", RoutingConfig={"AdditionalVersionWeights": {}}
        )
    )
    assert preflight(ready.only("greeter")) == [
        f"not-ready live-revision: function {FUNCTION}:live: sends 50% on version 2 (the rest on 3) with no "
        "deployment in flight: a traffic shift stopped half-way, and the next release would start from a split "
        "alias; put all traffic back on 3: `ops rollback staging --service greeter`, which clears the weights"
    ]


def test_preflight_refuses_a_certificate_still_pending_validation(ready, preflight):
    pending = aws("acm").request_certificate(DomainName="web.example.com")["CertificateArn"]
    assert preflight({**ready.only("web"), "services": {"web": {"certificateArn": pending}}}) == [
        f"not-ready certificate: certificate {pending}: PENDING_VALIDATION, not ISSUED: the HTTPS listener cannot "
        "serve it; finish its DNS validation (the CNAME record ACM asks for)"
    ]


def test_preflight_refuses_a_certificate_from_another_region(ready, preflight):
    elsewhere = f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/0a1b2c3d-0000-4000-8000-000000000000"
    assert preflight({**ready.only("web"), "services": {"web": {"certificateArn": elsewhere}}}) == [
        f"not-ready certificate: certificate {elsewhere}: in eu-west-1, not the stack's us-east-1: a load balancer "
        "takes certificates from its own region only; request or import the certificate in us-east-1 and name that "
        "one in the stack"
    ]


def test_preflight_refuses_a_release_when_reservations_leave_lambda_less_than_100_unreserved(ready, preflight, undo):
    aws("lambda").put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=950)
    undo(lambda: aws("lambda").delete_function_concurrency(FunctionName=FUNCTION))
    assert preflight(ready.only("greeter")) == [
        "not-ready concurrency: Lambda concurrency in us-east-1: 50 of the account's 1000 concurrent executions are "
        "unreserved; Lambda needs at least 100: hooks may be throttled and a function's reservation refused; lower "
        "other functions' reserved concurrency, or raise the quota (Service Quotas: Lambda, Concurrent executions)"
    ]


def test_preflight_refuses_a_release_when_the_account_has_no_room_for_another_load_balancer(
    ready, preflight, local_aws, undo
):
    local_aws.load_balancer_limits["application-load-balancers"] = 1  # web-lb is the one
    undo(local_aws.load_balancer_limits.clear)
    assert preflight(ready.only("web")) == [
        "not-ready load-balancer-quotas: quota application-load-balancers in us-east-1: 1 of 1 in use: an `up` "
        "that adds a service is refused; delete unused ones, or raise the quota (Service Quotas: Elastic Load "
        "Balancing)"
    ]


def test_preflight_refuses_a_release_whose_hook_may_not_report_to_codedeploy(ready, preflight, undo):
    role = f"{HOOKS['BeforeAllowTraffic']}-role"
    versions = allow("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}:*")
    report = allow("codedeploy:PutLifecycleEventHookExecutionStatus", GROUP_ARN.format("greeter", "greeter"))
    put_policy(role, [*reads_releases("greeter"), versions])
    undo(lambda: put_policy(role, [report, *reads_releases("greeter"), versions]))
    assert preflight(ready.only("greeter")) == [
        f"not-ready permissions: role {role} of {HOOKS['BeforeAllowTraffic']}: may not call "
        f"codedeploy:PutLifecycleEventHookExecutionStatus on {GROUP_ARN.format('greeter', 'greeter')} (implicitDeny): "
        "CodeDeploy never hears its verdict: the release hangs for an hour, then fails; allow it in the role's "
        "policies (`pulumi up --refresh` restores what the stack grants)"
    ]


def test_preflight_refuses_a_release_whose_hook_may_not_read_the_release_it_runs_for(ready, preflight, undo):
    role = f"{HOOKS['AfterAllowTraffic']}-role"
    put_policy(role, [{"Effect": "Deny", "Action": "codedeploy:GetApplicationRevision", "Resource": "*"}], "deny")
    undo(lambda: aws("iam").delete_role_policy(RoleName=role, PolicyName="deny"))
    assert preflight(ready.only("greeter")) == [
        f"not-ready permissions: role {role} of {HOOKS['AfterAllowTraffic']}: may not call "
        f"codedeploy:GetApplicationRevision on {APPLICATION_ARN.format('greeter')} (explicitDeny): it reads the "
        "deployment's AppSpec (what the release moves), or fails every release; allow it in the role's policies "
        "(`pulumi up --refresh` restores what the stack grants)"
    ]


def test_preflight_refuses_a_release_whose_judge_may_not_stop_a_bad_release(ready, preflight, undo):
    put_policy(
        f"{WEB_JUDGE}-role", [{"Effect": "Deny", "Action": "codedeploy:StopDeployment", "Resource": "*"}], "deny-stop"
    )
    undo(lambda: aws("iam").delete_role_policy(RoleName=f"{WEB_JUDGE}-role", PolicyName="deny-stop"))
    assert preflight(ready.only("web")) == [
        f"not-ready permissions: role {WEB_JUDGE}-role of {WEB_JUDGE}: may not call codedeploy:StopDeployment on * "
        "(explicitDeny): its verdict stops a bad release with rollback; allow it in the role's policies (`pulumi up --refresh` "
        "restores what the stack grants)"
    ]


def test_preflight_refuses_a_release_whose_hooks_cannot_reach_the_test_listener(ready, preflight, undo):
    ec2, group = aws("ec2"), ready.load_balancer_group
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[tcp(TEST_PORT, VPC_CIDR)])
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(TEST_PORT, PUBLIC[0])])
    undo(lambda: ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(TEST_PORT, VPC_CIDR)]))
    undo(lambda: ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[tcp(TEST_PORT, PUBLIC[0])]))
    [line] = preflight(ready.only("web"))
    assert re.fullmatch(
        rf"not-ready test-listener: test listener web-lb:{TEST_PORT}: its load balancer's security groups "
        rf"\({group}\) do not admit "
        r"subnet-\w+ \(10\.0\.2\.0/24: web-test-traffic-staging, web-judge-staging\); "
        r"subnet-\w+ \(10\.0\.3\.0/24: web-test-traffic-staging, web-judge-staging\) "
        rf"on port {TEST_PORT}: the smoke test and the judge's probes cannot reach green, so every release fails; "
        rf"allow TCP {TEST_PORT} from those subnets' CIDRs, or from the hooks' security groups \(`pulumi up --refresh` restores "
        r"the stack's rules\)",
        line,
    ), line


def test_preflight_refuses_a_release_whose_hooks_may_not_go_out_to_the_test_listener(ready, preflight, undo):
    ec2, group = aws("ec2"), ready.hook_group
    ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[tcp(TEST_PORT, VPC_CIDR)])
    undo(lambda: ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[tcp(TEST_PORT, VPC_CIDR)]))
    assert preflight(ready.only("web")) == [
        f"not-ready test-listener: security group {group} of web-test-traffic-staging, web-judge-staging: lets no "
        f"TCP {TEST_PORT} out to load balancer web-lb (its subnets {', '.join(PUBLIC)}): the smoke test and the "
        f"judge's probes cannot reach green, so every release fails; allow egress on TCP {TEST_PORT} to those "
        "subnets' CIDRs, or to the load balancer's security groups (`pulumi up --refresh` restores the stack's rules)"
    ]


def test_preflight_refuses_a_release_while_another_deployment_is_in_flight(ready, preflight, undo):
    codedeploy = aws("codedeploy")
    deployment = codedeploy.create_deployment(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    )["deploymentId"]
    undo(lambda: codedeploy.stop_deployment(deploymentId=deployment))
    assert preflight(ready.only("greeter")) == [
        f"not-ready in-flight: deployment {deployment}: in flight in greeter/greeter-deploy: CodeDeploy runs one "
        "deployment of a group at a time, and a rollback would race it; wait for it to end (`ops status staging`), "
        "or stop it (`ops rollback staging --service greeter`)"
    ]


def test_preflight_refuses_a_release_whose_codedeploy_role_lacks_its_managed_policy(ready, preflight, undo):
    iam, policy = aws("iam"), "arn:aws:iam::aws:policy/AWSCodeDeployRoleForECSLimited"
    iam.detach_role_policy(RoleName="web-codedeploy", PolicyArn=policy)
    undo(lambda: iam.attach_role_policy(RoleName="web-codedeploy", PolicyArn=policy))
    assert preflight(ready.only("web")) == [
        "not-ready codedeploy-role: role web-codedeploy: carries neither AWSCodeDeployRoleForECSLimited nor "
        "AWSCodeDeployRoleForECS: CodeDeploy cannot move traffic, nor move it back; attach "
        "AWSCodeDeployRoleForECSLimited (`pulumi up --refresh` attaches it)"
    ]


def test_preflight_refuses_a_release_whose_codedeploy_role_may_not_invoke_a_hook(ready, preflight, undo):
    pre_traffic = HOOKS["BeforeAllowTraffic"]
    put_policy("greeter-codedeploy", [invoke([HOOKS["AfterAllowTraffic"]])])
    undo(lambda: put_policy("greeter-codedeploy", [invoke(HOOKS.values())]))
    assert preflight(ready.only("greeter")) == [
        f"not-ready codedeploy-role: role greeter-codedeploy: may not invoke {pre_traffic} (implicitDeny): "
        "BeforeAllowTraffic fails, and every release with it; allow lambda:InvokeFunction on "
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{pre_traffic} (`pulumi up --refresh` restores the grant)"
    ]


# --- a resource that is not there: one line, with what brings it back


def test_a_deleted_deployment_group_is_one_finding(ready, preflight, undo):
    groups = moto_backend("codedeploy").deployment_groups["greeter"]
    group = groups.pop("greeter-deploy")
    undo(lambda: groups.__setitem__("greeter-deploy", group))
    assert preflight(ready.only("greeter")) == [
        "not-ready auto-rollback: deployment group greeter/greeter-deploy: does not exist: nothing releases greeter, "
        "nor rolls a release of it back; run `pulumi up --refresh`, which creates it"
    ]


def test_a_deleted_test_listener_is_one_finding(ready, preflight, undo):
    [balancer] = moto_backend("elbv2").load_balancers.values()
    [test] = [arn for arn, listener in balancer.listeners.items() if listener.port == TEST_PORT]
    listener = balancer.listeners.pop(test)
    undo(lambda: balancer.listeners.__setitem__(test, listener))
    assert preflight(ready.only("web")) == [
        f"not-ready test-listener: test listener {test}: does not exist (named by deployment group web/web-deploy): "
        "the smoke test and the judge's probes cannot reach green, and CodeDeploy cannot route test traffic, so every "
        "release fails; run `pulumi up --refresh`, which creates it"
    ]


def test_a_deleted_load_balancer_security_group_is_one_finding(ready, preflight, undo):
    group_id = ready.load_balancer_group
    [groups] = [groups for groups in moto_backend("ec2").groups.values() if group_id in groups]
    group = groups.pop(group_id)
    undo(lambda: groups.__setitem__(group_id, group))
    assert preflight(ready.only("web")) == [
        f"not-ready test-listener: security group {group_id} of load balancer web-lb: does not exist: the load "
        "balancer admits nothing it should, the test listener's callers included; run `pulumi up --refresh`, which creates it"
    ]


def test_a_deleted_hook_role_is_one_finding(ready, preflight, undo):
    role_name = f"{HOOKS['BeforeAllowTraffic']}-role"
    roles = moto_backend("iam").roles
    [role_id] = [role_id for role_id, role in roles.items() if role.name == role_name]
    role = roles.pop(role_id)
    undo(lambda: roles.__setitem__(role_id, role))
    assert preflight(ready.only("greeter")) == [
        f"not-ready permissions: role {role_name} of {HOOKS['BeforeAllowTraffic']}: does not exist: Lambda cannot "
        "run the function without it, so the release it serves fails; run `pulumi up --refresh`, which creates it"
    ]


def test_a_deleted_deployment_log_is_one_finding(ready, preflight, undo):
    aws("dynamodb").delete_table(TableName=TABLE)
    undo(create_log_table)
    assert preflight(ready.only("greeter")) == [
        f"not-ready deployment-log: table {TABLE}: does not exist: the post-traffic hooks cannot record a release, so "
        "every release fails, and `ops rollback` cannot tell which revisions were rolled back; run `pulumi up --refresh`, which "
        "creates it"
    ]


# --- a read that fails: one line per read, naming what it read


def test_preflight_does_not_read_an_unreadable_alarm_as_fine(ready, preflight, local_aws):
    local_aws.inject("DescribeAlarms", Fault(error="AccessDenied", status=403))
    assert preflight(ready.only("greeter")) == [
        f"unchecked alarms: alarms {GREETER_JUDGE}-silent, {ALARM}: could not read (cloudwatch DescribeAlarms): "
        "AccessDenied: injected fault: DescribeAlarms answered AccessDenied; let the credentials preflight runs with "
        "call cloudwatch:DescribeAlarms"
    ]


def test_a_read_several_checks_need_is_one_unchecked_line_naming_them(ready, preflight, local_aws):
    local_aws.inject("GetDeploymentGroup", Fault(error="AccessDeniedException", status=400))
    assert preflight(ready.only("greeter")) == [
        "unchecked auto-rollback: deployment group greeter/greeter-deploy: could not read (codedeploy "
        "GetDeploymentGroup, needed by auto-rollback, alarms, known-good, in-flight, codedeploy-role, permissions "
        "and policy-size): AccessDeniedException: injected fault: GetDeploymentGroup answered "
        "AccessDeniedException; let the credentials preflight runs with call codedeploy:GetDeploymentGroup"
    ]


# --- outputs that are not what program.py exports


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"services": {"web": {"certificateArn": "web-cert"}}},
            "services.web.certificateArn 'web-cert' is not an ACM certificate ARN "
            "(arn:aws:acm:REGION:ACCOUNT:certificate/ID)",
        ),
        ({"releasePaths": [{"service": "web"}]}, "releasePaths[0] (web): kind None, not one of lambda, ecs"),
        ({"releasePaths": "web"}, "releasePaths is a string, not a list"),
        (
            {"releasePaths": []},
            "they name web but no releasePaths, so preflight cannot tell what to check (outputs of a rollback-guard "
            "from before releasePaths, or of another program): deploy once with --skip-preflight, which exports them",
        ),
    ],
    ids=["certificate not an ARN", "path without kind", "paths not a list", "services without paths"],
)
def test_ops_preflight_of_outputs_it_cannot_read_is_bad_input(change, error):
    outputs = {"environment": "staging", "services": {"web": {}}, "releasePaths": [WEB], **change}
    with pytest.raises(BadOutputs):
        StackExports.from_outputs(outputs)
    assert run("preflight", "staging", stack=FakeStack("staging", outputs)) == (
        2,
        {"error": f"preflight cannot read staging's outputs: {error}"},
    )


# --- ops preflight


def test_ops_preflight_exits_0_for_a_ready_stack(ready, session):
    stack = FakeStack("staging", ready.only("greeter"))
    code, result = run("preflight", "staging", stack=stack, session_factory=lambda region: session)
    assert (code, result) == (0, {"stack": "staging", "ready": True, "verdict": "ready", "findings": []})


def test_ops_preflight_exits_1_with_one_line_per_finding_when_the_stack_is_not_ready(ready, session, undo):
    aws("cloudwatch").delete_alarms(AlarmNames=[ALARM])
    undo(lambda: create_alarm(ALARM))
    out = io.StringIO()
    code = cli.main(
        ["preflight", "staging"],
        stack_factory=lambda name: FakeStack("staging", ready.only("greeter")),
        session_factory=lambda region: session,
        out=out,
        err=io.StringIO(),
    )
    assert code == 1
    assert out.getvalue().splitlines() == [
        "staging: not-ready",
        f"  not-ready alarms: alarm {ALARM}: does not exist: nothing watches for it; run `pulumi up --refresh`, which creates it",
    ]


def test_ops_preflight_exits_3_when_it_could_not_check(ready, local_aws, session, undo):
    local_aws.inject("GetAccountSettings", Fault(error="AccessDeniedException", status=403))
    stack = FakeStack("staging", ready.only("greeter"))
    code, result = run("preflight", "staging", stack=stack, session_factory=lambda region: session)
    assert (code, result["ready"], result["verdict"]) == (3, False, "unchecked")
    assert [finding["line"] for finding in result["findings"]] == [
        "unchecked concurrency: Lambda concurrency in us-east-1: could not read (lambda GetAccountSettings): "
        "AccessDeniedException: injected fault: GetAccountSettings answered AccessDeniedException; let the "
        "credentials preflight runs with call lambda:GetAccountSettings"
    ]


@pytest.mark.parametrize(
    ("stack", "error"),
    [
        ("pipeline", "pipeline is the pipeline stack: it releases no service of its own"),
        ("qa", "no stack file Pulumi.qa.yaml; stacks: pipeline, prod, staging"),
    ],
)
def test_ops_preflight_of_a_stack_it_cannot_check_is_bad_input(stack, error):
    assert run("preflight", stack, stack=FakeStack(stack)) == (2, {"error": error})


# --- docs/preflight.md


def test_the_docs_example_passes_a_ready_stack_and_fails_a_broken_one(ready, session, monkeypatch, capsys, undo):
    page = (Path(__file__).parent.parent / "docs" / "preflight.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    monkeypatch.setattr(boto3, "Session", lambda: session)  # the example's session, already warm

    def exit_code(outputs: dict) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(outputs)))
        with pytest.raises(SystemExit) as ended:
            exec(example, {"__name__": "__main__"})
        return ended.value.code

    assert exit_code(ready.only("greeter")) == 0
    aws("cloudwatch").delete_alarms(AlarmNames=[ALARM])
    undo(lambda: create_alarm(ALARM))
    assert exit_code(ready.only("greeter")) == 1
    assert capsys.readouterr().out == (
        f"not-ready alarms: alarm {ALARM}: does not exist: nothing watches for it; run `pulumi up --refresh`, which creates it\n"
    )
