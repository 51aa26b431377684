"""Smoke checks: call an HTTP endpoint or invoke a Lambda version, and say what went wrong.

Each check returns None when it passes, or one line a person can act on. Checks run in parallel,
so a set of checks takes as long as its slowest one, and every call has its own timeout.
"""

from __future__ import annotations

import functools
import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

Check = Callable[[], "str | None"]


@dataclass(frozen=True)
class EndpointCheck:
    url: str
    expect_status: int = 200
    timeout_seconds: float = 5.0
    # Text the body must contain, if any.
    expect_body: str | None = None
    # Sent as the Host header when the URL addresses a load balancer node by IP.
    host: str | None = None

    @classmethod
    def from_dict(cls, raw: dict) -> EndpointCheck:
        if not isinstance(raw, dict) or not str(raw.get("url", "")).startswith(("http://", "https://")):
            raise ValueError(f"an endpoint needs an http(s) url: {raw!r}")
        status, timeout = raw.get("expectStatus", 200), raw.get("timeoutSeconds", 5.0)
        if not (isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599):
            raise ValueError(f"expectStatus {status!r}: a whole number from 100 to 599")
        if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0):
            raise ValueError(f"timeoutSeconds {timeout!r}: a number of seconds above 0")
        return cls(
            url=raw["url"],
            expect_status=status,
            timeout_seconds=float(timeout),
            expect_body=raw.get("expectBody"),
            host=raw.get("host"),
        )

    def __call__(self) -> str | None:
        headers = {"user-agent": "rollback-guard-smoke", **({"host": self.host} if self.host else {})}
        request = urllib.request.Request(self.url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status, body = response.status, response.read(65536)
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read(65536)
        except TimeoutError:
            return f"{self.url}: no answer within {self.timeout_seconds:g}s"
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, socket.timeout)):
                return f"{self.url}: no answer within {self.timeout_seconds:g}s"
            return f"{self.url}: {error.reason}"
        except (ConnectionError, http.client.HTTPException) as error:
            return f"{self.url}: {type(error).__name__}: {error}"
        if status != self.expect_status:
            return f"{self.url}: status {status}, expected {self.expect_status}"
        if self.expect_body is not None and self.expect_body not in body.decode("utf-8", "replace"):
            return f"{self.url}: body does not contain {self.expect_body!r}"
        return None


@functools.cache
def _lambda_client(timeout_seconds: float):
    # One attempt: a smoke test that needs a retry to pass has failed.
    config = Config(connect_timeout=3, read_timeout=timeout_seconds, retries={"total_max_attempts": 1})
    return boto3.client("lambda", config=config)


@dataclass(frozen=True)
class InvokeCheck:
    """Invoke one version of a function with a test event; every key of `expect` must come back
    with the same value in the response."""

    name: str
    payload: Any
    expect: dict = field(default_factory=dict)
    timeout_seconds: float = 10.0

    @classmethod
    def from_dict(cls, raw: dict, timeout_seconds: float) -> InvokeCheck:
        if not isinstance(raw, dict) or "name" not in raw or not isinstance(raw.get("expect", {}), dict):
            raise ValueError(f"a test event needs a name, a payload and an optional expect object: {raw!r}")
        return cls(raw["name"], raw.get("payload", {}), raw.get("expect", {}), timeout_seconds)

    def against(self, function_name: str, version: str) -> Check:
        return functools.partial(self._invoke, function_name, version)

    def _invoke(self, function_name: str, version: str) -> str | None:
        where = f"{function_name}:{version} with {self.name}"
        try:
            response = _lambda_client(self.timeout_seconds).invoke(
                FunctionName=function_name, Qualifier=version, Payload=json.dumps(self.payload).encode()
            )
            body = response["Payload"].read()
        except (ClientError, BotoCoreError) as error:
            return f"{where}: invoke failed: {error}"
        if "FunctionError" in response:
            return f"{where}: the function raised: {body.decode('utf-8', 'replace')[:500]}"
        try:
            result = json.loads(body)
        except ValueError:
            return f"{where}: the response is not JSON: {body[:200]!r}"
        wrong = {k: result.get(k) if isinstance(result, dict) else None for k in self.expect}
        wrong = {k: v for k, v in wrong.items() if v != self.expect[k]}
        if wrong:
            return f"{where}: expected {self.expect}, got {wrong}"
        return None


def run_checks(checks: list[Check]) -> list[str]:
    """Every check's failure, in the order the checks were given."""
    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(checks))) as pool:
        return [failure for failure in pool.map(lambda check: check(), checks) if failure]
