"""`python -m ops`: one command for everything around a release.

Every command prints a human summary, or with --json one JSON document; exit codes are 0 done,
1 failed, 2 bad input, 3 a precondition missing (see ops/stack.py).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from ops.stack import BAD_INPUT, FAILED, PRECONDITION, ROOT, AutomationStack, OpsError, StackPort, aws_session

StackFactory = Callable[[str], StackPort]
SessionFactory = Callable[[str | None], Any]
# Deployment starts, hooks and CodeDeploy's own bookkeeping, beyond detection and rollback.
DRILL_MARGIN_SECONDS = 300


def main(
    argv: list[str] | None = None,
    stack_factory: StackFactory = AutomationStack,
    session_factory: SessionFactory = aws_session,
    out: TextIO = sys.stdout,
    confirm: Callable[[str], str] = input,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    args = _parser().parse_args(argv)
    args.clock, args.sleep = clock, sleep
    try:
        result, code = COMMANDS[args.command](args, stack_factory, session_factory, confirm)
    except OpsError as error:
        result, code = {"error": str(error)}, error.exit_code
    except LookupError as error:
        result, code = {"error": str(error.args[0] if error.args else error)}, BAD_INPUT
    except (ClientError, BotoCoreError) as error:  # AWS said no: say what, without a traceback
        result, code = {"error": f"AWS: {error}"}, FAILED
    out.write(json.dumps(result, indent=2, default=str) + "\n" if args.json else _human(args.command, result))
    return code


# --- commands


def plan(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    """Offline: no AWS, no Pulumi CLI. Builds the stack with the mock engine."""
    from ops.budget import budgets
    from ops.offline import settled_stack, use_config
    from ops.timeline import draw
    from settings import SettingsError, load_settings

    _require_stack_file(args.environment)
    try:
        use_config(args.environment, {})
        settings = load_settings()
        built = settled_stack(args.environment)
    except SettingsError as error:
        raise OpsError(str(error), BAD_INPUT) from error
    if not hasattr(settings, "deployment"):
        raise OpsError(f"{args.environment} is the pipeline stack: it has no release paths to budget", BAD_INPUT)
    found = budgets(settings)
    png = draw(found, args.environment, Path(args.png or f"plan-{args.environment}.png"))
    types = Counter(registration.type for registration in built.monitor.registrations.values())
    return {
        "stack": args.environment,
        "resources": {"total": sum(types.values()), "byType": dict(sorted(types.items()))},
        "budgets": [budget.as_dict() for budget in found],
        "timeline": str(png),
    }, 0


def deploy(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    _confirm_production(args, confirm)
    stack = stack_factory(args.environment)
    stack.preview(on_output=_to_stderr)
    outcome = stack.up(on_output=_to_stderr)
    return {"stack": args.environment, "result": outcome}, 0 if outcome == "succeeded" else FAILED


def status(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    operations, paths = _operations(args, stack_factory, session_factory)
    return {"stack": args.environment, "services": [operations.status(path) for path in paths]}, 0


def rollback(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    from ops.releases import release_paths

    stack = stack_factory(args.environment)
    operations, _ = _operations(args, lambda _: stack, session_factory)
    paths = [path for path in release_paths(stack.outputs(), args.service) if path.deployment_group or args.service]
    done = []
    for path in paths:
        action = operations.rollback(path)
        if action["pin"]:
            key, value = action["pin"]
            # So the next `pulumi up` keeps this version instead of releasing the bad one again.
            stack.set_config(f"rollback-guard:{key}", value)
        done.append(action)
    return {"stack": args.environment, "rollbacks": done}, 0


def redeploy(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    from ops.releases import release_paths

    _confirm_production(args, confirm)
    stack = stack_factory(args.environment)
    paths = release_paths(stack.outputs(), args.service)
    if len(paths) != 1:
        names = ", ".join(path.service for path in paths)
        raise OpsError(f"this stack releases {names}: name one with --service", BAD_INPUT)
    [path] = paths
    if path.kind != "lambda" and not path.deployment_group:
        raise OpsError(
            f"{path.service} is released by ECS ({path.strategy}): redeploy by changing service.tag", BAD_INPUT
        )
    key, pin, form, example = (
        ("function", "pinnedVersion", r"\d+", "7")
        if path.kind == "lambda"
        else ("deployment", "pinnedRevision", r"[\w.-]+:\d+", "web-prod:7")
    )
    if not re.fullmatch(form, args.to):
        raise OpsError(f"--to {args.to!r}: a {path.kind} revision such as {example}", BAD_INPUT)
    stack.set_config(f"rollback-guard:{key}.{pin}", args.to)
    # Deliberate: a version CodeDeploy once rolled back is released again if you say so.
    stack.set_config(f"rollback-guard:{key}.retryRevision", args.to)
    outcome = stack.up(on_output=_to_stderr)
    return {"stack": args.environment, "service": path.service, "to": args.to, "result": outcome}, (
        0 if outcome == "succeeded" else FAILED
    )


def gameday(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    from ops.budget import budgets
    from ops.offline import use_config
    from ops.releases import release_paths
    from settings import load_settings

    _require_stack_file(args.environment)
    use_config(args.environment, {})
    settings = load_settings()
    if getattr(settings, "is_production", False):
        raise OpsError("game days run in staging only: a drill deliberately releases a broken version", PRECONDITION)
    stack = stack_factory(args.environment)
    operations, _ = _operations(args, lambda _: stack, session_factory)
    lambdas = [path for path in release_paths(stack.outputs(), args.service) if path.kind == "lambda"]
    if not lambdas:
        raise OpsError("no Lambda release path in this stack to drill", BAD_INPUT)
    path = lambdas[0]
    budget = next(b for b in budgets(settings) if b.path == path.service)
    sla = args.sla_minutes * 60 if args.sla_minutes else budget.recovery_seconds + DRILL_MARGIN_SECONDS
    drill = operations.gameday(path, sla)
    return {"stack": args.environment, "drill": drill.as_dict()}, 0 if drill.passed else FAILED


COMMANDS = {
    "plan": plan,
    "deploy": deploy,
    "status": status,
    "rollback": rollback,
    "redeploy": redeploy,
    "gameday": gameday,
}


# --- plumbing


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops", description="Releases with automatic rollback.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("environment", help="the stack: staging, prod")
        sub.add_argument("--json", action="store_true", help="print one JSON document")
        return sub

    command(
        "plan", "offline: the stack's resources and each release path's rollback budget, with a PNG timeline"
    ).add_argument("--png", help="where to write the timeline (default plan-ENV.png)")
    command("deploy", "preview, then up, with streamed progress").add_argument(
        "--yes", action="store_true", help="needed for prod when not asked interactively"
    )
    command("status", "live versions, in-flight deployments, alarm states, last releases")
    command(
        "rollback", "fast path: stop the in-flight deployment or put the last known-good version back"
    ).add_argument("service", nargs="?", help="one service (default: every CodeDeploy-released one)")
    redo = command("redeploy", "full path: release an earlier version through the canary")
    redo.add_argument("--to", required=True, help="a Lambda version, or a task definition revision (web-prod:7)")
    redo.add_argument("--service", help="which service, if the stack has more than one")
    redo.add_argument("--yes", action="store_true", help="needed for prod when not asked interactively")
    drill = command("gameday", "drill: release a broken version to staging and time the automatic rollback")
    drill.add_argument("--service", help="which function")
    drill.add_argument("--sla-minutes", type=float, help="the time to recover the drill must beat")
    return parser


def _require_stack_file(environment: str) -> None:
    if not (ROOT / f"Pulumi.{environment}.yaml").is_file():
        stacks = ", ".join(sorted(p.stem.removeprefix("Pulumi.") for p in ROOT.glob("Pulumi.*.yaml")))
        raise OpsError(f"no stack file Pulumi.{environment}.yaml; stacks: {stacks}", BAD_INPUT)


def _confirm_production(args, confirm: Callable[[str], str]) -> None:
    if args.environment != "prod" or args.yes:
        return
    if not sys.stdin.isatty():
        raise OpsError("refusing to change prod without confirmation: pass --yes", PRECONDITION)
    if confirm("This changes production. Type the stack name to go on: ").strip() != "prod":
        raise OpsError("not confirmed; nothing changed", PRECONDITION)


def _operations(args, stack_factory, session_factory):
    from ops.releases import Operations, release_paths

    stack = stack_factory(args.environment)
    outputs = stack.outputs()
    session = session_factory(stack.region())
    operations = Operations(
        session,
        environment=outputs.get("environment", args.environment),
        table=outputs.get("deploymentLogTableName"),
        on_progress=_to_stderr,
        clock=args.clock,
        sleep=args.sleep,
    )
    return operations, release_paths(outputs, getattr(args, "service", None))


def _to_stderr(line: str) -> None:
    """Progress goes to stderr, so --json output stays one document on stdout."""
    print(line.rstrip(), file=sys.stderr)


def _human(command: str, result: dict) -> str:
    if "error" in result:
        return f"error: {result['error']}\n"
    if command == "plan":
        lines = [f"{result['stack']}: {result['resources']['total']} resources"]
        for budget in result["budgets"]:
            blind = ", ".join(f"{b['requests_per_second']:g} at {b['share_percent']:g}%" for b in budget["blind_below"])
            lines += [
                f"  {budget['path']} ({budget['strategy']}): detect ≤ {budget['detect_seconds']} s, roll back "
                f"~{budget['rollback_seconds']} s, restored ≤ {math.ceil(budget['recovery_seconds'] / 60)} min; "
                f"worst case {budget['worst_share_percent']:g}% of traffic on a bad version",
                f"    after the last shift the alarms still roll back for "
                f"{budget['watch_after_last_shift_seconds'] / 60:g} min",
                f"    blind below (req/s overall, a guard of {budget['guard_requests']} requests of the new version "
                f"per {budget['period_seconds']} s): {blind}",
            ]
        lines.append(f"  timeline: {result['timeline']}")
        return "\n".join(lines) + "\n"
    return json.dumps(result, indent=2, default=str) + "\n"
