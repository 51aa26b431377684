import json

import boto3
import pytest

from hooks import lifecycle, test_traffic
from ops.offline import settled_stack
from tests.local_aws import LocalAws
from tests.scenarios import FUNCTION, zipped_code
from tests.smoke_targets import SmokeTargets


@pytest.fixture(scope="module")
def prod():
    return settled_stack("prod")


@pytest.fixture(scope="module")
def staging():
    return settled_stack("staging")


@pytest.fixture(scope="session")
def local_aws():
    server = LocalAws()
    url = server.start()
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        patch.setenv(name, value)
    yield server
    patch.undo()
    server.stop()


@pytest.fixture
def codedeploy_groups(local_aws):
    """Clean AWS with the Lambda and ECS deployment groups of the sample stack."""
    local_aws.reset()
    codedeploy = boto3.client("codedeploy")
    for app, platform in (("greeter", "Lambda"), ("web", "ECS")):
        codedeploy.create_application(applicationName=app, computePlatform=platform)
        codedeploy.create_deployment_group(
            applicationName=app,
            deploymentGroupName=f"{app}-deploy",
            serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
            deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        )
    return local_aws


@pytest.fixture
def published_function(codedeploy_groups):
    """A function with versions 1 to 3 published and `live` on version 1, as Pulumi leaves it."""
    role = boto3.client("iam").create_role(
        RoleName="greeter", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    client = boto3.client("lambda")
    client.create_function(
        FunctionName=FUNCTION, Runtime="python3.13", Role=role, Handler="app.handler", Code={"ZipFile": zipped_code(0)}
    )
    for release in (1, 2, 3):  # Lambda publishes a new version only for new code
        client.update_function_code(FunctionName=FUNCTION, ZipFile=zipped_code(release))
        client.publish_version(FunctionName=FUNCTION)
    client.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    return client


@pytest.fixture(scope="session")
def targets():
    """Real HTTP servers on loopback that answer, fail, hang, reset and send garbage."""
    servers = SmokeTargets()
    yield servers
    servers.stop()


LOAD_BALANCER = "app/web-lb-alb/0123456789abcdef"
TEST_HOST = "web-lb-alb-123.us-east-1.elb.amazonaws.com"


@pytest.fixture
def load_balancer_node(local_aws, targets, monkeypatch):
    """A load balancer node's network interface, in moto's EC2, whose private address is the local
    smoke target: what the test-traffic hooks find and call."""
    local_aws.reset()
    for cached in (lifecycle.codedeploy, test_traffic.ec2):
        cached.cache_clear()
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.0.0/24")["Subnet"]["SubnetId"]
    ec2.create_network_interface(SubnetId=subnet, Description=f"ELB {LOAD_BALANCER}", PrivateIpAddress="127.0.0.1")
    monkeypatch.setenv("LOAD_BALANCER", LOAD_BALANCER)
    monkeypatch.setenv("TEST_HOST", TEST_HOST)
    monkeypatch.setenv("TEST_LISTENER_PORT", str(targets.port))
    monkeypatch.setenv("SMOKE_PATHS", json.dumps([{"path": "/health"}]))
    targets.hosts_seen.clear()
    return targets
