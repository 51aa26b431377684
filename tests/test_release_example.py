"""Policy for the Automation API example (examples/release.py) a user copies into CI: a failed
release is exit code 1 with CodeDeploy's explanation, anything else that fails is not mistaken for
it, and a release that went through says where traffic is.

The Pulumi CLI cannot be installed here, so `pulumi` on PATH is tests/fake_pulumi.py, which answers
as the CLI does and writes the engine's event log; the example and the Automation API run unchanged,
in their own process."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "release.py"
OUTPUTS = {
    "environment": "staging",
    "services": {
        "web": {"liveRevision": "web-staging:4", "strategy": "codedeploy-blue-green"},
        "api": {"strategy": "ecs-canary"},
    },
    "functions": {"greeter": {"liveVersion": "7"}},
    "deployKey": "s3cr3t",
}


@pytest.fixture
def cli(tmp_path):
    """Runs the example with the stand-in CLI; returns (exit code, stdout, what the CLI was asked)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "pulumi"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests" / "fake_pulumi.py"}" "$@"\n')
    launcher.chmod(0o755)
    state = tmp_path / "state.json"

    def release(*args: str, outcome: str = "released", stacks=("staging",), path: str = f"{bin_dir}:/usr/bin:/bin"):
        state.write_text(
            json.dumps(
                {
                    "stacks": {name: {} for name in stacks},
                    "outcome": outcome,
                    "outputs": OUTPUTS,
                    "secret_outputs": ["deployKey"],
                    "calls": [],
                }
            )
        )
        env = {"PATH": path, "HOME": str(tmp_path), "FAKE_PULUMI_STATE": str(state)}
        result = subprocess.run(
            [sys.executable, EXAMPLE, *args, "--work-dir", str(ROOT)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert not result.stderr or "Traceback" not in result.stderr, result.stderr
        calls = json.loads(state.read_text())["calls"] if state.exists() else []
        return result.returncode, result.stdout, calls

    return release


def commands(calls: list[list[str]]) -> list[str]:
    return [" ".join(call[:2]) if call[0] in ("stack", "config") else call[0] for call in calls]


def test_a_release_that_goes_through_exits_0_and_says_where_traffic_is(cli, tmp_path):
    code, out, calls = cli("staging", "--set", "rollback-guard:services.web.tag=1.28", "--outputs", "out.json")
    assert code == 0, out
    assert "planned: 1 replace, 76 same, 1 update" in out
    assert "update   pulumi-python:dynamic/release:Release web-release" in out
    assert "web: live web-staging:4" in out
    assert "api: released by ECS itself (ecs-canary)" in out
    assert "greeter: live version 7" in out
    assert commands(calls) == [
        "version",
        "stack select",
        "config set",
        "preview",
        "up",
        "stack output",
        "stack output",
        "stack history",
    ]


def test_settings_are_set_by_path_on_the_chosen_stack(cli):
    _, _, calls = cli("staging", "--set", "rollback-guard:services.web.tag=1.28")
    (config_set,) = [call for call in calls if call[:2] == ["config", "set"]]
    assert config_set[config_set.index("--path") + 1] == "rollback-guard:services.web.tag"
    assert config_set[-1] == "1.28"
    assert config_set[config_set.index("--stack") + 1] == "staging"


def test_the_outputs_file_holds_the_outputs_with_secrets_left_out(cli, tmp_path):
    cli("staging", "--outputs", "out.json")
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["services"]["web"]["liveRevision"] == "web-staging:4"
    assert written["deployKey"] == "[secret]"


def test_a_new_stack_is_created(cli):
    code, _, calls = cli("feature-x", stacks=())
    assert code == 0
    assert ["stack", "init", "feature-x"] in calls


def test_a_rolled_back_release_exits_1_with_codedeploys_explanation(cli, tmp_path):
    code, out, calls = cli("staging", "--outputs", "out.json", outcome="release-failed")
    assert code == 1
    assert "release failed, traffic stays on the previous version" in out
    assert "web-release: cannot release web-task:4: CodeDeploy rolled back deployment d-ABC123" in out
    assert not (tmp_path / "out.json").exists()
    assert "stack output" not in commands(calls)


def test_a_resource_failure_is_not_mistaken_for_a_failed_release(cli):
    code, out, _ = cli("staging", outcome="resource-failed")
    assert code == 4
    assert "update failed: web-task: creating ECS Task Definition" in out
    assert "release failed" not in out


def test_a_mandatory_policy_violation_stops_the_preview(cli):
    code, out, calls = cli("prod", "--policy-pack", "policy-pack", outcome="policy-violation", stacks=("prod",))
    assert code == 4
    assert "policy codedeploy-rolls-back-on-alarm (mandatory)" in out
    preview = next(call for call in calls if call[0] == "preview")
    assert preview[preview.index("--policy-pack") + 1] == "policy-pack"
    assert "up" not in commands(calls)


def test_without_the_pulumi_cli_it_cannot_start_and_says_so(cli):
    code, out, _ = cli("staging", path="/usr/bin:/bin")
    assert code == 3
    assert "the Pulumi CLI is not installed" in out


@pytest.mark.parametrize("setting", ["rollback-guard:services.web.tag", "=1.28"])
def test_a_setting_without_key_and_value_is_bad_arguments(cli, setting):
    code, _, calls = cli("staging", "--set", setting)
    assert code == 2
    assert calls == []


def test_the_example_knows_the_release_resources_type(staging):
    """How the example tells a failed release from any other failure."""
    example = runpy.run_path(str(EXAMPLE), run_name="release_example")
    assert {
        registration.type for registration in staging.monitor.registered if registration.name.endswith("-release")
    } == {example["RELEASE_TYPE"]}
