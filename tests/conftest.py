import functools
import ipaddress
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ops.offline import settled_stack
from rollback_guard.hooks import aws, lifecycle, post_traffic, smoke
from tests.hook_runs import ROLLBACK_ALARMS, create_rollback_alarms
from tests.local_aws import LocalAws
from tests.scenarios import FUNCTION, TABLE, create_log_table, publish_versions
from tests.smoke_targets import SmokeTargets


@pytest.fixture(scope="session")
def settled():
    """A stack as its file says, built once per session: a settled stack is a read-only record."""
    return functools.cache(settled_stack)


@pytest.fixture(scope="module")
def prod(settled):
    return settled("prod")


@pytest.fixture(scope="module")
def staging(settled):
    return settled("staging")


@pytest.fixture(scope="module")
def pipeline_stack(settled):
    return settled("pipeline")


def fresh_hook_clients() -> None:
    """The hooks create their AWS clients once; a test that points AWS elsewhere starts afresh."""
    for cached in (aws.client, lifecycle.status_reports, post_traffic.dynamodb, smoke._lambda_client):
        cached.cache_clear()


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
    return publish_versions()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, and its key: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


@pytest.fixture(scope="session")
def tls_targets(certificate):
    """The same servers over HTTPS, with a certificate only SSL_CERT_FILE vouches for."""
    servers = SmokeTargets(tls=certificate)
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def targets():
    """Real HTTP servers on loopback that answer, fail, hang, reset and send garbage."""
    servers = SmokeTargets()
    yield servers
    servers.stop()


LOAD_BALANCER = "app/web-lb-alb/0123456789abcdef"
TEST_HOST = "web-lb-alb-123.us-east-1.elb.amazonaws.com"


@pytest.fixture
def hook_env(local_aws, monkeypatch):
    """AWS on loopback with the greeter's deployment group, its rollback alarms (OK), its
    deployment log and version 2 answering; the Lambda hooks' environment as
    components/traffic_hooks.py sets it, with no watch after the shift unless a test sets one."""
    local_aws.reset()
    fresh_hook_clients()
    local_aws.functions[(FUNCTION, "2")] = lambda event: {"statusCode": 200, "body": "hello"}
    for name, value in {
        "TARGET_FUNCTION": FUNCTION,
        "CHECK_TIMEOUT_SECONDS": "2",
        "SMOKE_EVENTS": json.dumps([{"name": "hello", "payload": {}, "expect": {"statusCode": 200}}]),
        "SMOKE_ENDPOINTS": "[]",
        "DEPLOYMENT_LOG_TABLE": TABLE,
        "SERVICE_NAME": "greeter",
        "ENVIRONMENT": "staging",
        "ROLLBACK_ALARMS": json.dumps(ROLLBACK_ALARMS),
        "WATCH_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    codedeploy = boto3.client("codedeploy")
    codedeploy.create_application(applicationName="greeter", computePlatform="Lambda")
    codedeploy.create_deployment_group(
        applicationName="greeter",
        deploymentGroupName="greeter-deploy",
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )
    create_log_table()
    create_rollback_alarms()
    return local_aws


@pytest.fixture
def load_balancer_node(hook_env, targets, monkeypatch):
    """A load balancer node's network interface, in moto's EC2, whose private address is the local
    smoke target: what the test-traffic hooks find and call."""
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
