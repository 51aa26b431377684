"""`python -m ops`: one command for everything around a release.

Every command prints a human summary, or with --json one JSON document, on stdout; errors also go
to stderr; progress goes to stderr. Exit codes are 0 done, 1 failed, 2 bad input, 3 a
precondition missing (see ops/stack.py). Bad input is refused before anything needs the Pulumi
CLI or AWS. `preflight` (and `deploy`, which runs it first) says 1 for a stack not ready to roll
back and 3 for one it could not check: what it needed to read was refused or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml
from botocore.exceptions import BotoCoreError, ClientError

from ops import cache as plan_cache
from ops.stack import BAD_INPUT, FAILED, PRECONDITION, ROOT, AutomationStack, OpsError, StackPort, aws_session

if TYPE_CHECKING:
    from rollback_guard.preflight import Finding

StackFactory = Callable[[str], StackPort]
SessionFactory = Callable[[str | None], Any]
# Deployment starts, hooks and CodeDeploy's own bookkeeping, beyond detection and rollback.
DRILL_MARGIN_SECONDS = 300
PIPELINE = "pipeline"
LAMBDA_VERSION, TASK_DEFINITION_REVISION = r"[1-9]\d*", r"[\w.-]+:[1-9]\d*"


def main(
    argv: list[str] | None = None,
    stack_factory: StackFactory = AutomationStack,
    session_factory: SessionFactory = aws_session,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    confirm: Callable[[str], str] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    cache_dir: Path | None = None,
) -> int:
    """`cache_dir`: where `plan` keeps its results (ops/cache.py); None, the default, computes every
    plan. `python -m ops` passes the user's cache directory."""
    args = _parser().parse_args(argv)
    args.clock, args.sleep, args.monotonic = clock, sleep, monotonic
    cache_key = None
    try:
        _require_stack_file(args.environment)
        if cache_dir is not None and args.command == "plan" and not args.no_cache:
            cache_key = plan_cache.key_or_none(_plan_arguments(args))
            hit = cache_key and plan_cache.load(cache_dir, cache_key)
            if hit:
                hit.replay(out, err)
                return 0
        result, code = COMMANDS[args.command](args, stack_factory, session_factory, confirm or _ask(err))
    except OpsError as error:
        result, code = {"error": str(error)}, error.exit_code
    except (ClientError, BotoCoreError) as error:  # AWS said no: say what, without a traceback
        result, code = {"error": f"AWS: {error}"}, FAILED
    said = ""
    for reported in [result, *result.get("services", []), *result.get("rollbacks", [])]:
        who = f"{reported['service']}: " if "service" in reported else ""
        for kind in ("error", "warning"):
            if kind in reported:
                said += f"{kind}: {who}{reported[kind]}\n"
    printed = json.dumps(result, indent=2, default=str) + "\n" if args.json else _human(args.command, result)
    err.write(said)
    out.write(printed)
    # Never a failed plan; and not under the old key if an input changed while the plan ran.
    if cache_key and code == 0 and plan_cache.key_or_none(_plan_arguments(args)) == cache_key:
        timeline = result["timeline"]
        plan_cache.store(cache_dir, cache_key, plan_cache.Entry(printed, said, timeline, Path(timeline).read_bytes()))
    return code


# --- commands


def plan(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    """Offline: no AWS, no Pulumi CLI. Builds the stack with the mock engine."""
    from ops.budget import PLAN_HEALTHY_RUNS, PLAN_RUNS, budgets
    from ops.offline import settled_stack, use_config
    from ops.timeline import draw
    from rollback_guard.detection import ASSUMPTIONS
    from settings import PipelineSettings, SettingsError, load_settings

    try:
        use_config(args.environment, {})
        settings = load_settings()
        built = settled_stack(args.environment)
    except SettingsError as error:
        raise OpsError(str(error), BAD_INPUT) from None
    if isinstance(settings, PipelineSettings):
        raise OpsError(f"{args.environment} is the pipeline stack: it has no release paths to budget", BAD_INPUT)
    found = budgets(settings)
    png = draw(found, args.environment, _timeline_path(args))
    types = Counter(registration.type for registration in built.monitor.registered)
    return {
        "stack": args.environment,
        "resources": {"total": sum(types.values()), "byType": dict(sorted(types.items()))},
        "budgets": [budget.as_dict() for budget in found],
        "model": {
            "runs": PLAN_RUNS,
            "healthyRuns": PLAN_HEALTHY_RUNS,
            "assumptions": [assumption.line() for assumption in ASSUMPTIONS],
        },
        "timeline": str(png),
    }, 0


def _timeline_path(args) -> Path:
    return Path(args.png or f"plan-{args.environment}.png")


def _plan_arguments(args) -> dict[str, Any]:
    """What of a `plan` command line shapes its output: part of its cache key."""
    return {"command": args.command, "environment": args.environment, "json": args.json, "png": args.png}


def deploy(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    stack = stack_factory(args.environment)
    session = session_factory(stack.region())  # credentials that work, or exit 3 before anything runs
    _require_passphrase(stack)
    # The pipeline stack releases nothing of its own: nothing there to roll back.
    if args.environment != PIPELINE and not args.skip_preflight:
        findings = _preflight(stack, session)
        for finding in findings:
            _to_stderr(f"preflight: {finding.line()}")
        code, _ = _readiness(findings)
        if code:
            refusal = "is not ready to roll back" if code == FAILED else "could not be checked"
            return {
                "stack": args.environment,
                "error": f"not deploying: the stack {refusal} (preflight, above): fix what it says, or pass "
                "--skip-preflight",
                "findings": [finding.as_dict() for finding in findings],
            }, code
    stack.preview(on_output=_to_stderr)
    _confirm_production(args, confirm)
    outcome = stack.up(on_output=_to_stderr)
    return {"stack": args.environment, "result": outcome}, 0 if outcome == "succeeded" else FAILED


def preflight(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    """Read-only: is the stack ready to roll back (rollback_guard/preflight.py)?"""
    _not_the_pipeline(args)
    stack = stack_factory(args.environment)
    findings = _preflight(stack, session_factory(stack.region()))
    code, verdict = _readiness(findings)
    return {
        "stack": args.environment,
        "ready": code == 0,
        "verdict": verdict,
        "findings": [finding.as_dict() for finding in findings],
    }, code


def status(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    operations, paths = _operations(args, stack_factory, session_factory)
    services = [_per_service(path, lambda path=path: operations.status(path)) for path in paths]
    return {"stack": args.environment, "services": services}, _worst(services)


def rollback(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    from ops.releases import release_paths

    _not_the_pipeline(args)
    _confirm_production(args, confirm)
    stack = stack_factory(args.environment)
    operations, _ = _operations(args, lambda _: stack, session_factory)
    paths = [path for path in release_paths(stack.outputs(), args.service) if path.deployment_group or args.service]
    by = operations.caller()
    done = []
    for path in paths:
        action = _per_service(path, lambda path=path: operations.rollback(path, by=by, reason=args.reason))
        if action.get("pin"):
            key, value = action["pin"]
            # So the next `pulumi up` keeps this version instead of releasing the bad one again.
            try:
                stack.set_config(key, value)
            except OpsError as error:
                action["warning"] = (
                    f"rolled back, but the pin was not written ({error}): pulumi config set --path {key} {value}"
                )
        done.append(action)
    return {"stack": args.environment, "rollbacks": done}, _worst(done)


def redeploy(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    from ops.releases import release_paths

    _not_the_pipeline(args)
    kind = _revision_kind(args.to)
    stack = stack_factory(args.environment)
    paths = release_paths(stack.outputs(), args.service)
    if len(paths) != 1:
        names = ", ".join(path.service for path in paths)
        raise OpsError(f"this stack releases {names}: name one with --service", BAD_INPUT)
    [path] = paths
    if path.kind != "lambda" and not path.deployment_group:
        raise OpsError(
            f"{path.service} is released by ECS ({path.strategy}): redeploy by changing services.{path.service}.tag",
            BAD_INPUT,
        )
    if kind != path.kind:
        example = "7" if path.kind == "lambda" else "web-prod:7"
        raise OpsError(f"--to {args.to!r}: {path.service} takes a {path.kind} revision such as {example}", BAD_INPUT)
    keys = [path.setting("pin"), path.setting("retry")]
    before = {key: stack.get_config(key) for key in keys}
    # The pin, and a deliberate retry: a version CodeDeploy once rolled back is released again if you say so.
    for key in keys:
        stack.set_config(key, args.to)
    if args.environment == "prod" and not args.yes:
        confirmed = False
        try:
            stack.preview(on_output=_to_stderr)
            _confirm_production(args, confirm)
            confirmed = True
        finally:
            if not confirmed:  # declined, or the preview failed: the stack is as it was
                for key, value in before.items():
                    stack.set_config(key, value) if value is not None else stack.remove_config(key)
    outcome = stack.up(on_output=_to_stderr)
    return {"stack": args.environment, "service": path.service, "to": args.to, "result": outcome}, (
        0 if outcome == "succeeded" else FAILED
    )


def gameday(args, stack_factory, session_factory, confirm) -> tuple[dict, int]:
    from ops.budget import budgets
    from ops.offline import use_config
    from ops.releases import release_paths
    from settings import load_settings

    _not_the_pipeline(args)
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
    "preflight": preflight,
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

    planning = command(
        "plan", "offline: the stack's resources and each release path's rollback budget, with a PNG timeline"
    )
    planning.add_argument("--png", help="where to write the timeline (default plan-ENV.png)")
    planning.add_argument(
        "--no-cache",
        action="store_true",
        help="compute the plan even if the same inputs were planned before (results are kept in "
        "$XDG_CACHE_HOME/rollback-guard/plan, or $ROLLBACK_GUARD_CACHE_DIR)",
    )
    command("preflight", "read-only: is the stack ready to roll back? one line per finding, with what to do")
    release = command("deploy", "preflight, preview, then up, with streamed progress")
    release.add_argument("--yes", action="store_true", help="needed for prod when not asked interactively")
    release.add_argument(
        "--skip-preflight", action="store_true", help="deploy even if preflight finds the stack not ready"
    )
    command(
        "status", "live versions, in-flight deployments and the judge's say, alarm states, last releases"
    ).add_argument("--service", help="one service (default: all)")
    back = command("rollback", "fast path: stop the in-flight deployment or put the last known-good version back")
    back.add_argument("--service", help="one service (default: every CodeDeploy-released one)")
    back.add_argument("--reason", help="why, for the deployment log (default: the alarms in ALARM)")
    back.add_argument("--yes", action="store_true", help="needed for prod when not asked interactively")
    redo = command("redeploy", "full path: release an earlier version through the canary")
    redo.add_argument("--to", required=True, help="a Lambda version, or a task definition revision (web-prod:7)")
    redo.add_argument("--service", help="which service, if the stack has more than one")
    redo.add_argument("--yes", action="store_true", help="needed for prod when not asked interactively")
    drill = command("gameday", "drill: release a broken version to staging and time the automatic rollback")
    drill.add_argument("--service", help="which function")
    drill.add_argument("--sla-minutes", type=float, help="the time to recover the drill must beat")
    return parser


def _revision_kind(revision: str) -> str:
    """What a --to names, known before anything needs the Pulumi CLI or AWS."""
    if re.fullmatch(LAMBDA_VERSION, revision):
        return "lambda"
    if re.fullmatch(TASK_DEFINITION_REVISION, revision):
        return "ecs"
    raise OpsError(
        f"--to {revision!r}: a Lambda version such as 7 or a task definition revision such as web-prod:7", BAD_INPUT
    )


def _require_stack_file(environment: str) -> None:
    if not (ROOT / f"Pulumi.{environment}.yaml").is_file():
        stacks = ", ".join(sorted(p.stem.removeprefix("Pulumi.") for p in ROOT.glob("Pulumi.*.yaml")))
        raise OpsError(f"no stack file Pulumi.{environment}.yaml; stacks: {stacks}", BAD_INPUT)


def _not_the_pipeline(args) -> None:
    if args.environment == PIPELINE:
        raise OpsError(f"{PIPELINE} is the pipeline stack: it releases no service of its own", BAD_INPUT)


def _require_passphrase(stack: StackPort) -> None:
    """On the local file backend a stack's secrets are encrypted with a passphrase (unless its
    stack file names another secrets provider), which every `up` must be given."""
    stack_file = yaml.safe_load((ROOT / f"Pulumi.{stack.name}.yaml").read_text()) or {}
    provider = str(stack_file.get("secretsprovider") or "passphrase")
    given = "PULUMI_CONFIG_PASSPHRASE" in os.environ or "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ
    if stack.backend_url().startswith("file://") and provider.startswith("passphrase") and not given:
        raise OpsError(
            "the local file backend needs PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) set", PRECONDITION
        )


def _ask(err: TextIO) -> Callable[[str], str]:
    """A question on stderr, so stdout stays the result."""

    def ask(question: str) -> str:
        err.write(question)
        err.flush()
        return input()

    return ask


def _confirm_production(args, confirm: Callable[[str], str]) -> None:
    if args.environment != "prod" or args.yes:
        return
    if not sys.stdin.isatty():
        raise OpsError("refusing to change prod without confirmation: pass --yes", PRECONDITION)
    if confirm("This changes production. Type the stack name to go on: ").strip() != "prod":
        raise OpsError("not confirmed; nothing changed", PRECONDITION)


def _preflight(stack: StackPort, session) -> list[Finding]:
    from rollback_guard.preflight import BadOutputs, StackExports, check_stack

    if not session.region_name:
        raise OpsError(f"no AWS region for {stack.name}: set aws:region in its stack file", PRECONDITION)
    try:
        exports = StackExports.from_outputs(stack.outputs())
    except BadOutputs as error:  # not what program.py exports: nothing to check against
        raise OpsError(f"preflight cannot read {stack.name}'s outputs: {error}", BAD_INPUT) from None
    return check_stack(exports, session)


def _readiness(findings: list[Finding]) -> tuple[int, str]:
    """0 ready (notes at most), 1 not ready, 3 not every check could run; and the word for it."""
    from rollback_guard.preflight import Severity

    severities = {finding.severity for finding in findings}
    if Severity.NOT_READY in severities:
        return FAILED, "not-ready"
    if Severity.UNCHECKED in severities:
        return PRECONDITION, "unchecked"
    return 0, "ready"


def _operations(args, stack_factory, session_factory):
    from ops.releases import Operations, release_paths

    _not_the_pipeline(args)
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
        monotonic=args.monotonic,
    )
    return operations, release_paths(outputs, getattr(args, "service", None))


def _per_service(path, work: Callable[[], dict]) -> dict:
    """One service's result, or what went wrong with it: the others still get theirs."""
    try:
        return work()
    except OpsError as error:
        return {"service": path.service, "error": str(error), "exitCode": error.exit_code}
    except (ClientError, BotoCoreError) as error:
        return {"service": path.service, "error": f"AWS: {error}", "exitCode": FAILED}


def _worst(results: list[dict]) -> int:
    return max((result.get("exitCode", 0) for result in results), default=0)


def _to_stderr(line: str) -> None:
    """Progress goes to stderr, so --json output stays one document on stdout."""
    print(line.rstrip(), file=sys.stderr)


def _human(command: str, result: dict) -> str:
    if "error" in result:
        return ""  # said on stderr
    lines = HUMAN[command](result)
    return "\n".join(lines) + "\n"


def _plan_lines(result: dict) -> list[str]:
    lines = [f"{result['stack']}: {result['resources']['total']} resources"]
    for budget in result["budgets"]:
        watchers = "alarms and judge" if budget["judged"] else "alarms"
        lines += [
            f"  {budget['path']} ({budget['strategy']}, {budget['config']}) at "
            f"{budget['requests_per_second']:g} req/s: "
            f"rollback ~{budget['rollback_seconds']} s; {watchers} watch "
            f"{budget['watch_after_last_shift_seconds'] / 60:g} min after the last shift",
            "    a bad version: time to restore median/p95, exposure p95, errors served p95, never rolled back",
        ]
        healthy = []
        for scenario in budget["scenarios"]:
            detectors = scenario["detectors"]
            if detectors["all"]["false_rollback_rate"] is not None:
                at = "errors at the threshold, " if scenario["scenario"] == "healthy-at-threshold" else ""
                healthy.append(
                    f"{at}{_rate(scenario['baseline'])}: {_rate(detectors['all']['false_rollback_rate'])} "
                    f"(alarms alone {_rate(detectors['static']['false_rollback_rate'])})"
                )
                continue
            lines.append(
                f"      {scenario['title']}: {_outcome(detectors['all'])}; "
                f"alarms alone: {_outcome(detectors['static'])}"
            )
        lines.append(f"    healthy releases rolled back: {'; '.join(healthy)}")
        blind = ", ".join(f"{b['requests_per_second']:g} at {b['share_percent']:g}%" for b in budget["blind_below"])
        lines.append(
            f"    alarms blind below (req/s overall, a guard of {budget['guard_requests']} requests of the new "
            f"version per {budget['period_seconds']} s): {blind}"
        )
        lines.append(f"    {budget['assessment']['message']}")
    model = result["model"]
    lines.append(
        f"  model (rollback_guard.detection): {model['runs']} runs a bad scenario, "
        f"{model['healthyRuns']} a healthy one; assumed:"
    )
    lines += [f"    {line}" for line in model["assumptions"]]
    lines.append(f"  timeline: {result['timeline']}")
    return lines


def _outcome(outcome: dict) -> str:
    missed = outcome["miss_rate"]
    if not outcome["rollbacks"]:
        return "never rolled back"
    median, p95 = outcome["restore_median_s"], outcome["restore_p95_s"]
    restored = f"{median:.0f}/{p95:.0f} s" if p95 < 120 else f"{median / 60:.1f}/{p95 / 60:.1f} min"
    return (
        f"{restored}, {outcome['exposure_p95_percent']:g}%, {outcome['errors_served_p95']:.0f} errors, "
        f"{_rate(missed)} missed"
    )


def _rate(rate: float) -> str:
    percent = rate * 100
    return f"{percent:.1f}%" if 0 < percent < 10 and percent != round(percent) else f"{percent:.0f}%"


def _status_lines(result: dict) -> list[str]:
    lines = [f"{result['stack']}:"]
    for service in result["services"]:
        if "error" in service:
            lines.append(f"  {service['service']}: error: {service['error']}")
            continue
        alarms = ", ".join(f"{name} {state}" for name, state in service["alarms"].items()) or "none"
        lines.append(f"  {service['service']} ({service['strategy']}): live {service['live']}; alarms: {alarms}")
        for flight in service["inFlight"]:
            traffic = ", ".join(
                f"{where} {share:g}%" for where, share in flight["traffic"].items() if share is not None
            )
            lines.append(f"    in flight: {flight['deploymentId']} {flight['status']} ({traffic or 'no traffic yet'})")
        judge = service.get("judge")
        if judge:
            looked = f", last look {judge['lastLookAt']}" if judge.get("lastLookAt") else ""
            lines.append(
                f"    judge on {judge['deploymentId']}: {judge['verdict'] or 'no rollback'} "
                f"({judge['probes']} probes{looked})"
            )
            if judge["verdict"]:
                lines.append(f"      why: {judge['explanation']}")
            lines += [f"      {finding}" for finding in judge["findings"]]
        for release in service["lastReleases"]:
            lines.append(
                f"    {release.get('deploymentCreatedAt', '?')} {release.get('status')} {release.get('version')} "
                f"(from {release.get('previousVersion') or '-'})"
            )
    return lines


def _rollback_lines(result: dict) -> list[str]:
    lines = [f"{result['stack']}:"]
    for done in result["rollbacks"]:
        if "error" in done:
            lines.append(f"  {done['service']}: error: {done['error']}")
        elif done["action"] in ("stopped", "already-rolling-back"):
            lines.append(f"  {done['service']}: {done['action']} (deployment {done['deploymentId']})")
        else:
            key, value = done["pin"]
            lines.append(
                f"  {done['service']}: {done['action']} from {done['from']} to {done['to']} ({done['reason']}); "
                f"pinned {key} = {value} in this stack's config: commit it, or the pipeline's next "
                "up is refused the rolled-back revision anyway"
            )
    return lines


def _gameday_lines(result: dict) -> list[str]:
    drill = result["drill"]
    verdict = "PASSED" if drill["passed"] else "FAILED"
    lines = [f"{result['stack']}: drill {verdict}: {drill['service']} version {drill['broken_version']}"]
    if drill["ran"]:
        lines.append(
            f"  caught by {drill['caught_by']}; recovered in {drill['time_to_recover_seconds']:g} s "
            f"(SLA {drill['sla_seconds']:g} s); live: {drill['live_version']}"
        )
    lines.append(f"  {drill['outcome'].splitlines()[0] if drill['outcome'] else ''}".rstrip())
    return lines


HUMAN = {
    "plan": _plan_lines,
    "preflight": lambda result: [
        f"{result['stack']}: {result['verdict']}",
        *(f"  {finding['line']}" for finding in result["findings"]),
    ],
    "deploy": lambda result: [f"{result['stack']}: up {result['result']}"],
    "status": _status_lines,
    "rollback": _rollback_lines,
    "redeploy": lambda result: [
        f"{result['stack']}: {result['service']} redeployed to {result['to']}: {result['result']}"
    ],
    "gameday": _gameday_lines,
}
