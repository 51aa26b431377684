"""Policy for the ECS blue/green release path, checked on both real stacks under mocks."""

import json

import pytest

from ops.offline import build_stack, settled_stack
from rollback_guard.testing import mock_arn, resolved
from tests.scenarios import released_by, web

GROUP = "web-deploy-group"
ALL_ROLLBACK_EVENTS = {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"}
VPC_CIDRS = {"staging": "10.20.0.0/16", "prod": "10.30.0.0/16"}
ROLLBACK_ALARMS = ["web-rollback-5xx-rate", "web-rollback-target-5xx-rate", "web-rollback-unhealthy-hosts"]


@pytest.fixture(params=["staging", "prod"])
def stack(request, staging, prod):
    return {"staging": staging, "prod": prod}[request.param]


def test_prod_deployment_group_rolls_back_on_alarm(prod):
    group = prod.inputs(GROUP)
    assert group["autoRollbackConfiguration"]["enabled"] is True
    assert set(group["autoRollbackConfiguration"]["events"]) == ALL_ROLLBACK_EVENTS
    alarms = group["alarmConfiguration"]
    assert alarms["enabled"] is True
    # The canary judge's heartbeat alarm last (tests/test_canary_judge.py).
    assert alarms["alarms"] == [*ROLLBACK_ALARMS, "web-rollback-latency-anomaly", "web-judge-prod-silent"]
    assert alarms.get("ignorePollAlarmFailure", False) is False, "unreadable alarms must stop a release"


def test_every_stack_releases_blue_green_linear_10_percent_every_minute(stack):
    group = stack.inputs(GROUP)
    assert group["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert group["deploymentConfigName"] == "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    assert group["ecsService"] == {"clusterName": "web-cluster", "serviceName": "web-service"}
    pair = group["loadBalancerInfo"]["targetGroupPairInfo"]
    assert [tg["name"] for tg in pair["targetGroups"]] == ["web-lb-blue", "web-lb-green"]
    assert pair["prodTrafficRoute"]["listenerArns"] == [mock_arn("aws:lb/listener:Listener", "web-lb-prod")]
    assert pair["testTrafficRoute"]["listenerArns"] == [mock_arn("aws:lb/listener:Listener", "web-lb-test")]


def test_prod_keeps_blue_for_at_least_10_minutes(prod):
    blue_green = prod.inputs(GROUP)["blueGreenDeploymentConfig"]
    termination = blue_green["terminateBlueInstancesOnDeploymentSuccess"]
    assert termination["action"] == "TERMINATE"
    assert termination["terminationWaitTimeInMinutes"] >= 10


def test_traffic_shifts_without_waiting_for_approval_unless_configured(stack):
    ready = stack.inputs(GROUP)["blueGreenDeploymentConfig"]["deploymentReadyOption"]
    assert ready == {"actionOnTimeout": "CONTINUE_DEPLOYMENT"}


def test_an_approval_wait_stops_the_release_if_nobody_continues_it():
    staged = settled_stack("staging", **web(deployment={"approvalWaitMinutes": 30}))
    ready = staged.inputs(GROUP)["blueGreenDeploymentConfig"]["deploymentReadyOption"]
    assert ready == {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 30}


def test_a_custom_linear_shift_becomes_a_deployment_config_of_its_own():
    staged = settled_stack(
        "staging", **web(deployment={"config": {"type": "linear", "percentage": 20, "intervalMinutes": 2}})
    )
    config = staged.inputs("web-deploy-shift")
    assert config["computePlatform"] == "ECS"
    assert config["trafficRoutingConfig"] == {
        "type": "TimeBasedLinear",
        "timeBasedLinear": {"percentage": 20, "interval": 2},
    }
    assert staged.inputs(GROUP)["deploymentConfigName"] == config["deploymentConfigName"]
    assert config["deploymentConfigName"] == "web-deploy-staging-linear-20pct-2min", "unique per account and region"


def test_a_custom_canary_shift_uses_time_based_canary():
    staged = settled_stack(
        "staging", **web(deployment={"config": {"type": "canary", "percentage": 10, "intervalMinutes": 5}})
    )
    routing = staged.inputs("web-deploy-shift")["trafficRoutingConfig"]
    assert routing == {"type": "TimeBasedCanary", "timeBasedCanary": {"percentage": 10, "interval": 5}}


def test_extra_alarms_also_stop_a_release():
    staged = settled_stack("staging", **web(alarms={"extraAlarmNames": ["checkout-latency"]}))
    assert staged.inputs(GROUP)["alarmConfiguration"]["alarms"] == [
        *ROLLBACK_ALARMS,
        "checkout-latency",
        "web-judge-staging-silent",
    ]


def test_codedeploy_acts_through_the_limited_managed_ecs_role(stack):
    trust = json.loads(stack.inputs("web-deploy-role")["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "codedeploy.amazonaws.com"}
    assert (
        stack.inputs("web-deploy-role-managed")["policyArn"] == "arn:aws:iam::aws:policy/AWSCodeDeployRoleForECSLimited"
    )


def test_the_service_ignores_what_codedeploy_changes(stack):
    service = stack.registration("web-service")
    assert {"taskDefinition", "loadBalancers", "networkConfiguration"} <= set(service.ignore_changes)
    assert "platformVersion" in service.ignore_changes
    assert service.inputs["deploymentController"] == {"type": "CODE_DEPLOY"}


def test_the_service_starts_on_blue_in_private_subnets(stack):
    service = stack.inputs("web-service")
    assert service["launchType"] == "FARGATE"
    assert service["loadBalancers"] == [
        {
            "containerName": "web",
            "containerPort": 80,
            "targetGroupArn": mock_arn("aws:lb/targetGroup:TargetGroup", "web-lb-blue"),
        }
    ]
    network = service["networkConfiguration"]
    assert network["subnets"] == ["subnet-private-a", "subnet-private-b"]
    assert network["assignPublicIp"] is False


def test_the_listeners_ignore_default_actions(stack):
    for listener, target in (("web-lb-prod", "web-lb-blue"), ("web-lb-test", "web-lb-green")):
        registration = stack.registration(listener)
        assert registration.ignore_changes == ("defaultActions",)
        assert registration.inputs["defaultActions"] == [
            {"type": "forward", "targetGroupArn": mock_arn("aws:lb/targetGroup:TargetGroup", target)}
        ]


def test_tasks_accept_traffic_only_from_the_alb(stack):
    rules = [r for r in stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")]
    into_tasks = [r.inputs for r in rules if r.inputs["securityGroupId"] == "web-tasks-sg-id"]
    assert into_tasks == [
        {
            "securityGroupId": "web-tasks-sg-id",
            "referencedSecurityGroupId": "web-lb-sg-id",
            "ipProtocol": "tcp",
            "fromPort": 80,
            "toPort": 80,
            "description": "requests and health checks from the load balancer",
        }
    ]


def test_the_alb_is_open_on_its_listener_ports_only(stack):
    rules = [r.inputs for r in stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")]
    into_alb = {(r["fromPort"], r["toPort"], r["cidrIpv4"]) for r in rules if r["securityGroupId"] == "web-lb-sg-id"}
    vpc_cidr = VPC_CIDRS[stack.stack]
    # Production serves HTTPS on 443 and redirects HTTP from 80; staging stays on plain HTTP.
    public = {(443, 443, "0.0.0.0/0"), (80, 80, "0.0.0.0/0")} if stack.stack == "prod" else {(80, 80, "0.0.0.0/0")}
    assert into_alb == public | {(8080, 8080, vpc_cidr)}, "the test listener must stay inside the VPC"
    egress = stack.inputs("web-lb-to-targets")
    assert (egress["fromPort"], egress["toPort"], egress["cidrIpv4"]) == (80, 80, vpc_cidr)


def test_the_hooks_in_the_vpc_still_reach_the_test_listener_when_extra_test_cidrs_are_given():
    office = "203.0.113.0/24"
    staged = settled_stack("staging", **web(loadBalancer={"testIngressCidrs": [office]}))
    admitted = {
        rule.inputs["cidrIpv4"]
        for rule in staged.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if rule.inputs["securityGroupId"] == "web-lb-sg-id" and rule.inputs["fromPort"] == 8080
    }
    assert admitted == {VPC_CIDRS["staging"], office}, "the given blocks add to the VPC's own"
    for caller in ("web-test-traffic-sg-id", "web-judge-sg-id"):
        sent = {
            rule.inputs["cidrIpv4"]
            for rule in staged.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
            if rule.inputs["securityGroupId"] == caller and rule.inputs["fromPort"] == 8080
        }
        assert sent and sent <= admitted, f"{caller} calls the test listener from {sent}"


def test_target_groups_register_task_ips_with_health_checks_from_config(stack):
    for color in ("blue", "green"):
        group = stack.inputs(f"web-lb-{color}")
        assert group["targetType"] == "ip"
        assert group["healthCheck"]["path"] == "/"
    assert stack.inputs("web-lb-blue")["healthCheck"]["healthyThreshold"] in (2, 3)


def test_prod_load_balancer_is_protected_from_deletion_and_drops_invalid_headers(prod, staging):
    assert prod.inputs("web-lb-alb")["enableDeletionProtection"] is True
    assert staging.inputs("web-lb-alb")["enableDeletionProtection"] is False
    for stack in (prod, staging):
        assert stack.inputs("web-lb-alb")["dropInvalidHeaderFields"] is True


def test_alarms_evaluate_m_of_n_with_a_minimum_traffic_guard(prod, staging):
    for stack, datapoints, guard in ((prod, 3, 50), (staging, 2, 20)):
        for name in ROLLBACK_ALARMS:
            alarm = stack.inputs(name)
            assert (alarm["datapointsToAlarm"], alarm["evaluationPeriods"]) == (datapoints, 3)
            assert alarm["treatMissingData"] == "notBreaching"
        for name in ROLLBACK_ALARMS[:2]:
            expressions = [q["expression"] for q in stack.inputs(name)["metricQueries"] if "expression" in q]
            assert any(e.startswith("IF(FILL(") and f") >= {guard}," in e for e in expressions), expressions


def test_the_error_rate_is_5xx_over_every_request_received(prod):
    queries = {q["id"]: q for q in prod.inputs("web-rollback-5xx-rate")["metricQueries"]}
    assert {queries[i]["metric"]["metricName"] for i in ("elb5xx", "target5xx", "requests")} == {
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_Target_5XX_Count",
        "RequestCount",
    }
    assert [q["id"] for q in queries.values() if q.get("returnData")] == ["rate"]
    # A 503 for want of healthy targets is not in RequestCount: a dead service must still count.
    # The canary judge's probes are not users' requests.
    assert queries["received"]["expression"] == "FILL(requests, 0) + FILL(elb5xx, 0) - FILL(probes, 0)"
    assert queries["rate"]["expression"] == (
        "IF(FILL(received, 0) >= 50, 100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / received, 0)"
    )
    assert prod.inputs("web-rollback-5xx-rate")["threshold"] == 1


def test_the_worst_target_group_decides_so_a_canary_is_not_diluted(prod):
    queries = {q["id"]: q for q in prod.inputs("web-rollback-target-5xx-rate")["metricQueries"]}
    assert queries["worst"]["expression"] == "MAX([rate0, rate1])"
    groups = {queries[f"requests{i}"]["metric"]["dimensions"]["TargetGroup"] for i in (0, 1)}
    assert groups == {"targetgroup/web-lb-blue/0123456789abcdef", "targetgroup/web-lb-green/0123456789abcdef"}


def test_the_judges_passing_probes_neither_dilute_the_alarms_nor_lift_them_over_their_guard(prod):
    """Green's target group counts the probes the judge sends through the test listener; the judge
    counts them too (RollbackGuard/Judge ProbeRequests), and the alarms take them out again."""
    for alarm, probes, served in (
        ("web-rollback-5xx-rate", ["probes"], "received"),
        ("web-rollback-target-5xx-rate", ["probes0", "probes1"], "served0"),
    ):
        queries = {q["id"]: q for q in prod.inputs(alarm)["metricQueries"]}
        for query_id in probes:
            metric = queries[query_id]["metric"]
            assert (metric["namespace"], metric["metricName"], metric["stat"]) == (
                "RollbackGuard/Judge",
                "ProbeRequests",
                "Sum",
            )
        assert (
            queries[probes[0]]["metric"]["dimensions"]
            == queries[probes[0].replace("probes", "requests")]["metric"]["dimensions"]
        ), "the same load balancer or target group"
        assert queries[served]["expression"].endswith(f"- FILL({probes[0]}, 0)")


def test_alarms_of_a_service_released_without_a_judge_count_every_request():
    built = settled_stack("staging", **released_by("ecs-linear", bakeTimeMinutes=15, stepPercent=10))
    queries = {q["id"]: q for q in built.inputs("web-rollback-target-5xx-rate")["metricQueries"]}
    assert not [query_id for query_id in queries if query_id.startswith("probes")]


def test_the_latency_anomaly_alarm_compares_against_its_band(prod, staging):
    alarm = prod.inputs("web-rollback-latency-anomaly")
    assert alarm["comparisonOperator"] == "GreaterThanUpperThreshold"
    assert alarm["thresholdMetricId"] == "band"
    band = next(q for q in alarm["metricQueries"] if q["id"] == "band")
    assert band["expression"] == "ANOMALY_DETECTION_BAND(latency, 3.0)"
    assert "web-rollback-latency-anomaly" not in staging.monitor.registrations


def test_the_cluster_has_container_insights(stack):
    assert stack.inputs("web-cluster")["settings"] == [{"name": "containerInsights", "value": "enabled"}]


def test_tasks_log_to_their_own_log_group_with_retention(prod, staging):
    assert prod.inputs("web-logs")["retentionInDays"] == 90
    assert staging.inputs("web-logs")["retentionInDays"] == 14
    container = json.loads(prod.inputs("web-task")["containerDefinitions"])[0]
    assert container["image"] == "public.ecr.aws/nginx/nginx:1.27"
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/web-prod"


def test_execution_and_task_roles_are_separate_and_scoped(prod):
    task = prod.inputs("web-task")
    assert task["executionRoleArn"] != task["taskRoleArn"]
    policy = json.loads(prod.inputs("web-execution-policy")["policy"])
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": mock_arn("aws:cloudwatch/logGroup:LogGroup", "web-logs") + ":*",
        }
    ], "a public image needs no ECR permissions"


def test_an_ecr_image_can_be_pulled_from_its_repository_only():
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web"
    staged = settled_stack("staging", **web({"image": image}))
    statements = json.loads(staged.inputs("web-execution-policy")["policy"])["Statement"]
    resources = {s["Resource"] for s in statements}
    assert "arn:aws:ecr:eu-west-1:123456789012:repository/team/web" in resources
    assert [s["Action"] for s in statements if s["Resource"] == "*"] == ["ecr:GetAuthorizationToken"]


def test_an_existing_vpc_is_used_as_is():
    staged = settled_stack(
        "staging",
        network={
            "cidrBlock": None,
            "availabilityZones": None,
            "natGateways": None,
            "vpcId": "vpc-0a1b2c3d",
            "publicSubnetIds": ["subnet-0a000001", "subnet-0a000002"],
            "privateSubnetIds": ["subnet-0b000001", "subnet-0b000002"],
        },
    )
    assert not staged.of_type("awsx:ec2:Vpc")
    assert staged.inputs("web-lb-alb")["subnets"] == ["subnet-0a000001", "subnet-0a000002"]
    assert staged.inputs("web-service")["networkConfiguration"]["subnets"] == ["subnet-0b000001", "subnet-0b000002"]
    assert staged.inputs("web-lb-test-in-0")["cidrIpv4"] == "172.31.0.0/16", "the looked-up VPC's CIDR"


def test_production_serves_https_with_a_current_tls_policy_and_redirects_http(prod):
    listener = prod.inputs("web-lb-prod")
    assert (listener["protocol"], listener["port"]) == ("HTTPS", 443)
    assert listener["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listener["certificateArn"].startswith("arn:aws:acm:us-east-1:")
    redirect = prod.inputs("web-lb-redirect")
    assert (redirect["protocol"], redirect["port"]) == ("HTTP", 80)
    assert redirect["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ]
    assert prod.inputs("web-lb-alb")["dropInvalidHeaderFields"] is True


def test_staging_stays_on_plain_http_without_a_redirect(staging):
    assert staging.inputs("web-lb-prod")["protocol"] == "HTTP"
    assert "web-lb-redirect" not in staging.monitor.registrations


def test_a_new_vpc_has_nat_per_zone_in_prod(prod, staging):
    assert prod.inputs("web-net-vpc")["natGateways"] == {"strategy": "OnePerAz"}
    assert staging.inputs("web-net-vpc")["natGateways"] == {"strategy": "Single"}


def test_exports_name_everything_a_release_needs():
    expected = {
        "url": "https://web-lb-alb.us-east-1.elb.amazonaws.com:443",
        "testUrl": "http://web-lb-alb.us-east-1.elb.amazonaws.com:8080",
        "clusterName": "web-cluster",
        "serviceName": "web-service",
        "strategy": "codedeploy-blue-green",
        "codedeployApplicationName": "web-deploy-app",
        "codedeployApplicationArn": mock_arn("aws:codedeploy/application:Application", "web-deploy-app"),
        "deploymentGroupName": "web-deploy",
        "deploymentGroupArn": mock_arn("aws:codedeploy/deploymentGroup:DeploymentGroup", "web-deploy-group"),
    }

    def check(exports):
        assert {key: exports["services"]["web"][key] for key in expected} == expected
        assert exports["serviceUrl"] == expected["url"], "the pipeline smoke-tests the stack's one service"

    build_stack("prod", then=lambda built: resolved(built.exports).apply(check))


# --- the test-traffic hook: smoke tests against green before production traffic moves


def test_the_test_traffic_hook_runs_in_the_private_subnets(stack):
    function = stack.inputs("web-test-traffic-function")
    assert function["handler"] == "rollback_guard.hooks.test_traffic.handler"
    assert function["vpcConfig"] == {
        "subnetIds": ["subnet-private-a", "subnet-private-b"],
        "securityGroupIds": ["web-test-traffic-sg-id"],
    }
    variables = function["environment"]["variables"]
    assert variables["LOAD_BALANCER"] == "app/web-lb-alb/0123456789abcdef"
    assert variables["TEST_HOST"] == "web-lb-alb.us-east-1.elb.amazonaws.com"
    assert variables["TEST_LISTENER_PORT"] == "8080"
    assert json.loads(variables["SMOKE_PATHS"]) == [{"path": "/", "expectStatus": 200}]


def test_the_test_traffic_hook_may_reach_the_test_listener_and_aws_apis_only(stack):
    egress = {
        (rule.inputs["fromPort"], rule.inputs["cidrIpv4"])
        for rule in stack.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if rule.inputs["securityGroupId"] == "web-test-traffic-sg-id"
    }
    assert egress == {(8080, VPC_CIDRS[stack.stack]), (443, "0.0.0.0/0")}


def test_codedeploy_may_invoke_the_test_traffic_hook(stack):
    grant = stack.inputs("web-test-traffic-invoke")
    assert grant["role"] == "web-deploy-role"
    assert json.loads(grant["policy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [mock_arn("aws:lambda/function:Function", "web-test-traffic-function")],
        }
    ]


def test_the_test_traffic_hook_reports_only_for_its_deployment_group(stack):
    statements = json.loads(stack.inputs("web-test-traffic-policy")["policy"])["Statement"]
    report = next(s for s in statements if "codedeploy:PutLifecycleEventHookExecutionStatus" in s["Action"])
    assert report["Resource"] == mock_arn("aws:codedeploy/deploymentGroup:DeploymentGroup", GROUP)


def test_the_test_listener_stays_http_when_production_is_https():
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    staged = settled_stack("staging", **web(loadBalancer={"certificateArn": certificate, "listenerPort": 443}))
    assert staged.inputs("web-lb-prod")["protocol"] == "HTTPS"
    assert staged.inputs("web-lb-prod")["certificateArn"] == certificate
    assert staged.inputs("web-lb-test")["protocol"] == "HTTP"


def test_every_successful_release_is_recorded_in_the_deployment_log(prod):
    recorder = prod.inputs("web-recorder-function")
    assert recorder["handler"] == "rollback_guard.hooks.post_traffic.handler"
    assert recorder["environment"]["variables"] == {
        "DEPLOYMENT_LOG_TABLE": "prod-deployment-log-table",
        "SERVICE_NAME": "web",
        "ENVIRONMENT": "prod",
        # CodeDeploy itself keeps watching the alarms during blue's termination wait.
        "ROLLBACK_ALARMS": "[]",
        "WATCH_SECONDS": "0",
        # Nor does a release complete that the canary judge has not passed.
        "JUDGE_REQUIRED": "true",
    }
    grant = json.loads(prod.inputs("web-recorder-invoke")["policy"])["Statement"][0]
    assert grant["Resource"] == [mock_arn("aws:lambda/function:Function", "web-recorder-function")]
    assert prod.inputs("web-release")["target"]["hooks"]["AfterAllowTraffic"] == "web-recorder-prod"
