"""Release a rollback-guard stack from CI with the Pulumi Automation API. Copy it into your pipeline,
or run it from the project folder (it needs the Pulumi CLI and AWS credentials, like `pulumi up`):

    python examples/release.py staging --set rollback-guard:services.web.tag=1.28
    python examples/release.py prod --policy-pack policy-pack --outputs release.json

It selects the stack (creating it if it is new), sets the config, previews, runs `pulumi up` with the
engine's events streamed as they come, prints where traffic is, and exits with:

    0  released, or nothing to release
    1  the release failed: CodeDeploy stopped or rolled it back, traffic is on the previous version
    2  bad arguments
    3  cannot start: no Pulumi CLI, or the stack cannot be opened
    4  the update failed elsewhere: a resource, the program's own checks, or a policy violation
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pulumi import automation
from pulumi.automation.events import EngineEvent, OpType

RELEASED, RELEASE_FAILED, BAD_ARGUMENTS, CANNOT_START, UPDATE_FAILED = 0, 1, 2, 3, 4

# The type of rollback_guard.components.release.Release, the resource that runs a release.
RELEASE_TYPE = "pulumi-python:dynamic/release:Release"
QUIET_OPERATIONS = {OpType.SAME, OpType.READ}


def resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def resource_type(urn: str) -> str:
    """The resource's own type: the last of the parent chain in `...::<parent>$<type>::<name>`."""
    return urn.split("::")[-2].rsplit("$", 1)[-1]


@dataclass
class Progress:
    """Prints the engine's events as they arrive, one line each, and keeps what went wrong."""

    out: TextIO
    failed_releases: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)

    def __call__(self, event: EngineEvent) -> None:
        if event.resource_pre_event and event.resource_pre_event.metadata.op not in QUIET_OPERATIONS:
            step = event.resource_pre_event.metadata
            self._print(f"  {step.op.value:<8} {step.type} {resource_name(step.urn)}")
        elif event.diagnostic_event and event.diagnostic_event.severity in ("error", "warning"):
            self._diagnostic(
                event.diagnostic_event.urn or "", event.diagnostic_event.severity, event.diagnostic_event.message
            )
        elif event.policy_event:
            policy = event.policy_event
            line = f"policy {policy.policy_name} ({policy.enforcement_level}): {policy.message.strip()}"
            if policy.enforcement_level == "mandatory":
                self.errors.append(line)
            self._print(f"  {line}")
        elif event.summary_event:
            self.changes = {op: count for op, count in event.summary_event.resource_changes.items() if count}

    def _diagnostic(self, urn: str, severity: str, message: str) -> None:
        where = resource_name(urn) if urn else "pulumi"
        line = f"{where}: {message.strip()}"
        if severity == "error":
            self.errors.append(line)
            if urn and resource_type(urn) == RELEASE_TYPE:
                self.failed_releases.append(line)
        self._print(f"  {severity}: {line}")

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def summary(changes: dict[str, int]) -> str:
    return ", ".join(f"{count} {op}" for op, count in sorted(changes.items())) or "no changes"


def where_traffic_is(outputs: dict) -> list[str]:
    """One line per service and function from the stack's outputs (see program.py)."""
    lines = [
        f"{name}: live {service['liveRevision']}"
        if "liveRevision" in service
        else f"{name}: released by ECS itself ({service['strategy']})"
        for name, service in outputs.get("services", {}).items()
    ]
    lines += [
        f"{name}: live version {function['liveVersion']}" for name, function in outputs.get("functions", {}).items()
    ]
    return lines


def release(
    stack_name: str, work_dir: Path, settings: list[tuple[str, str]], policy_packs: list[str], out: TextIO
) -> tuple[int, dict]:
    """The release, as an exit code and the stack's outputs (empty unless it went through)."""
    try:
        stack = automation.create_or_select_stack(stack_name=stack_name, work_dir=str(work_dir))
        for key, value in settings:
            stack.set_config(key, automation.ConfigValue(value=value), path=True)
    except FileNotFoundError:
        print("cannot start: the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/)", file=out)
        return CANNOT_START, {}
    except automation.errors.CommandError as error:
        print(f"cannot start: stack {stack_name} in {work_dir}: {last_lines(error)}", file=out)
        return CANNOT_START, {}

    print(f"preview of {stack_name}:", file=out)
    planned = Progress(out)
    try:
        stack.preview(on_event=planned, policy_packs=policy_packs, color="never")
    except automation.errors.CommandError as error:
        print(f"preview failed: {' | '.join(planned.errors) or last_lines(error)}", file=out)
        return UPDATE_FAILED, {}
    print(f"planned: {summary(planned.changes)}", file=out)

    print(f"up {stack_name}:", file=out)
    applied = Progress(out)
    try:
        result = stack.up(on_event=applied, policy_packs=policy_packs, color="never")
    except automation.errors.CommandError as error:
        if applied.failed_releases:
            print("release failed, traffic stays on the previous version:", file=out)
            for line in applied.failed_releases:
                print(f"  {line}", file=out)
            return RELEASE_FAILED, {}
        print(f"update failed: {' | '.join(applied.errors) or last_lines(error)}", file=out)
        return UPDATE_FAILED, {}
    outputs = {key: "[secret]" if output.secret else output.value for key, output in result.outputs.items()}
    print(f"released: {summary(applied.changes)}", file=out)
    for line in where_traffic_is(outputs):
        print(f"  {line}", file=out)
    return RELEASED, outputs


def last_lines(error: automation.errors.CommandError) -> str:
    """The explaining part of Pulumi's "code: …\n stdout: …\n stderr: …"."""
    stderr = str(error).split("stderr:", 1)[-1]
    return " | ".join(line.strip() for line in stderr.strip().splitlines()[-5:] if line.strip())


def config_setting(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(
            f"--set {text!r}: expected KEY=VALUE, e.g. rollback-guard:services.web.tag=1.28"
        )
    return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="the stack to release, e.g. staging or prod")
    parser.add_argument("--work-dir", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--set", dest="settings", type=config_setting, action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--policy-pack", dest="policy_packs", action="append", default=[], metavar="DIR")
    parser.add_argument("--outputs", type=Path, metavar="FILE", help="write the stack's outputs here as JSON")
    args = parser.parse_args(argv)
    exit_code, outputs = release(args.stack, args.work_dir, args.settings, args.policy_packs, sys.stdout)
    if args.outputs and exit_code == RELEASED:
        args.outputs.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
