"""Smoke checks: call an HTTP endpoint or invoke one Lambda version, and say what went wrong.

Each check returns None when it passes, or one line a person can act on that names the endpoint or
the function version. Checks run in parallel, so a set takes as long as its slowest check.

Every check has an expectation: an HTTP status (200 unless `expectStatus` says otherwise), an
invocation result (`{"statusCode": 200}` and no FunctionError unless `expect` says otherwise). An
unknown key in a check is an error, never ignored.

HTTP answers are taken as they come: a redirect is compared with `expectStatus` like any status
and never followed, so a green that redirects elsewhere cannot pass on another origin's 200. Each
request has a total deadline (its timeout, cut to the check's time left), enforced by shutting the
socket down: a socket timeout bounds each read, not an answer that trickles in. The body is read to
its end and must be whole: fewer bytes than its Content-Length, or a chunked body without its last
chunk, fails the check (http.client's read(n) returns a body cut short without a word).

A check sends no credentials: it is for unauthenticated health endpoints, and a URL holding a
`user:password@` is refused (http.client would drop it, failing every release on 401, while the
password sat in plain text in the stack file and the hook's environment).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import math
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from rollback_guard.hooks import aws
from rollback_guard.hooks.environment import known_keys
from rollback_guard.hooks.timing import Deadline, HookError

# Per check: every hook's timeout leaves room for one check of this length and the report.
MAX_CHECK_TIMEOUT_SECONDS = 45
# What is kept of a body for `expectBody`; the rest is read, to see that it arrives whole, and dropped.
MAX_BODY_BYTES = 65536
_READ_BYTES = 16384
_NO_WAIT_SECONDS = 0.001
_EXPECTATION_KEYS = ("expectStatus", "timeoutSeconds", "expectBody")
DEFAULT_INVOKE_EXPECTATION = {"statusCode": 200}


class Unreachable(Exception):
    """A check that never reached what it checks: the address refused the connection, or Lambda
    was throttled or failed on its own side. It says nothing about the version: a hook counts it
    as a failure all the same (a smoke test must reach what it tests), the canary judge as no
    probe at all."""


class SmokeCheck(Protocol):
    label: str

    def __call__(self, deadline: Deadline) -> str | None: ...


def check_seconds(value: Any, key: str) -> float:
    """A check's timeout: a finite number of seconds above 0 and at most MAX_CHECK_TIMEOUT_SECONDS."""
    if not (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= MAX_CHECK_TIMEOUT_SECONDS
    ):
        raise ValueError(f"{key} {value!r}: a number of seconds above 0 and at most {MAX_CHECK_TIMEOUT_SECONDS}")
    return float(value)


@dataclass(frozen=True)
class HttpExpectation:
    status: int = 200
    # Text the body must contain, if any.
    body: str | None = None
    timeout_seconds: float = 5.0

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> HttpExpectation:
        status = raw.get("expectStatus", 200)
        if not (isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599):
            raise ValueError(f"expectStatus {status!r}: a whole number from 100 to 599")
        body = raw.get("expectBody")
        if body is not None and not (isinstance(body, str) and body):
            raise ValueError(f"expectBody {body!r}: a non-empty text the body must contain")
        return cls(status, body, check_seconds(raw.get("timeoutSeconds", 5.0), "timeoutSeconds"))


@dataclass(frozen=True)
class EndpointCheck:
    url: str
    expect: HttpExpectation = HttpExpectation()
    # Sent as the Host header when the URL addresses a load balancer node by IP.
    host: str | None = None

    @classmethod
    def from_dict(cls, raw: Any) -> EndpointCheck:
        known_keys(raw, ("url", *_EXPECTATION_KEYS), "an endpoint")
        url = raw.get("url")
        shown = _redacted_url(url) if isinstance(url, str) else url
        if not (isinstance(url, str) and url.startswith(("http://", "https://")) and _host_of(url)):
            raise ValueError(f"url {shown!r}: an http:// or https:// URL")
        if "@" in urllib.parse.urlsplit(url).netloc:
            raise ValueError(
                f"url {shown!r}: a URL without user:password@; a smoke check sends no credentials (it is for "
                "unauthenticated health endpoints), and a password here would sit in plain text in the stack "
                "file and the hook's environment"
            )
        try:
            port = urllib.parse.urlsplit(url).port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"url {shown!r}: a URL whose port, if any, is from 1 to 65535")
        return cls(url, HttpExpectation.from_dict(raw))

    @property
    def label(self) -> str:
        return self.url

    def __call__(self, deadline: Deadline) -> str | None:
        try:
            return self.answer(deadline)
        except Unreachable as error:
            return str(error)

    def answer(self, deadline: Deadline) -> str | None:
        """As calling the check, but Unreachable when no connection could be made."""
        seconds = deadline.seconds_for(self.url, self.expect.timeout_seconds)
        try:
            status, location, body = _get(self.url, self.host, seconds)
        except TimeoutError:
            return f"{self.url}: no complete answer within {seconds:.3g}s"
        except _NotConnected as error:
            raise Unreachable(f"{self.url}: {type(error.__cause__).__name__}: {error.__cause__}") from error
        except _CutShort as error:
            return f"{self.url}: {error}"
        except (OSError, http.client.HTTPException, ValueError) as error:
            return f"{self.url}: {type(error).__name__}: {error}"
        if status != self.expect.status:
            redirect = f" (a redirect to {location}, not followed)" if 300 <= status < 400 else ""
            return f"{self.url}: status {status}{redirect}, expected {self.expect.status}"
        if self.expect.body is not None and self.expect.body not in body.decode("utf-8", "replace"):
            return f"{self.url}: body does not contain {self.expect.body!r}"
        return None


@dataclass(frozen=True)
class PathCheck:
    """An endpoint of a service whose address is known only when the check runs: `path` on a
    load balancer node, or on the staging service's URL."""

    path: str
    expect: HttpExpectation = HttpExpectation()

    @classmethod
    def from_dict(cls, raw: Any) -> PathCheck:
        known_keys(raw, ("path", *_EXPECTATION_KEYS), "a smoke path")
        path = raw.get("path")
        if not (isinstance(path, str) and path.startswith("/") and not any(c.isspace() for c in path)):
            raise ValueError(f"path {path!r}: a path starting with / and without spaces")
        return cls(path, HttpExpectation.from_dict(raw))

    def at(self, base_url: str, host: str | None = None) -> EndpointCheck:
        return EndpointCheck(f"{base_url.rstrip('/')}{self.path}", self.expect, host)


def _redacted_url(url: str) -> str:
    """`url` as it may be shown: the password of a `user:password@` in it (or a lone user, often a
    token) replaced by ***. Read as text, not by urlsplit, which raises on some malformed URLs that
    still hold a password."""
    scheme, separator, rest = url.partition("://")
    authority, path = re.match(r"([^/?#]*)(.*)", rest, re.DOTALL).groups()
    userinfo, at, host = authority.rpartition("@")
    if not (separator and at):
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{separator}{user + ':***' if colon else '***'}@{host}{path}"


def redacted(raw: Any) -> Any:
    """A smoke check as written, as it may be shown in a message or a log: its `url` redacted."""
    if isinstance(raw, Mapping) and isinstance(raw.get("url"), str):
        return {**raw, "url": _redacted_url(raw["url"])}
    return raw


def _host_of(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None


class _NotConnected(Exception):
    """_get could not connect: the cause says why."""


class _CutShort(Exception):
    """The answer's body ended before its framing said it would: the peer closed the connection."""


def _get(url: str, host: str | None, seconds: float) -> tuple[int, str | None, bytes]:
    """One GET that takes at most `seconds` in all, connecting included: (status, Location, the
    body's first bytes), the body read to its end (_CutShort if it is not whole). Real time, like
    the sockets it bounds."""
    parts = urllib.parse.urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=seconds)
    end = time.monotonic() + seconds
    cut = threading.Event()
    opened: list[socket.socket] = []  # http.client lets go of its socket once an answer says "close"

    def cut_off() -> None:
        # Shutting down wakes a read that is waiting (the plain socket's shutdown: TLS's own would
        # unwrap the socket under the reader); Linux still delivers bytes that trickle in after it,
        # so every later read also gets (almost) no time to wait.
        cut.set()
        for sock in opened or [connection.sock]:
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed
                    sock.settimeout(_NO_WAIT_SECONDS)
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    timer = threading.Timer(seconds, cut_off)
    timer.daemon = True
    timer.start()
    headers = {"User-Agent": "rollback-guard-smoke", **({"Host": host} if host else {})}
    try:
        try:
            connection.connect()
        except OSError as error:
            if not (cut.is_set() or time.monotonic() >= end):
                raise _NotConnected(url) from error
            raise
        opened.append(connection.sock)
        connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = connection.getresponse()
        answer = response.status, response.getheader("Location"), _whole_body(response)
    except _NotConnected:
        raise
    except Exception as error:
        # Whatever a cut socket raises (a body cut short included), it was the deadline.
        if cut.is_set() or time.monotonic() >= end:
            raise TimeoutError(url) from error
        raise
    finally:
        timer.cancel()
        connection.close()
        for sock in opened:
            sock.close()
    # An answer without a length ends when the socket does: cut, or late, it is not complete.
    if cut.is_set() or time.monotonic() > end:
        raise TimeoutError(url)
    return answer


def _whole_body(response: http.client.HTTPResponse) -> bytes:
    """The body's first MAX_BODY_BYTES, read to its end; _CutShort when fewer bytes came than its
    Content-Length announced, or a chunked body ended without its last chunk. A body framed by
    neither ends when the connection does: only the deadline can tell it is incomplete."""
    announced = response.length  # None when chunked or unframed (http.client's reading of the head)
    kept, received = bytearray(), 0
    while True:
        try:
            piece = response.read(_READ_BYTES)
        except http.client.IncompleteRead as error:  # the connection closed inside a chunked body
            received += len(error.partial)
            raise _CutShort(_cut_short(received, announced)) from error
        if not piece:
            break
        received += len(piece)
        kept += piece[: MAX_BODY_BYTES - len(kept)]
    if announced is not None and received < announced:
        raise _CutShort(_cut_short(received, announced))
    return bytes(kept)


def _cut_short(received: int, announced: int | None) -> str:
    if announced is None:
        return f"body cut short: {received} bytes arrived, and the chunked body ended without its last chunk"
    return f"body cut short: {received} of {announced} bytes arrived"


@functools.cache
def _lambda_client(read_timeout_seconds: float):
    """One per timeout (a hook has one): the invocation's answer must come within it. One attempt:
    a smoke test that needs a retry to pass has failed."""
    config = Config(connect_timeout=2, read_timeout=read_timeout_seconds, retries={"total_max_attempts": 1})
    return aws.new_client("lambda", config)


@dataclass(frozen=True)
class InvokeCheck:
    """A test event: `payload` sent to one version of a function, whose result must hold every key
    of `expect` with the same value."""

    name: str
    payload: Any = field(default_factory=dict)
    expect: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_INVOKE_EXPECTATION))
    timeout_seconds: float = 10.0

    @classmethod
    def from_dict(cls, raw: Any, timeout_seconds: float) -> InvokeCheck:
        known_keys(raw, ("name", "payload", "expect"), "a smoke event")
        name = raw.get("name")
        if not (isinstance(name, str) and name):
            raise ValueError(f"name {name!r}: a smoke event needs a name")
        expect = raw.get("expect", DEFAULT_INVOKE_EXPECTATION)
        if not (isinstance(expect, dict) and expect):
            raise ValueError(f"expect {expect!r}: an object of keys the result must hold, such as {{statusCode: 200}}")
        return cls(name, raw.get("payload", {}), dict(expect), timeout_seconds)

    def against(self, function_name: str, version: str) -> VersionInvocation:
        return VersionInvocation(self, function_name, version)


@dataclass(frozen=True)
class VersionInvocation:
    event: InvokeCheck
    function_name: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.function_name}:{self.version} with {self.event.name}"

    def __call__(self, deadline: Deadline) -> str | None:
        try:
            return self.answer(deadline)
        except Unreachable as error:
            return str(error)

    def answer(self, deadline: Deadline) -> str | None:
        """As calling the check, but Unreachable when Lambda throttled the call or failed on its side."""
        deadline.check(self.label)  # an invocation cut off by the deadline is abandoned (hooks/timing.py)
        try:
            response = _lambda_client(self.event.timeout_seconds).invoke(
                FunctionName=self.function_name,
                Qualifier=self.version,
                Payload=json.dumps(self.event.payload).encode(),
            )
            body = response["Payload"].read()
        except (ClientError, BotoCoreError) as error:
            # Throttled, or Lambda's own 5xx: never the version's doing. A client-side timeout may
            # be a version that hangs, so it stays a failure.
            if isinstance(error, ClientError) and aws.is_transient(error):
                raise Unreachable(f"{self.label}: lambda Invoke failed: {error}") from error
            return f"{self.label}: lambda Invoke failed: {error}"
        if "FunctionError" in response:
            return f"{self.label}: the function raised: {body.decode('utf-8', 'replace')[:500]}"
        try:
            result = json.loads(body)
        except ValueError:
            return f"{self.label}: the result is not JSON: {body[:200]!r}"
        if not isinstance(result, dict):
            return f"{self.label}: the result is not an object: {body[:200]!r}, expected {self.event.expect}"
        wrong = {key: result.get(key) for key, value in self.event.expect.items() if result.get(key) != value}
        if wrong:
            return f"{self.label}: expected {self.event.expect}, got {wrong}"
        return None


def run_checks(checks: list[SmokeCheck], deadline: Deadline) -> list[str]:
    """Every check's failure, in the order the checks were given; a check with no time left to
    start, or one that crashed, is a failure too, named by its label."""

    def run(check: SmokeCheck) -> str | None:
        with deadline.waiting_for(check.label):
            try:
                return check(deadline)
            except HookError as error:
                return str(error)
            except Exception as error:  # one check's crash must not hide what the others found
                return f"{check.label}: the check crashed: {error!r}"

    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(checks))) as pool:
        return [failure for failure in pool.map(run, checks) if failure is not None]
