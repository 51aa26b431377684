"""What rollback_guard.release_metrics promises the application that counts and the judge that reads.

Real endpoints on loopback: a TCP and a UDP socket for the CloudWatch agent, an HTTP server for ECS's
task metadata. Time is a clock the test moves. Every record any test sees is checked against the
embedded metric format's specification (EMF_SCHEMA and `assert_emf`).
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rollback_guard import release_metrics
from rollback_guard.release_metrics import (
    BUCKET_SECONDS,
    DEFAULT_AGENT_ENDPOINT,
    LOG_GROUP_PREFIX,
    MAX_DIMENSION_VALUE_LENGTH,
    MAX_DIMENSIONS_PER_SET,
    MAX_METRICS_PER_DIRECTIVE,
    MAX_RECORD_BYTES,
    ReleaseMetrics,
    emf_record,
)

ROOT = Path(__file__).resolve().parent.parent
LOGGER = "rollback_guard.release_metrics"
# 2026-01-01T00:00:00Z, the start of a bucket.
T0 = 1_767_225_600.0
T0_MS = 1_767_225_600_000
ENVIRONMENT = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "ECS_CONTAINER_METADATA_URI_V4",
    "AWS_EMF_AGENT_ENDPOINT",
)

# The specification's JSON schema (CloudWatch_Embedded_Metric_Format_Specification, "Embedded metric
# format example and JSON schema"), with what its prose adds: "objects defined by this specification
# MUST NOT contain any additional members" (the agent's page adds `_aws.LogGroupName`, which it
# requires), at most 100 MetricDefinitions per directive, at most 30 keys per DimensionSet,
# StorageResolution 1 or 60.
UNITS = (
    "Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|"
    "Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|Megabytes/Second|Gigabytes/Second|"
    "Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|Gigabits/Second|Terabits/Second|"
    "Count/Second|None"
)
EMF_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "additionalProperties": False,
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "LogGroupName": {"type": "string", "minLength": 1, "maxLength": 512},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "Dimensions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "array",
                                    "maxItems": MAX_DIMENSIONS_PER_SET,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": MAX_METRICS_PER_DIRECTIVE,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                        "Unit": {"type": "string", "pattern": f"^({UNITS})$"},
                                        "StorageResolution": {"type": "integer", "enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}
jsonschema.Draft202012Validator.check_schema(EMF_SCHEMA)
EMF = jsonschema.Draft202012Validator(EMF_SCHEMA)


def assert_emf(line: str) -> dict[str, Any]:
    """One record, as sent: a single line of JSON that follows the specification, and this module's
    contract with the judge."""
    assert "\n" not in line and len(line.encode()) <= MAX_RECORD_BYTES
    record = json.loads(line)
    EMF.validate(record)
    for directive in record["_aws"]["CloudWatchMetrics"]:
        # Target members are on the root node: dimensions strings, metrics numbers.
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:
                value = record[key]
                assert isinstance(value, str) and value.strip() and value.isascii()
                assert len(value) <= MAX_DIMENSION_VALUE_LENGTH
        for metric in directive["Metrics"]:
            value = record[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool)
    assert record["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "RollbackGuard/Release",
            "Dimensions": [["Service", "Version"]],
            "Metrics": [
                {"Name": "Requests", "Unit": "Count", "StorageResolution": 1},
                {"Name": "Errors", "Unit": "Count", "StorageResolution": 1},
            ],
        }
    ]
    assert record["_aws"]["Timestamp"] % (BUCKET_SECONDS * 1000) == 0
    assert 0 <= record["Errors"] <= record["Requests"]
    return record


def counts(record: dict[str, Any]) -> tuple[int, str, str, int, int]:
    return (record["_aws"]["Timestamp"], record["Service"], record["Version"], record["Requests"], record["Errors"])


def stdout_records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [assert_emf(line) for line in capsys.readouterr().out.splitlines()]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TcpAgent:
    """The CloudWatch agent's EMF listener over TCP: newline-delimited records, connection by
    connection."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.lines: queue.Queue[str] = queue.Queue()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.server.accept()
                self.connections.append(connection)
                threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError), connection.makefile("r") as lines:
            for line in lines:
                self.lines.put(line.rstrip("\n"))

    def records(self, n: int, timeout: float = 2.0) -> list[dict[str, Any]]:
        return [assert_emf(self.lines.get(timeout=timeout)) for _ in range(n)]

    def drop_connections(self) -> None:
        """What a restarting agent does to the connections it had."""
        for connection in self.connections:
            connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def close(self) -> None:
        """The agent gone: connections to its port are refused. (A listening socket closed while a
        thread waits in accept() would go on listening: shutdown wakes that thread first.)"""
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.close()


class MetadataServer:
    """ECS's task metadata endpoint v4: `${ECS_CONTAINER_METADATA_URI_V4}/task`."""

    def __init__(self, task: dict[str, Any] | None = None, status: int = 200, hang: bool = False) -> None:
        self.requests: list[str] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if hang:
                    outer.release.wait(5)
                    return
                body = json.dumps(task or {}).encode()
                self.send_response(status if self.path == "/v4/0123abcd-1234/task" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self.server.server_port}/v4/0123abcd-1234"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


TASK = {
    "Cluster": "arn:aws:ecs:eu-west-1:111122223333:cluster/web-prod",
    "TaskARN": "arn:aws:ecs:eu-west-1:111122223333:task/web-prod/8f03e41243824aea923aca126495f665",
    "Family": "web-prod",
    "Revision": "12",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither Lambda nor ECS nor an agent, unless a test says so."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def opened() -> Iterator[list[ReleaseMetrics]]:
    """Instances a test makes, closed after it (their background threads stopped)."""
    made: list[ReleaseMetrics] = []
    yield made
    for metrics in made:
        metrics.close()


@pytest.fixture
def tcp_agent() -> Iterator[TcpAgent]:
    agent = TcpAgent()
    yield agent
    agent.close()


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "greeter-prod")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "7")


def make(opened: list[ReleaseMetrics], *args: Any, **kwargs: Any) -> ReleaseMetrics:
    metrics = ReleaseMetrics(*args, **kwargs)
    opened.append(metrics)
    return metrics


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


# --- Counting and buckets


def test_a_failed_request_is_counted_as_an_error_in_its_own_10_second_bucket(opened, capsys):
    clock = Clock(T0 + 3)
    metrics = make(opened, "web-prod", "12", endpoint="stdout", clock=clock, background_flush=False)
    metrics.request()
    clock.now = T0 + 9.999
    metrics.request()
    # Nothing is sent while its bucket is still open.
    assert capsys.readouterr().out == ""
    clock.now = T0 + 10
    metrics.request(failed=True)
    clock.now = T0 + 25
    metrics.request()
    metrics.flush()

    assert [counts(r) for r in stdout_records(capsys)] == [
        (T0_MS, "web-prod", "12", 2, 0),
        (T0_MS + 10_000, "web-prod", "12", 1, 1),
        (T0_MS + 20_000, "web-prod", "12", 1, 0),
    ]


def test_a_thousand_requests_in_a_bucket_are_one_record(opened, capsys):
    clock = Clock(T0 + 1)
    metrics = make(opened, "web-prod", "12", endpoint="stdout", clock=clock, background_flush=False)
    for i in range(1000):
        clock.now = T0 + 1 + i * 0.008
        metrics.request(failed=i % 100 == 0)
    clock.now = T0 + 10
    metrics.request()

    # The finished bucket went with the next request; the open one waits.
    assert [counts(r) for r in stdout_records(capsys)] == [(T0_MS, "web-prod", "12", 1000, 10)]


def test_counts_from_many_threads_are_all_sent(opened, capsys):
    metrics = make(opened, "web-prod", "12", endpoint="stdout", clock=Clock(), background_flush=False)

    def serve() -> None:
        for i in range(500):
            metrics.request(failed=i % 50 == 0)

    threads = [threading.Thread(target=serve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    metrics.flush()

    assert [counts(r) for r in stdout_records(capsys)] == [(T0_MS, "web-prod", "12", 4000, 80)]


def test_counts_already_held_are_added_as_they_are(opened, capsys):
    metrics = make(opened, "web-prod", "12", endpoint="stdout", clock=Clock(), background_flush=False)
    metrics.count(requests=10, errors=3)
    metrics.count()
    metrics.count(requests=0)
    metrics.flush()
    # Nothing counted, nothing sent.
    metrics.flush()

    assert [counts(r) for r in stdout_records(capsys)] == [(T0_MS, "web-prod", "12", 11, 3)]


def test_a_request_tracked_in_a_container_fails_when_it_raises_or_says_so(opened, capsys):
    metrics = make(opened, "web-prod", "12", endpoint="stdout", clock=Clock(), background_flush=False)
    with metrics.track():
        pass
    with metrics.track() as request:
        request.failed = True  # a 5xx answered without raising
    error = KeyError("missing")
    with pytest.raises(KeyError) as raised, metrics.track():
        raise error
    assert raised.value is error
    metrics.flush()

    assert [counts(r) for r in stdout_records(capsys)] == [(T0_MS, "web-prod", "12", 3, 2)]


def test_what_a_process_counted_is_sent_when_it_exits(tmp_path):
    script = (
        "from rollback_guard.release_metrics import ReleaseMetrics\n"
        "metrics = ReleaseMetrics('web-prod', '12')\n"
        "metrics.count(requests=5, errors=1)\n"
    )
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=30, check=True
    )

    assert [counts(assert_emf(line))[1:] for line in done.stdout.splitlines()] == [("web-prod", "12", 5, 1)]
    assert done.stderr == ""


def test_a_forked_worker_sends_only_its_own_counts(tmp_path):
    """A pre-forking server (gunicorn): what the parent counted before the fork is the parent's to send."""
    script = (
        "import os, sys\n"
        "from rollback_guard.release_metrics import ReleaseMetrics\n"
        "metrics = ReleaseMetrics('web-prod', '12')\n"
        "metrics.count(requests=5, errors=1)\n"
        "sys.stdout.flush()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    metrics.count(requests=2)\n"
        "    metrics.close()\n"
        "    os._exit(0)\n"
        "os.waitpid(child, 0)\n"
    )
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=30, check=True
    )

    # The child's record first (it closed before the parent exited), then the parent's, at exit.
    assert [counts(assert_emf(line))[1:] for line in done.stdout.splitlines()] == [
        ("web-prod", "12", 2, 0),
        ("web-prod", "12", 5, 1),
    ]
    assert done.stderr == ""


# --- Lambda


def test_a_lambda_invocation_is_one_request_sent_to_stdout_before_it_returns(opened, capsys, in_lambda, monkeypatch):
    # An agent endpoint in Lambda's environment changes nothing: Lambda's stdout is where EMF goes.
    monkeypatch.setenv("AWS_EMF_AGENT_ENDPOINT", "tcp://127.0.0.1:9")
    metrics = make(opened, clock=Clock(T0 + 4))
    seen = []

    @metrics.per_invocation
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        """The handler's own docstring."""
        seen.append(capsys.readouterr().out)
        return {"statusCode": 200}

    assert handler({}, None) == {"statusCode": 200}
    assert handler.__doc__ == "The handler's own docstring."
    assert metrics.endpoint == "stdout"
    assert seen == [""]
    # Sent before the invocation ended: the environment may be frozen after it.
    assert [counts(r) for r in stdout_records(capsys)] == [(T0_MS, "greeter-prod", "7", 1, 0)]


def test_a_handler_that_raises_is_an_error_and_lambda_gets_its_exception_unchanged(opened, capsys, in_lambda):
    metrics = make(opened, clock=Clock(T0 + 4))
    error = RuntimeError("the new version is broken")

    @metrics.per_invocation
    def handler(event: dict[str, Any], context: object) -> None:
        raise error

    with pytest.raises(RuntimeError) as raised:
        handler({}, None)

    assert raised.value is error
    assert [counts(r) for r in stdout_records(capsys)] == [(T0_MS, "greeter-prod", "7", 1, 1)]


def test_a_5xx_response_is_an_error_when_the_handler_says_what_failing_is(opened, capsys, in_lambda):
    clock = Clock(T0 + 4)
    metrics = make(opened, clock=clock)

    @metrics.per_invocation(failed_if=lambda response: response["statusCode"] >= 500)
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"statusCode": event["status"]}

    assert handler({"status": 503}, None) == {"statusCode": 503}
    handler({"status": 200}, None)
    clock.now = T0 + 11
    handler({"status": 404}, None)

    # One record per invocation, each with its bucket; CloudWatch sums records that share one.
    assert [counts(r) for r in stdout_records(capsys)] == [
        (T0_MS, "greeter-prod", "7", 1, 1),
        (T0_MS, "greeter-prod", "7", 1, 0),
        (T0_MS + 10_000, "greeter-prod", "7", 1, 0),
    ]


def test_an_unpublished_version_is_sent_as_latest_with_a_warning(opened, capsys, caplog, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "greeter-dev")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    metrics = make(opened, clock=Clock())
    handler = metrics.per_invocation(lambda event, context: "ok")

    handler({}, None)
    handler({}, None)

    assert [counts(r)[1:] for r in stdout_records(capsys)] == [("greeter-dev", "$LATEST", 1, 0)] * 2
    (warning,) = warnings_logged(caplog)
    assert "greeter-dev runs $LATEST, which is unpublished" in warning


def test_explicit_service_and_version_win_over_lambdas(opened, capsys, in_lambda):
    metrics = make(opened, service="greeter", clock=Clock())
    metrics.per_invocation(lambda event, context: None)({}, None)

    assert [counts(r)[1:3] for r in stdout_records(capsys)] == [("greeter", "7")]


# --- Containers and the CloudWatch agent


def test_a_container_sends_its_records_to_the_agents_endpoint(opened, tcp_agent, capsys, monkeypatch):
    monkeypatch.setenv("AWS_EMF_AGENT_ENDPOINT", tcp_agent.endpoint)
    clock = Clock(T0 + 2)
    metrics = make(opened, "web-prod", "12", clock=clock, background_flush=False)
    metrics.count(requests=40, errors=2)
    clock.now = T0 + 10
    metrics.count(requests=3)
    clock.now = T0 + 20
    metrics.request()

    records = tcp_agent.records(2)
    assert [counts(r) for r in records] == [(T0_MS, "web-prod", "12", 40, 2), (T0_MS + 10_000, "web-prod", "12", 3, 0)]
    # The agent writes each record to the log group it names.
    assert {r["_aws"]["LogGroupName"] for r in records} == {LOG_GROUP_PREFIX + "web-prod"}
    # One connection, kept; nothing on stdout.
    assert len(tcp_agent.connections) == 1
    assert capsys.readouterr().out == ""


def test_a_container_sends_its_records_over_udp_when_the_endpoint_says_udp(opened, monkeypatch):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as agent:
        agent.bind(("127.0.0.1", 0))
        agent.settimeout(2)
        monkeypatch.setenv("AWS_EMF_AGENT_ENDPOINT", f"udp://127.0.0.1:{agent.getsockname()[1]}")
        metrics = make(opened, "web-prod", "12", log_group="/ecs/web-prod/metrics", clock=Clock())
        metrics.count(requests=7, errors=1)
        metrics.flush()

        datagram, _ = agent.recvfrom(65_535)

    assert datagram.endswith(b"\n")
    record = assert_emf(datagram.decode().rstrip("\n"))
    assert counts(record) == (T0_MS, "web-prod", "12", 7, 1)
    assert record["_aws"]["LogGroupName"] == "/ecs/web-prod/metrics"


def test_a_finished_bucket_is_sent_in_the_background_without_waiting_for_a_request(opened, tcp_agent):
    clock = Clock(T0 + 8)
    metrics = make(opened, "web-prod", "12", endpoint=tcp_agent.endpoint, clock=clock, flush_interval=0.01)
    metrics.count(requests=5, errors=5)
    # The bucket is open: the thread leaves it.
    time.sleep(0.05)
    assert tcp_agent.lines.empty()

    clock.now = T0 + 10.5
    assert [counts(r) for r in tcp_agent.records(1)] == [(T0_MS, "web-prod", "12", 5, 5)]


def test_the_agent_restarting_costs_no_record_sent_after_it_is_back(opened, tcp_agent):
    clock = Clock(T0)
    metrics = make(opened, "web-prod", "12", endpoint=tcp_agent.endpoint, clock=clock, background_flush=False)
    metrics.request()
    metrics.flush()
    tcp_agent.records(1)

    tcp_agent.drop_connections()
    time.sleep(0.05)
    clock.now = T0 + 10
    metrics.request(failed=True)
    metrics.flush()

    assert [counts(r) for r in tcp_agent.records(1)] == [(T0_MS + 10_000, "web-prod", "12", 1, 1)]
    assert len(tcp_agent.connections) == 2


def test_a_container_on_ecs_is_named_by_its_task_definition_read_once(opened, capsys):
    metadata = MetadataServer(TASK)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("ECS_CONTAINER_METADATA_URI_V4", metadata.uri)
            clock = Clock()
            metrics = make(opened, endpoint="stdout", clock=clock, background_flush=False)
            metrics.request()
            metrics.flush()
            clock.now = T0 + 10
            metrics.request(failed=True)
            metrics.flush()
    finally:
        metadata.close()

    assert [counts(r) for r in stdout_records(capsys)] == [
        (T0_MS, "web-prod", "12", 1, 0),
        (T0_MS + 10_000, "web-prod", "12", 1, 1),
    ]
    assert metadata.requests == ["/v4/0123abcd-1234/task"]


def test_a_service_name_given_keeps_the_revision_from_the_task(opened, capsys, monkeypatch):
    metadata = MetadataServer({**TASK, "Revision": 13})
    try:
        monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", metadata.uri)
        metrics = make(opened, service="web", endpoint="stdout", clock=Clock(), background_flush=False)
        metrics.request()
        metrics.flush()
    finally:
        metadata.close()

    assert [counts(r)[1:3] for r in stdout_records(capsys)] == [("web", "13")]


# --- Failures stay out of the application


def test_a_metrics_failure_never_reaches_the_application(opened, caplog, tcp_agent):
    # An agent that is not there: connections are refused.
    tcp_agent.close()
    clock = Clock(T0)
    metrics = make(opened, "web-prod", "12", endpoint=tcp_agent.endpoint, clock=clock, background_flush=False)
    handler = metrics.per_invocation(lambda event, context: {"statusCode": 200})

    for step in range(5):
        clock.now = T0 + 10 * step
        metrics.request(failed=True)
        with metrics.track():
            pass
        assert handler({}, None) == {"statusCode": 200}
        metrics.flush()

    # One warning for them all, saying what was lost.
    (warning,) = warnings_logged(caplog)
    assert warning.startswith(f"release metrics: 3 requests dropped: {tcp_agent.endpoint} failed: ")


def test_a_warning_again_after_the_quiet_interval_says_how_many_were_kept_quiet(opened, caplog, tcp_agent, monkeypatch):
    tcp_agent.close()
    metrics = make(opened, "web-prod", "12", endpoint=tcp_agent.endpoint, clock=Clock(), background_flush=False)
    metrics.request()
    metrics.flush()
    metrics.request()
    metrics.flush()
    now = time.monotonic()
    monkeypatch.setattr(release_metrics.time, "monotonic", lambda: now + release_metrics.WARNING_INTERVAL_SECONDS)
    metrics.request()
    metrics.flush()

    _, second = warnings_logged(caplog)
    assert "(1 more like it since the last warning)" in second


def test_a_metadata_endpoint_that_hangs_costs_its_timeout_once_per_send_and_drops_the_records(
    opened, capsys, caplog, monkeypatch
):
    metadata = MetadataServer(hang=True)
    try:
        monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", metadata.uri)
        metrics = make(opened, endpoint="stdout", clock=Clock(), background_flush=False, metadata_timeout=0.2)
        metrics.count(requests=4, errors=1)
        started = time.monotonic()
        metrics.flush()
        took = time.monotonic() - started
    finally:
        metadata.close()

    assert 0.15 < took < 1.0
    assert capsys.readouterr().out == ""
    (warning,) = warnings_logged(caplog)
    assert warning.startswith("release metrics: 4 requests dropped: http://127.0.0.1:")
    assert "timed out" in warning


@pytest.mark.parametrize(
    ("task", "status", "problem"),
    [
        (TASK, 500, "answered 500"),
        ({"Family": "web-prod"}, 200, "names no Family and Revision"),
        ({"Family": "web-prod", "Revision": "twelve"}, 200, "names no Family and Revision"),
    ],
)
def test_a_task_metadata_answer_without_a_revision_drops_the_records_with_a_warning(
    opened, capsys, caplog, monkeypatch, task, status, problem
):
    metadata = MetadataServer(task, status=status)
    try:
        monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", metadata.uri)
        metrics = make(opened, endpoint="stdout", clock=Clock(), background_flush=False)
        metrics.request()
        metrics.flush()
    finally:
        metadata.close()

    assert capsys.readouterr().out == ""
    (warning,) = warnings_logged(caplog)
    assert problem in warning


def test_a_process_that_cannot_say_who_it_is_keeps_running_and_says_so(opened, capsys, caplog):
    metrics = make(opened, endpoint="stdout", clock=Clock(), background_flush=False)
    metrics.count(requests=2, errors=1)
    metrics.flush()

    assert capsys.readouterr().out == ""
    assert warnings_logged(caplog) == [
        "release metrics: 2 requests dropped: no service and version: neither Lambda (AWS_LAMBDA_FUNCTION_NAME) "
        "nor ECS (ECS_CONTAINER_METADATA_URI_V4); pass ReleaseMetrics(service=..., version=...)"
    ]


@pytest.mark.parametrize(
    "arguments",
    [{"requests": -1}, {"requests": 1, "errors": 2}, {"requests": "1"}, {"requests": 1.5}, {"requests": True}],
)
def test_counts_that_are_not_counts_are_ignored_with_a_warning(opened, capsys, caplog, arguments):
    metrics = make(opened, "web-prod", "12", endpoint="stdout", clock=Clock(), background_flush=False)
    metrics.count(**arguments)
    metrics.flush()

    assert capsys.readouterr().out == ""
    (warning,) = warnings_logged(caplog)
    assert "ignored: whole numbers with 0 <= errors <= requests" in warning


def test_a_failed_if_that_breaks_counts_the_invocation_as_a_success(opened, capsys, caplog):
    metrics = make(opened, "greeter", "7", endpoint="stdout", clock=Clock())
    handler = metrics.per_invocation(failed_if=lambda response: response["statusCode"] >= 500)(
        lambda event, context: None
    )

    assert handler({}, None) is None
    assert [counts(r)[3:] for r in stdout_records(capsys)] == [(1, 0)]
    (warning,) = warnings_logged(caplog)
    assert "failed_if raised TypeError" in warning


# --- Configuration


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"service": "", "version": "1"}, "service='': a dimension's value has a character that is not whitespace"),
        ({"service": "wéb", "version": "1"}, "ASCII without control characters"),
        ({"service": "web", "version": "1" * 1025}, "at most 1024 characters"),
        ({"endpoint": "http://127.0.0.1:25888"}, "endpoint='http://127.0.0.1:25888'"),
        ({"endpoint": "tcp://127.0.0.1"}, '"stdout", "tcp://host:port" or "udp://host:port"'),
    ],
)
def test_arguments_the_program_gives_are_checked_when_it_starts(arguments, message):
    with pytest.raises(ValueError, match=r"^ReleaseMetrics ") as refused:
        ReleaseMetrics(**arguments)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("configured", "endpoint"),
    [
        ("tcp://cwagent:25888", "tcp://cwagent:25888"),
        ("udp://127.0.0.1:25888", "udp://127.0.0.1:25888"),
        ("", DEFAULT_AGENT_ENDPOINT),
        ("127.0.0.1:25888", DEFAULT_AGENT_ENDPOINT),
    ],
)
def test_the_agents_endpoint_comes_from_the_environment(opened, monkeypatch, caplog, configured, endpoint):
    monkeypatch.setenv("AWS_EMF_AGENT_ENDPOINT", configured)
    assert make(opened, "web-prod", "12").endpoint == endpoint
    assert bool(warnings_logged(caplog)) == (configured == "127.0.0.1:25888")


def test_without_an_agent_a_container_writes_to_stdout(opened):
    assert make(opened, "web-prod", "12").endpoint == "stdout"


# --- The module itself


def test_records_follow_the_specifications_own_example_and_schema():
    # The checker accepts the specification's example (with its StorageResolution) ...
    EMF.validate(
        {
            "_aws": {
                "Timestamp": 1574109732004,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "lambda-function-metrics",
                        "Dimensions": [["functionVersion"]],
                        "Metrics": [{"Name": "time", "Unit": "Milliseconds", "StorageResolution": 60}],
                    }
                ],
            },
            "functionVersion": "$LATEST",
            "time": 100,
            "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee",
        }
    )
    # ... and refuses what the specification forbids.
    bad = emf_record(T0_MS, "web", "1", 1, 0)
    bad["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"] = 10
    with pytest.raises(jsonschema.ValidationError):
        EMF.validate(bad)
    assert counts(assert_emf(json.dumps(emf_record(T0_MS, "web", "1", 3, 1)))) == (T0_MS, "web", "1", 3, 1)


def test_the_module_imports_only_the_standard_library_and_the_judges_names_for_its_metrics():
    tree = ast.parse((ROOT / "rollback_guard" / "release_metrics.py").read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - sys.stdlib_module_names == {"rollback_guard"}
    # Its one import of the library: the names it shares with the judge, themselves import-free.
    from_library = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module.startswith("rollback")
    }
    assert from_library == {"rollback_guard.hooks.release_series"}
    contract = ast.parse((ROOT / "rollback_guard" / "hooks" / "release_series.py").read_text())
    assert not [node for node in ast.walk(contract) if isinstance(node, ast.Import | ast.ImportFrom)]


def test_the_example_in_docs_release_metrics_runs_as_written():
    page = (ROOT / "docs" / "release-metrics.md").read_text()
    example = page.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(example, "docs/release-metrics.md", "exec"), {})
