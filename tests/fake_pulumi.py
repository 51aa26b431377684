"""A stand-in for the Pulumi CLI (which cannot be installed here) for the Automation API example: it
answers the commands the Automation API runs and writes the engine's event log as the real CLI does
(JSON lines, the same fields), replaying an outcome the test chose instead of running an engine.

State and outcome live in the JSON file named by FAKE_PULUMI_STATE:
    {"stacks": {"staging": {}}, "outcome": "released", "outputs": {...}, "secret_outputs": [...], "calls": []}
Outcomes: released, release-failed, resource-failed, policy-violation.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

VERSION = "3.200.0"  # below 3.206, where the Automation API reads events from a file rather than gRPC
PROJECT = "rollback-guard"
RELEASE = "rollback-guard:service:EcsServiceWithRollback$pulumi-python:dynamic/release:Release::web-release"
TASK = "rollback-guard:service:EcsServiceWithRollback$aws:ecs/taskDefinition:TaskDefinition::web-task"
ALIAS = "rollback-guard:lambda_canary:LambdaCanary$aws:lambda/alias:Alias::greeter-live"
FAILURE = (255, "error: update failed\n")


def urn(stack: str, path: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{path}"


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def step(stack: str, path: str, op: str) -> dict:
    return {"op": op, "urn": urn(stack, path), "type": path.split("::")[0].rsplit("$", 1)[-1], "provider": ""}


def events(stack: str, outcome: str, planning: bool) -> tuple[list[dict], int, str]:
    """The events, exit code and stderr of a preview (`planning`) or an up."""
    update = [{"resourcePreEvent": {"metadata": step(stack, RELEASE, "update"), "planning": planning}}]
    update.insert(0, {"resourcePreEvent": {"metadata": step(stack, TASK, "replace"), "planning": planning}})
    same = {"resourcePreEvent": {"metadata": step(stack, ALIAS, "same"), "planning": planning}}
    summary = {"summaryEvent": {"resourceChanges": {"update": 1, "replace": 1, "same": 76}, "durationSeconds": 1}}
    if outcome == "policy-violation":
        violation = {
            "resourceUrn": urn(stack, RELEASE),
            "message": "the deployment group rolls back on no alarm",
            "policyName": "codedeploy-rolls-back-on-alarm",
            "policyPackName": "rollback-guard",
            "enforcementLevel": "mandatory",
        }
        return [{"policyEvent": violation}, summary], *FAILURE
    if planning or outcome == "released":
        return [{"preludeEvent": {"config": {}}}, *update, same, summary], 0, ""
    if outcome == "release-failed":
        message = (
            "cannot release web-task:4: CodeDeploy rolled back deployment d-ABC123 (alarm web-5xx-rate in ALARM); "
            "traffic stays on web-task:3\n"
        )
        failed = {"urn": urn(stack, RELEASE), "severity": "error", "message": message, "prefix": "error: "}
        return [*update, {"diagnosticEvent": failed}, summary], *FAILURE
    if outcome == "resource-failed":
        message = "creating ECS Task Definition: ClientException: Invalid 'cpu' setting for task\n"
        failed = {"urn": urn(stack, TASK), "severity": "error", "message": message, "prefix": "error: "}
        return [update[0], {"diagnosticEvent": failed}, summary], *FAILURE
    raise SystemExit(f"fake pulumi: unknown outcome {outcome}")


def run(args: list[str], state: dict) -> tuple[int, str, str]:
    stack = flag(args, "--stack") or ""
    if args == ["version"]:
        return 0, f"v{VERSION}\n", ""
    if args[:2] == ["stack", "select"]:
        if stack not in state["stacks"]:
            return 255, "", f"error: no stack named '{stack}' found\n"
        return 0, "", ""
    if args[:2] == ["stack", "init"]:
        state["stacks"][args[2]] = {}
        return 0, f"Created stack '{args[2]}'\n", ""
    if args[:2] == ["config", "set"]:
        key, value = args[args.index("--path") + 1 if "--path" in args else 2], args[-1]
        state["stacks"][stack][key] = value
        return 0, "", ""
    if args[0] in ("preview", "up"):
        lines, code, stderr = events(stack, state["outcome"], planning=args[0] == "preview")
        log = Path(flag(args, "--event-log"))
        with log.open("a") as file:
            # The CLI's last event is always the cancel event: the Automation API stops reading there.
            for sequence, event in enumerate([*lines, {"cancelEvent": {}}]):
                file.write(json.dumps({"sequence": sequence, "timestamp": 0, **event}) + "\n")
        return code, "", stderr
    if args[:2] == ["stack", "output"]:
        masked = set() if "--show-secrets" in args else set(state.get("secret_outputs", ()))
        return (
            0,
            json.dumps({key: "[secret]" if key in masked else value for key, value in state["outputs"].items()}),
            "",
        )
    if args[:2] == ["stack", "history"]:
        entry = {"kind": "update", "startTime": "2026-11-26T12:00:00.000Z", "endTime": "2026-11-26T12:09:00.000Z"}
        entry |= {"message": "", "environment": {}, "config": {}, "result": "succeeded", "version": 2}
        return 0, json.dumps([entry]), ""
    return 255, "", f"fake pulumi: unexpected command {args}\n"


def main() -> int:
    state_file = Path(os.environ["FAKE_PULUMI_STATE"])
    state = json.loads(state_file.read_text())
    args = [arg for arg in sys.argv[1:] if arg != "--non-interactive"]  # the Automation API adds it everywhere
    state["calls"].append(args)
    code, stdout, stderr = run(args, state)
    state_file.write_text(json.dumps(state))
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
