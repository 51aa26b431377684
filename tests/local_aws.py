"""AWS on loopback: moto's server, plus what moto cannot serve here.

- CodeDeploy PutLifecycleEventHookExecutionStatus: moto does not implement it. The hooks' reports
  are recorded here, over real HTTP, so botocore's own retry path handles a throttled report (a
  Stubber would answer before the retry logic runs). A second report for the same hook execution is
  refused with LifecycleEventAlreadyCompletedException, as CodeDeploy refuses it.
- Lambda Invoke: moto runs functions in Docker, which this machine does not have. Invocations run
  the registered Python handler in-process and answer in Lambda's wire format (a raised exception
  becomes `X-Amz-Function-Error: Unhandled` with the error document as payload).

- AppSpec content: AWS's GetDeployment returns an AppSpec's SHA-256 but never its content, which
  GetApplicationRevision returns; moto returns the content and lacks GetApplicationRevision. Here
  both behave as AWS does.
- StopDeployment: moto lacks it; the call is recorded and the deployment marked Stopped.
- GetDeploymentTarget, ListDeploymentTargets, BatchGetDeploymentTargets: moto lacks them; answered
  from the scripted step (below).
  ContinueDeployment: moto lacks it too; answered, the deployment's script moves it on.
- Deployment progress: moto creates CodeDeploy deployments but never runs them. A test scripts the
  next deployment's life (`script_next_deployment`): each GetDeployment advances one step, whose
  status is written into moto's own model (so ListDeployments filters on it) and whose
  errorInformation, rollbackInfo and deployment targets (traffic weights, lifecycle events; moto
  has no deployment-target API) are laid over moto's answers. The rollback deployment a step names
  (rollbackInfo.rollbackDeploymentId) answers GetDeployment with its outcome in
  `rollback_outcomes` (Succeeded unless a test says otherwise).

- CloudWatch GetMetricData with a percentile statistic (p90): moto computes Sum, Average, Minimum,
  Maximum and SampleCount only. Percentiles are computed here from the values put with
  PutMetricData (nearest rank, per period); every other query goes to moto.
  moto answers every query Complete on one page. CloudWatch answers each query with its own
  StatusCode and may page: here a test can have a query answered InternalError or Forbidden (no
  values, a message), or left out of the answer (`metric_status`), and a query's datapoints split
  over pages (`page_metric`): each page but its last PartialData, with a NextToken for the next.
- Lambda Invoke with InvocationType Event (the canary judge's continuation): recorded in
  `async_invocations` and answered 202, as Lambda queues it; not run.
- EventBridge PutEvents: the entries are recorded in `put_events`, then moto takes them.
- A deployment's state can also be set at once (`play`), for a test that moves it on by its clock.
- CodeDeploy GetDeploymentGroup: moto answers an empty alarmConfiguration; here it is the one the
  group was created with, as AWS answers.

- Lambda GetAccountSettings: moto lacks it. Answered from `lambda_concurrency_quota` (the account's
  concurrent executions; AWS's default unless a test lowers it) less every function's reserved
  concurrency in moto, as Lambda counts UnreservedConcurrentExecutions.
- IAM SimulatePrincipalPolicy: moto lacks it. A role's inline and attached policies in moto, and its
  permissions boundary, are evaluated for each action and resource as IAM does for one account:
  an explicit Deny wins, else an Allow (within the boundary) allows, else the request is implicitly
  denied. As IAM answers today, each action has one result, the most restrictive decision of its
  resources, and each resource's own in ResourceSpecificResults. Actions and resources match with IAM's wildcards; conditions with String and Arn
  Equals/Like on the context entries given (any other operator, or a key not given, does not match).
- ELBv2 DescribeAccountLimits: moto answers AWS's default quotas, fixed; an account's may be lower
  or higher. Here `load_balancer_limits` (by quota name) is laid over moto's answer.
- IAM's AWS managed policies: moto loads its ~1,300 only on request, slowly. The ones CodeDeploy's
  service roles carry (`CODEDEPLOY_MANAGED_POLICIES`) are there from the start, as in every account.

Everything else (DynamoDB, Lambda aliases, ECS, CloudWatch, CodeDeploy create/list/get) is moto's
server, unchanged.

Faults (`inject`): any operation, by its API name, can be answered with an AWS error instead, be
delayed, or be carried out with its answer lost (the caller sees a 500 and cannot tell whether it
landed), each for the next N calls.
"""

from __future__ import annotations

import functools
import hashlib
import html
import io
import json
import math
import re
import threading
import time
import traceback
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
# Lambda's REST operations by method and path, so faults can name them.
_LAMBDA_ROUTES = {
    ("GET", r"/2015-03-31/functions/[^/]+"): "GetFunction",
    ("GET", r"/2015-03-31/functions/[^/]+/configuration"): "GetFunctionConfiguration",
    ("PUT", r"/2015-03-31/functions/[^/]+/configuration"): "UpdateFunctionConfiguration",
    ("PUT", r"/2015-03-31/functions/[^/]+/code"): "UpdateFunctionCode",
    ("POST", r"/2015-03-31/functions/[^/]+/versions"): "PublishVersion",
    ("GET", r"/2015-03-31/functions/[^/]+/aliases/[^/]+"): "GetAlias",
    ("PUT", r"/2015-03-31/functions/[^/]+/aliases/[^/]+"): "UpdateAlias",
    ("GET", r"/2016-08-19/account-settings/?"): "GetAccountSettings",
}
_CODEDEPLOY = "CodeDeploy_20141006."
_STATUS_TARGET = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"
_METRIC_DATA_TARGET = "GraniteServiceVersion20100801.GetMetricData"
_PUT_EVENTS_TARGET = "AWSEvents.PutEvents"
_PERCENTILE = re.compile(r"p(?P<rank>\d+(\.\d+)?)")
_JSON = [("Content-Type", "application/x-amz-json-1.1")]
# Fields of a scripted step laid over moto's deployment document.
_OVERLAID = ("errorInformation", "rollbackInfo", "instanceTerminationWaitTimeStarted", "creator")
_ALREADY_COMPLETED = "LifecycleEventAlreadyCompletedException"
# Deployment ids per ListDeployments page (CodeDeploy's page size is larger; small finds paging bugs).
LIST_PAGE = 10
# Lambda's default concurrent executions per account and region.
LAMBDA_CONCURRENCY_QUOTA = 1_000
# The AWS managed policies CodeDeploy's service roles carry (components/codedeploy.py).
CODEDEPLOY_MANAGED_POLICIES = ("AWSCodeDeployRoleForLambdaLimited", "AWSCodeDeployRoleForECSLimited")
_REGION = re.compile(r"Credential=[^/]+/\d+/(?P<region>[^/]+)/")
_IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
_ELBV2_VERSION = "2015-12-01"
# A GetMetricData query left out of the answer (`LocalAws.metric_status`).
OMITTED = "omitted"
# IAM's decisions, the most restrictive first.
_DECISIONS = ("explicitDeny", "implicitDeny", "allowed")


@dataclass(frozen=True)
class Fault:
    """What happens to one call: an AWS `error` code (with an HTTP `status`) instead of the answer,
    a `delay` in seconds before it, or `lose_answer`: carried out, then answered with a 500."""

    error: str | None = None
    status: int = 400
    delay: float = 0.0
    lose_answer: bool = False


def throttled() -> Fault:
    return Fault(error="ThrottlingException")


@dataclass
class LocalAws:
    status_reports: list[dict] = field(default_factory=list)
    # How many of the next status reports to answer with ThrottlingException.
    throttle_next_reports: int = 0
    throttled_reports: int = 0
    functions: dict[tuple[str, str], Callable[[Any], Any]] = field(default_factory=dict)
    # How many of the next GetDeployment calls to answer with ThrottlingException.
    throttle_next_polls: int = 0
    _pending_script: list[dict] | None = None
    _scripts: dict[str, list[dict]] = field(default_factory=dict)
    _steps: dict[str, dict] = field(default_factory=dict)
    _appspecs: dict[str, str] = field(default_factory=dict)
    stopped_deployments: list[dict] = field(default_factory=list)
    # Every CreateDeployment request, as sent.
    created_deployments: list[dict] = field(default_factory=list)
    # CodeDeploy's own rollback deployments, named by scripted steps: their final status.
    rollback_outcomes: dict[str, str] = field(default_factory=dict)
    # Per operation name (GetDeployment, PutItem, Invoke, ...): the faults of its next calls.
    faults: dict[str, list[Fault | None]] = field(default_factory=dict)
    # Operation names in the order they were called.
    calls: list[str] = field(default_factory=list)
    # Lambda invocations of InvocationType Event: {"function", "qualifier", "payload"}, not run.
    async_invocations: list[dict] = field(default_factory=list)
    # Every entry of every EventBridge PutEvents, with its Detail parsed.
    put_events: list[dict] = field(default_factory=list)
    # The account's Lambda concurrent executions (GetAccountSettings' ConcurrentExecutions).
    lambda_concurrency_quota: int = LAMBDA_CONCURRENCY_QUOTA
    # Elastic Load Balancing quotas other than moto's fixed ones, by name ("target-groups": 3000, ...).
    load_balancer_limits: dict[str, int] = field(default_factory=dict)
    # GetMetricData, per query Id: the StatusCode of its next answers (None: as moto answers it).
    metric_statuses: dict[str, list[str | None]] = field(default_factory=dict)
    # GetMetricData, per query Id: how many pages its datapoints are split over.
    metric_pages: dict[str, int] = field(default_factory=dict)

    def inject(self, operation: str, fault: Fault, times: int = 1, after: int = 0) -> None:
        """The next `times` calls of `operation`, once `after` more have gone through, meet `fault`."""
        self.faults.setdefault(operation, []).extend([None] * after + [fault] * times)

    def metric_status(self, query_id: str, status: str, times: int = 1, after: int = 0) -> None:
        """GetMetricData's next `times` answers to query `query_id` (a page is an answer), once
        `after` more have gone through, say StatusCode `status` with no values and a message, as
        CloudWatch answers a query it could not read (InternalError, Forbidden); with OMITTED, the
        query is left out of the answer."""
        self.metric_statuses.setdefault(query_id, []).extend([None] * after + [status] * times)

    def page_metric(self, query_id: str, pages: int) -> None:
        """GetMetricData answers query `query_id`'s datapoints over `pages` pages, in order: each page
        but the last says PartialData and carries a NextToken; the other queries are on the first."""
        self.metric_pages[query_id] = pages

    def script_next_deployment(self, steps: list[dict]) -> None:
        """The life of the next deployment polled: one step per GetDeployment, the last repeated.
        A step is {"status": ..., and any of errorInformation, rollbackInfo,
        instanceTerminationWaitTimeStarted, targets: [deployment target documents]}."""
        self._pending_script = list(steps)
        for step in steps:
            rollback = (step.get("rollbackInfo") or {}).get("rollbackDeploymentId")
            if rollback:
                self.rollback_outcomes.setdefault(rollback, "Succeeded")

    def play(self, deployment_id: str, step: dict) -> None:
        """The deployment is now in `step` (as a scripted step: status, targets, ...), until a test
        plays another; GetDeployment no longer moves it on."""
        self._scripts.pop(deployment_id, None)
        self._steps[deployment_id] = step
        _moto_deployment(deployment_id).status = step["status"]

    def start(self) -> str:
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=MotoRequestHandler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        _add_codedeploy_managed_policies()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()

    def reset(self) -> None:
        self.status_reports.clear()
        self.functions.clear()
        self.throttle_next_reports = self.throttled_reports = self.throttle_next_polls = 0
        self._pending_script = None
        self._scripts.clear()
        self._steps.clear()
        self._appspecs.clear()
        self.stopped_deployments.clear()
        self.created_deployments.clear()
        self.faults.clear()
        self.calls.clear()
        self.rollback_outcomes.clear()
        self.async_invocations.clear()
        self.put_events.clear()
        self.lambda_concurrency_quota = LAMBDA_CONCURRENCY_QUOTA
        self.load_balancer_limits.clear()
        self.metric_statuses.clear()
        self.metric_pages.clear()
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=5).close()
        _add_codedeploy_managed_policies()

    def _app(self, environ, start_response):
        body = _body(environ)
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        operation = _operation(environ, body)
        self.calls.append(operation)
        pending = self.faults.get(operation)
        fault = pending.pop(0) if pending else None
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.error:
            return _error(environ, start_response, operation, fault.error, fault.status)
        if fault and fault.lose_answer:
            self._route(environ, lambda status, headers, exc_info=None: None, operation)
            return _error(environ, start_response, operation, "InternalFailure", 500)
        return self._route(environ, start_response, operation)

    def _route(self, environ, start_response, operation: str):
        if operation == "GetAccountSettings":
            return self._lambda_account_settings(environ, start_response)
        if operation == "SimulatePrincipalPolicy":
            return self._simulate_principal_policy(environ, start_response)
        if operation == "DescribeAccountLimits":
            return self._describe_account_limits(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == _STATUS_TARGET:
            return self._report_status(environ, start_response)
        if target == _METRIC_DATA_TARGET:
            return self._get_metric_data(environ, start_response)
        if target == _PUT_EVENTS_TARGET:
            body = _body(environ)
            environ = {**environ, "wsgi.input": io.BytesIO(body)}  # moto reads it again
            request = json.loads(body)
            self.put_events += [
                {**entry, "Detail": json.loads(entry.get("Detail", "{}"))} for entry in request["Entries"]
            ]
            return self._moto(environ, start_response)
        if target.startswith(_CODEDEPLOY):
            handler = getattr(self, f"_codedeploy_{operation}", None)
            if handler is not None:
                return handler(environ, start_response)
        invoke = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if invoke and environ["REQUEST_METHOD"] == "POST":
            return self._invoke(invoke["name"], environ, start_response)
        return self._moto(environ, start_response)

    def _report_status(self, environ, start_response):
        body = json.loads(_body(environ))
        if self.throttle_next_reports:
            self.throttle_next_reports -= 1
            self.throttled_reports += 1
            return _throttled(start_response)
        execution = body["lifecycleEventHookExecutionId"]
        if any(report["lifecycleEventHookExecutionId"] == execution for report in self.status_reports):
            message = f"The lifecycle event hook execution {execution} has already completed"
            return _error(
                environ, start_response, "PutLifecycleEventHookExecutionStatus", _ALREADY_COMPLETED, 400, message
            )
        self.status_reports.append({**body, "at": time.monotonic()})
        return _json(start_response, {"lifecycleEventHookExecutionId": body["lifecycleEventHookExecutionId"]})

    def _codedeploy_CreateDeployment(self, environ, start_response):
        request = json.loads(_body(environ))
        self.created_deployments.append(request)
        spec = (request.get("revision") or {}).get("appSpecContent")
        if spec is not None:  # AWS hashes the content itself when the caller sends none
            spec.setdefault("sha256", hashlib.sha256(spec["content"].encode()).hexdigest())
            self._appspecs[spec["sha256"]] = spec["content"]
        return _json(start_response, self._forward(environ, json.dumps(request).encode()))

    def _codedeploy_StopDeployment(self, environ, start_response):
        """moto lacks it: the deployment is marked Stopped, as CodeDeploy does once the rollback runs."""
        request = json.loads(_body(environ))
        self.stopped_deployments.append(request)
        _moto_deployment(request["deploymentId"]).status = "Stopped"
        return _json(start_response, {"status": "Succeeded", "statusMessage": "stopped with rollback"})

    def _codedeploy_ContinueDeployment(self, environ, start_response):
        """moto lacks it: the deployment's script moves it on."""
        return _json(start_response, {})

    def _codedeploy_GetApplicationRevision(self, environ, start_response):
        request = json.loads(_body(environ))
        sha256 = request["revision"]["appSpecContent"]["sha256"]
        revision = {
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": self._appspecs[sha256], "sha256": sha256},
        }
        return _json(start_response, {"applicationName": request["applicationName"], "revision": revision})

    def _codedeploy_GetDeployment(self, environ, start_response):
        body = _body(environ)
        if self.throttle_next_polls:
            self.throttle_next_polls -= 1
            return _throttled(start_response)
        deployment_id = json.loads(body)["deploymentId"]
        if deployment_id in self.rollback_outcomes:
            status = self.rollback_outcomes[deployment_id]
            info = {"deploymentId": deployment_id, "status": status, "creator": "codeDeployRollback"}
            if status != "Succeeded":
                info["errorInformation"] = {"code": "INTERNAL_ERROR", "message": "the rollback could not complete"}
            return _json(start_response, {"deploymentInfo": info})
        if deployment_id not in self._scripts and self._pending_script:
            self._scripts[deployment_id], self._pending_script = self._pending_script, None
        script = self._scripts.get(deployment_id)
        if script:
            step = script.pop(0) if len(script) > 1 else script[0]
            self._steps[deployment_id] = step
            _moto_deployment(deployment_id).status = step["status"]
        answer = self._forward(environ, body)
        self._overlay(answer["deploymentInfo"])
        return _json(start_response, answer)

    def _codedeploy_GetDeploymentGroup(self, environ, start_response):
        """moto answers an empty alarmConfiguration: here, the one the group was created with."""
        body = _body(environ)
        request = json.loads(body)
        group = _moto_deployment_group(request["applicationName"], request["deploymentGroupName"])
        if group is None:  # moto's own answer: the group does not exist
            return self._moto({**environ, "wsgi.input": io.BytesIO(body)}, start_response)
        answer = self._forward(environ, body)
        answer["deploymentGroupInfo"]["alarmConfiguration"] = group.alarm_configuration or {
            "enabled": False,
            "alarms": [],
        }
        return _json(start_response, answer)

    def _codedeploy_ListDeployments(self, environ, start_response):
        """Pages of LIST_PAGE ids, as CodeDeploy pages them (moto answers with one page)."""
        request = json.loads(_body(environ))
        start = int(request.pop("nextToken", 0) or 0)
        ids = self._forward(environ, json.dumps(request).encode())["deployments"]
        page = {"deployments": ids[start : start + LIST_PAGE]}
        if start + LIST_PAGE < len(ids):
            page["nextToken"] = str(start + LIST_PAGE)
        return _json(start_response, page)

    def _codedeploy_BatchGetDeployments(self, environ, start_response):
        body = _body(environ)
        if len(json.loads(body)["deploymentIds"]) > 25:
            message = "The maximum number of deployment IDs you can specify is 25"
            return _error(environ, start_response, "BatchGetDeployments", "BatchLimitExceededException", 400, message)
        answer = self._forward(environ, body)
        for info in answer.get("deploymentsInfo", []):
            self._overlay(info)
        return _json(start_response, answer)

    def _codedeploy_ListDeploymentTargets(self, environ, start_response):
        step = self._steps.get(json.loads(_body(environ))["deploymentId"], {})
        return _json(start_response, {"targetIds": [t["deploymentTargetId"] for t in step.get("targets", [])]})

    def _codedeploy_BatchGetDeploymentTargets(self, environ, start_response):
        step = self._steps.get(json.loads(_body(environ))["deploymentId"], {})
        return _json(start_response, {"deploymentTargets": step.get("targets", [])})

    def _codedeploy_GetDeploymentTarget(self, environ, start_response):
        request = json.loads(_body(environ))
        targets = self._steps.get(request["deploymentId"], {}).get("targets", [])
        found = [target for target in targets if target["deploymentTargetId"] == request["targetId"]]
        if not found:
            message = f"no target {request['targetId']} in deployment {request['deploymentId']}"
            return _error(
                environ, start_response, "GetDeploymentTarget", "DeploymentTargetDoesNotExistException", 400, message
            )
        return _json(start_response, {"deploymentTarget": found[0]})

    def _overlay(self, info: dict) -> None:
        step = self._steps.get(info.get("deploymentId"), {})
        info.update({key: step[key] for key in _OVERLAID if key in step})
        # AWS never returns the AppSpec's content here, only its hash (moto returns both).
        (info.get("revision") or {}).get("appSpecContent", {}).pop("content", None)

    def _forward(self, environ, body: bytes) -> dict:
        """moto's answer to this request, as JSON."""
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        chunks = self._moto(environ, lambda status, headers, exc_info=None: None)
        return json.loads(b"".join(chunks))

    def _get_metric_data(self, environ, start_response):
        """Percentile queries answered here, the others by moto; then the page asked for, each query
        with the status a test chose (see the module docstring)."""
        request = json.loads(_body(environ))
        page = int(request.pop("NextToken", None) or 0)  # this server's tokens are page numbers
        queries = request["MetricDataQueries"]
        percentiles = [q for q in queries if _PERCENTILE.fullmatch(q.get("MetricStat", {}).get("Stat", ""))]
        others = [q for q in queries if q not in percentiles]
        answer = {"MetricDataResults": [], "Messages": []}
        if others:
            answer = self._forward(environ, json.dumps({**request, "MetricDataQueries": others}).encode())
        start, end = float(request["StartTime"]), float(request["EndTime"])
        answer["MetricDataResults"] += [_percentile_result(query, start, end) for query in percentiles]
        pages = max(self.metric_pages.get(query["Id"], 1) for query in queries)
        if page + 1 < pages:
            answer["NextToken"] = str(page + 1)
        on_page = [self._page_of(result, page) for result in answer["MetricDataResults"]]
        answer["MetricDataResults"] = [
            answered for result in on_page if result is not None and (answered := self._as_chosen(result)) is not None
        ]
        answer.setdefault("Messages", [])
        return _json(start_response, answer)

    def _page_of(self, result: dict, page: int) -> dict | None:
        """The part of a query's result on `page` (None once its pages are over), PartialData while
        more of it follows."""
        pages = self.metric_pages.get(result["Id"], 1)
        if page >= pages:
            return None
        count = len(result["Timestamps"])
        part = slice(page * count // pages, (page + 1) * count // pages)
        status = "PartialData" if page + 1 < pages else result["StatusCode"]
        return {
            **result,
            "Timestamps": result["Timestamps"][part],
            "Values": result["Values"][part],
            "StatusCode": status,
        }

    def _as_chosen(self, result: dict) -> dict | None:
        """A query's result as the test chose its next answer: as is, left out (None), or a status
        without values."""
        pending = self.metric_statuses.get(result["Id"])
        status = pending.pop(0) if pending else None
        if status is None:
            return result
        if status == OMITTED:
            return None
        message = {"Code": status, "Value": f"injected: query {result['Id']} answered {status}"}
        return {**result, "Timestamps": [], "Values": [], "StatusCode": status, "Messages": [message]}

    def _lambda_account_settings(self, environ, start_response):
        """The account's concurrency as Lambda reports it: the quota, and what reservations leave."""
        from moto.awslambda.models import lambda_backends

        region = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))["region"]
        functions = list(lambda_backends[DEFAULT_ACCOUNT_ID][region].list_functions())
        reserved = sum(int(function.reserved_concurrency or 0) for function in functions)
        limit = {
            "ConcurrentExecutions": self.lambda_concurrency_quota,
            "UnreservedConcurrentExecutions": self.lambda_concurrency_quota - reserved,
        }
        return _json(start_response, {"AccountLimit": limit, "AccountUsage": {"FunctionCount": len(functions)}})

    def _describe_account_limits(self, environ, start_response):
        """moto's quotas, with `load_balancer_limits` laid over them (Classic ELB's go to moto)."""
        body = _body(environ)
        environ = {**environ, "wsgi.input": io.BytesIO(body)}
        if urllib.parse.parse_qs(body.decode()).get("Version") != [_ELBV2_VERSION]:
            return self._moto(environ, start_response)
        answer = b"".join(self._moto(environ, lambda status, headers, exc_info=None: None)).decode()
        for name, limit in self.load_balancer_limits.items():
            answer = re.sub(rf"(<Name>{re.escape(name)}</Name>\s*<Max>)\d+(</Max>)", rf"\g<1>{limit}\g<2>", answer)
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [answer.encode()]

    def _simulate_principal_policy(self, environ, start_response):
        """Each action on each resource, decided by the role's policies (see the module docstring)."""
        from moto.iam.exceptions import NotFoundException
        from moto.iam.models import iam_backends

        request = urllib.parse.parse_qs(_body(environ).decode())
        backend = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
        role_arn = request["PolicySourceArn"][0]
        try:
            role = backend.get_role_by_arn(role_arn)
        except NotFoundException:
            message = f"The role with ARN {role_arn} cannot be found."
            return _error(environ, start_response, "SimulatePrincipalPolicy", "NoSuchEntity", 404, message)
        identity = [json.loads(document) for document in role.policies.values()]
        identity += [_default_document(policy) for policy in role.managed_policies.values()]
        boundary = (
            [_default_document(backend.get_policy(role.permissions_boundary_arn))]
            if role.permissions_boundary_arn
            else None
        )
        context = _context_entries(request)
        results = []
        for action in _members(request, "ActionNames"):
            decisions = {}
            for resource in _members(request, "ResourceArns") or ["*"]:
                decision = _decision(identity, action, resource, context)
                if decision == "allowed" and boundary and _decision(boundary, action, resource, context) != "allowed":
                    decision = "implicitDeny"
                decisions[resource] = decision
            # One result per action, its decision the most restrictive of its resources', as IAM answers now.
            worst = min(decisions.values(), key=_DECISIONS.index)
            per_resource = "".join(
                f"<member><EvalResourceName>{html.escape(resource)}</EvalResourceName>"
                f"<EvalResourceDecision>{decision}</EvalResourceDecision></member>"
                for resource, decision in decisions.items()
            )
            results.append(
                f"<member><EvalActionName>{html.escape(action)}</EvalActionName>"
                f"<EvalResourceName>{html.escape(next(iter(decisions)))}</EvalResourceName>"
                f"<EvalDecision>{worst}</EvalDecision>"
                f"<ResourceSpecificResults>{per_resource}</ResourceSpecificResults></member>"
            )
        document = (
            f'<SimulatePrincipalPolicyResponse xmlns="{_IAM_XMLNS}"><SimulatePrincipalPolicyResult>'
            f"<IsTruncated>false</IsTruncated><EvaluationResults>{''.join(results)}</EvaluationResults>"
            "</SimulatePrincipalPolicyResult></SimulatePrincipalPolicyResponse>"
        )
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [document.encode()]

    def _invoke(self, name: str, environ, start_response):
        qualifier = dict(pair.split("=", 1) for pair in environ.get("QUERY_STRING", "").split("&") if "=" in pair).get(
            "Qualifier", "$LATEST"
        )
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event":
            payload = json.loads(_body(environ) or b"{}")
            self.async_invocations.append(
                {"function": urllib.parse.unquote(name), "qualifier": qualifier, "payload": payload}
            )
            start_response("202 Accepted", [("Content-Type", "application/json")])
            return [b""]
        handler = self.functions.get((name, qualifier))
        headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", qualifier)]
        if handler is None:
            error = {"Type": "User", "message": f"Function not found: {name}:{qualifier}"}
            start_response("404 Not Found", [*headers, ("x-amzn-ErrorType", "ResourceNotFoundException")])
            return [json.dumps(error).encode()]
        try:
            payload = json.dumps(handler(json.loads(_body(environ) or b"{}"))).encode()
        except Exception as error:
            payload = json.dumps(
                {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "stackTrace": traceback.format_tb(error.__traceback__),
                }
            ).encode()
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", headers)
        return [payload]


def _body(environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _json(start_response, document: dict) -> list[bytes]:
    start_response("200 OK", _JSON)
    return [json.dumps(document, default=str).encode()]


def _operation(environ, body: bytes) -> str:
    """The API name of a request: from X-Amz-Target (JSON protocols), Action (EC2's query protocol)
    or the path (Lambda)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
    if _INVOKE_PATH.match(path) and method == "POST":
        return "Invoke"
    for (route_method, route), name in _LAMBDA_ROUTES.items():
        if method == route_method and re.fullmatch(route, path):
            return name
    action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
    return action[0] if action else f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"


def _error(environ, start_response, operation: str, code: str, status: int, message: str = "") -> list[bytes]:
    """An AWS error answer in the protocol the caller speaks."""
    message = message or f"injected fault: {operation} answered {code}"
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}.get(status, "Error")
    if environ.get("HTTP_X_AMZ_TARGET"):
        start_response(f"{status} {reason}", _JSON)
        return [json.dumps({"__type": code, "message": message}).encode()]
    if operation == "Invoke" or operation in _LAMBDA_ROUTES.values():
        start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)])
        return [json.dumps({"message": message}).encode()]
    start_response(f"{status} {reason}", [("Content-Type", "text/xml")])
    document = f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors></Response>"
    return [document.encode()]


def _throttled(start_response) -> list[bytes]:
    start_response("400 Bad Request", _JSON)
    return [json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()]


def _moto_deployment(deployment_id: str):
    from moto.codedeploy.models import codedeploy_backends

    for regions in codedeploy_backends.values():
        for backend in regions.values():
            if deployment_id in backend.deployments:
                return backend.deployments[deployment_id]
    raise KeyError(f"moto has no deployment {deployment_id}")


def _moto_deployment_group(application: str, name: str):
    from moto.codedeploy.models import codedeploy_backends

    for regions in codedeploy_backends.values():
        for backend in regions.values():
            if name in backend.deployment_groups.get(application, {}):
                return backend.deployment_groups[application][name]
    return None


def _add_codedeploy_managed_policies() -> None:
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for name, data in _codedeploy_managed_policies().items():
        policy = AWSManagedPolicy.from_data(name, DEFAULT_ACCOUNT_ID, "us-east-1", data)
        backend.managed_policies.setdefault(policy.arn, policy)


@functools.cache
def _codedeploy_managed_policies() -> dict[str, dict]:
    """moto's data for CODEDEPLOY_MANAGED_POLICIES, parsed once: all of it is megabytes of JSON."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    documents = json.loads(aws_managed_policies_data)
    return {name: documents[name] for name in CODEDEPLOY_MANAGED_POLICIES}


def _members(request: dict[str, list[str]], name: str) -> list[str]:
    """A query-protocol list: Name.member.1, Name.member.2, ..."""
    found = [
        (int(key.rsplit(".", 1)[-1]), values[0]) for key, values in request.items() if key.startswith(f"{name}.member.")
    ]
    return [value for _, value in sorted(found)]


def _context_entries(request: dict[str, list[str]]) -> dict[str, list[str]]:
    """SimulatePrincipalPolicy's ContextEntries, by key (IAM's keys are case-insensitive)."""
    entries = {}
    for key, values in request.items():
        match = re.fullmatch(r"ContextEntries\.member\.(\d+)\.ContextKeyName", key)
        if match:
            entries[values[0].lower()] = _members(request, f"ContextEntries.member.{match[1]}.ContextKeyValues")
    return entries


def _default_document(policy) -> dict:
    return json.loads(next(version.document for version in policy.versions if version.is_default))


def _decision(policies: list[dict], action: str, resource: str, context: dict[str, list[str]]) -> str:
    """IAM's decision for one account: explicitDeny, allowed or implicitDeny."""
    effects = {
        statement["Effect"]
        for policy in policies
        for statement in _as_list(policy.get("Statement"))
        if _applies(statement, action, resource, context)
    }
    return "explicitDeny" if "Deny" in effects else "allowed" if "Allow" in effects else "implicitDeny"


def _applies(statement: dict, action: str, resource: str, context: dict[str, list[str]]) -> bool:
    """Whether a statement speaks of this action on this resource in this context."""
    actions = any(_wildcard(p, action, ignore_case=True) for p in _as_list(statement.get("Action")))
    if "NotAction" in statement:
        actions = not any(_wildcard(p, action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    resources = any(_wildcard(p, resource) for p in _as_list(statement.get("Resource")))
    if "NotResource" in statement:
        resources = not any(_wildcard(p, resource) for p in _as_list(statement["NotResource"]))
    conditions = (statement.get("Condition") or {}).items()
    return (
        actions
        and resources
        and all(
            _condition_holds(op, key, _as_list(wanted), context)
            for op, keys in conditions
            for key, wanted in keys.items()
        )
    )


def _condition_holds(operator: str, key: str, wanted: list[str], context: dict[str, list[str]]) -> bool:
    given = context.get(key.lower())
    if given is None or operator not in ("StringEquals", "StringLike", "ArnEquals", "ArnLike"):
        return False
    like = operator.endswith("Like")
    return any(_wildcard(pattern, value) if like else pattern == value for pattern in wanted for value in given)


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: * any run of characters, ? any one."""
    expression = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(expression, value, flags=re.IGNORECASE if ignore_case else 0) is not None


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _percentile_result(query: dict, start: float, end: float) -> dict:
    """A percentile of the values put for a metric, per period from `start` (nearest rank), as
    CloudWatch answers a MetricStat query: periods without values are left out."""
    from moto.cloudwatch.models import MetricDatum, cloudwatch_backends

    stat = query["MetricStat"]
    metric, period = stat["Metric"], int(stat["Period"])
    rank = float(_PERCENTILE.fullmatch(stat["Stat"])["rank"]) / 100
    wanted = {(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])}
    values: dict[float, list[float]] = {}
    for regions in cloudwatch_backends.values():
        for backend in regions.values():
            for datum in backend.metric_data:
                moment = _epoch(datum.timestamp)
                if (
                    isinstance(datum, MetricDatum)
                    and (datum.namespace, datum.name) == (metric["Namespace"], metric["MetricName"])
                    and {(d.name, d.value) for d in datum.dimensions} == wanted
                    and start <= moment < end
                ):
                    values.setdefault(start + (moment - start) // period * period, []).append(datum.value)
    moments = sorted(values)
    picked = [sorted(values[m])[max(0, math.ceil(rank * len(values[m])) - 1)] for m in moments]
    return {
        "Id": query["Id"],
        "Label": query.get("Label", stat["Stat"]),
        "Timestamps": moments,
        "Values": picked,
        "StatusCode": "Complete",
    }


def _epoch(moment) -> float:
    if moment.tzinfo is None:  # moto keeps naive datetimes in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
