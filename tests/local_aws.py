"""AWS on loopback for the hooks: moto's server, plus the two operations it cannot serve here.

- CodeDeploy PutLifecycleEventHookExecutionStatus: moto does not implement it. The hooks' reports
  are recorded here, over real HTTP, so botocore's own retry path handles a throttled report (a
  Stubber would answer before the retry logic runs).
- Lambda Invoke: moto runs functions in Docker, which this machine does not have. Invocations run
  the registered Python handler in-process and answer in Lambda's wire format (a raised exception
  becomes `X-Amz-Function-Error: Unhandled` with the error document as payload).

Everything else (DynamoDB, CodeDeploy GetDeployment, ...) is moto's server, unchanged.
"""

from __future__ import annotations

import json
import re
import threading
import traceback
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
_STATUS_TARGET = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"


@dataclass
class LocalAws:
    status_reports: list[dict] = field(default_factory=list)
    # How many of the next status reports to answer with ThrottlingException.
    throttle_next_reports: int = 0
    throttled_reports: int = 0
    functions: dict[tuple[str, str], Callable[[Any], Any]] = field(default_factory=dict)

    def start(self) -> str:
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=MotoRequestHandler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        return self.url

    def stop(self) -> None:
        self._server.shutdown()

    def reset(self) -> None:
        self.status_reports.clear()
        self.functions.clear()
        self.throttle_next_reports = self.throttled_reports = 0
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=5).close()

    def _app(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET") == _STATUS_TARGET:
            return self._report_status(environ, start_response)
        invoke = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if invoke and environ["REQUEST_METHOD"] == "POST":
            return self._invoke(invoke["name"], environ, start_response)
        return self._moto(environ, start_response)

    def _report_status(self, environ, start_response):
        body = json.loads(_body(environ))
        if self.throttle_next_reports:
            self.throttle_next_reports -= 1
            self.throttled_reports += 1
            error = {"__type": "ThrottlingException", "message": "Rate exceeded"}
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")])
            return [json.dumps(error).encode()]
        self.status_reports.append(body)
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1")])
        return [json.dumps({"lifecycleEventHookExecutionId": body["lifecycleEventHookExecutionId"]}).encode()]

    def _invoke(self, name: str, environ, start_response):
        qualifier = dict(pair.split("=", 1) for pair in environ.get("QUERY_STRING", "").split("&") if "=" in pair).get(
            "Qualifier", "$LATEST"
        )
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
