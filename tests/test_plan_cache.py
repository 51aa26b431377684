"""`ops plan`'s cache (ops/cache.py): a cached plan prints the same bytes and draws the same PNG as a
computed one; any change to what the plan reads, or to its command line, misses; a failed plan,
--no-cache and a plan whose inputs changed while it ran store nothing."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops import cache, cli
from ops.stack import BAD_INPUT, OpsError

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG a timeline"

# `python -m ops` in a fresh interpreter, as a user runs it, that also says which files it opened
# and which modules it imported (written as JSON to $PLAN_TRACE).
TRACED = """
import json, os, runpy, sys
sys.path[0] = os.getcwd()  # as `python -m` sets it
opened = set()
sys.addaudithook(lambda event, args: opened.add(os.path.abspath(os.fsdecode(args[0])))
                 if event in ("open", "os.listdir", "os.scandir") and isinstance(args[0], (str, bytes)) else None)
sys.argv = ["ops", *sys.argv[1:]]
try:
    runpy.run_module("ops", run_name="__main__", alter_sys=True)
except SystemExit as done:
    code = done.code
with open(os.environ["PLAN_TRACE"], "w") as trace:
    json.dump({"opened": sorted(opened), "modules": sorted(sys.modules)}, trace)
sys.exit(code)
"""


def traced_plan(*argv: str, cache_dir: Path, trace: Path) -> tuple[subprocess.CompletedProcess, dict]:
    environment = {**os.environ, cache.CACHE_DIR_VARIABLE: str(cache_dir), "PLAN_TRACE": str(trace)}
    done = subprocess.run(
        [sys.executable, "-c", TRACED, "plan", *argv], cwd=ROOT, env=environment, capture_output=True, check=False
    )
    return done, json.loads(trace.read_text())


def project_files() -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in cache.inputs()}


def test_a_second_plan_prints_the_same_bytes_and_png_from_the_cache_without_importing_pulumi(tmp_path):
    cache_dir, png = tmp_path / "cache", tmp_path / "plan.png"
    before = project_files()
    cold, cold_trace = traced_plan("prod", "--png", str(png), cache_dir=cache_dir, trace=tmp_path / "cold.json")
    assert cold.returncode == 0, cold.stderr.decode()
    cold_png = png.read_bytes()
    png.unlink()
    if project_files() != before:  # rightly not stored: the plan read what it read before the edit
        pytest.skip("someone edited the project while the plan ran")
    assert len(list(cache_dir.glob("*.json"))) == 1

    warm, warm_trace = traced_plan("prod", "--png", str(png), cache_dir=cache_dir, trace=tmp_path / "warm.json")
    assert warm.returncode == 0, warm.stderr.decode()
    assert (warm.stdout, warm.stderr) == (cold.stdout, cold.stderr)
    assert png.read_bytes() == cold_png
    assert not {"pulumi", "pulumi_aws", "numpy", "matplotlib", "boto3"} & set(warm_trace["modules"])

    # Every project file the computed plan read is in the key (what it read of the installed
    # distributions, in the virtualenv, is keyed by their names and versions).
    keyed = {str(path) for path in cache.inputs()}
    read = {
        path
        for path in cold_trace["opened"]
        if Path(path).is_relative_to(ROOT)
        and not Path(path).is_relative_to(sys.prefix)
        and Path(path).is_file()
        and "__pycache__" not in path
    }
    assert read and read <= keyed, f"read but not in the cache key: {sorted(read - keyed)}"


# --- the cache's rules, around a stand-in for the computed plan


@pytest.fixture
def planned(monkeypatch):
    """Replaces the plan's computation: records each call; `result`, `code` and `during` (run while
    it computes) say what it does."""

    class Planned:
        calls = 0
        result = {"stack": "prod", "resources": {"total": 1}}
        code = 0
        during = staticmethod(lambda: None)

        def __call__(self, args, stack_factory, session_factory, confirm):
            self.calls += 1
            self.during()
            if self.code:
                raise OpsError("refused", self.code)
            png = cli._timeline_path(args)
            png.write_bytes(PNG)
            return {**self.result, "timeline": str(png)}, 0

    stand_in = Planned()
    monkeypatch.setitem(cli.COMMANDS, "plan", stand_in)
    return stand_in


def plan(*argv: str, cache_dir: Path | None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["plan", *argv], out=out, err=err, cache_dir=cache_dir)
    return code, out.getvalue(), err.getvalue()


def test_a_hit_replays_the_output_and_rewrites_the_png(tmp_path, planned):
    png = tmp_path / "t.png"
    first = plan("prod", "--json", "--png", str(png), cache_dir=tmp_path / "c")
    png.unlink()
    again = plan("prod", "--json", "--png", str(png), cache_dir=tmp_path / "c")
    assert planned.calls == 1
    assert again == first and first[0] == 0
    assert png.read_bytes() == PNG


def test_no_cache_neither_reads_nor_writes(tmp_path, planned):
    argv = ("prod", "--json", "--png", str(tmp_path / "t.png"))
    plan(*argv, "--no-cache", cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()
    plan(*argv, cache_dir=tmp_path / "c")
    plan(*argv, "--no-cache", cache_dir=tmp_path / "c")
    assert planned.calls == 3


def test_without_a_cache_directory_every_plan_is_computed(tmp_path, planned):
    for _ in range(2):
        plan("prod", "--json", "--png", str(tmp_path / "t.png"), cache_dir=None)
    assert planned.calls == 2


def test_each_command_line_has_its_own_entry(tmp_path, planned):
    png = str(tmp_path / "t.png")
    for argv in (("prod", "--png", png), ("prod", "--png", png + "2"), ("staging", "--png", png)):
        plan(*argv, "--json", cache_dir=tmp_path / "c")
    plan("prod", "--json", "--png", png, cache_dir=tmp_path / "c")  # the first again, options reordered
    assert planned.calls == 3
    assert len(list((tmp_path / "c").glob("*.json"))) == 3


def test_a_failed_plan_is_never_stored(tmp_path, planned):
    planned.code = BAD_INPUT
    for _ in range(2):
        code, _, err = plan("prod", "--json", "--png", str(tmp_path / "t.png"), cache_dir=tmp_path / "c")
        assert code == BAD_INPUT and "refused" in err
    assert planned.calls == 2
    assert not list((tmp_path / "c").glob("*.json"))


def test_an_unknown_stack_is_refused_before_the_cache(tmp_path, planned):
    assert plan("qa", cache_dir=tmp_path / "c")[0] == BAD_INPUT
    assert not (tmp_path / "c").exists()


def test_a_plan_whose_inputs_changed_while_it_ran_is_not_stored(tmp_path, planned, monkeypatch):
    monkeypatch.delenv("PULUMI_SOMETHING", raising=False)
    planned.during = lambda: monkeypatch.setenv("PULUMI_SOMETHING", "changed")
    assert plan("prod", "--json", "--png", str(tmp_path / "t.png"), cache_dir=tmp_path / "c")[0] == 0
    assert not list((tmp_path / "c").glob("*.json"))


def test_a_damaged_entry_is_computed_again(tmp_path, planned):
    argv = ("prod", "--json", "--png", str(tmp_path / "t.png"))
    first = plan(*argv, cache_dir=tmp_path / "c")
    [entry] = (tmp_path / "c").glob("*.json")
    entry.write_text('{"format": 1, "out": ')
    assert plan(*argv, cache_dir=tmp_path / "c") == first
    assert planned.calls == 2
    assert plan(*argv, cache_dir=tmp_path / "c") == first  # stored again
    assert planned.calls == 2


# --- the key


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of every file the key reads, and a README that it does not."""
    copy = (tmp_path / "project").resolve()
    for path in cache.inputs():
        target = copy / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    (copy / "README.md").write_text("readme")
    return copy


ARGUMENTS = {"command": "plan", "environment": "prod", "json": False, "png": None}


def test_the_key_is_the_same_for_the_same_inputs(project):
    assert cache.key(ARGUMENTS, project) == cache.key(dict(reversed(ARGUMENTS.items())), project)
    (project / "README.md").write_text("another readme")
    assert cache.key(ARGUMENTS, project) == cache.key(ARGUMENTS, project.parent / "project")


def test_a_changed_stack_file_value_changes_the_key(project):
    before = cache.key(ARGUMENTS, project)
    stack_file = project / "Pulumi.prod.yaml"
    text = stack_file.read_text()
    assert "expectedRequestsPerSecond: 10" in text
    stack_file.write_text(text.replace("expectedRequestsPerSecond: 10", "expectedRequestsPerSecond: 11", 1))
    assert cache.key(ARGUMENTS, project) != before
    stack_file.write_text(text)
    assert cache.key(ARGUMENTS, project) == before


@pytest.mark.parametrize(
    "source",
    [
        "rollback_guard/detection.py",
        "ops/cli.py",
        "rollback_guard/hooks/verdict.py",
        "rollback_guard/components/alarms.py",
        "settings.py",
        "program.py",
        "Pulumi.yaml",
        "Pulumi.staging.yaml",
        "functions/greeter/app.py",
    ],
)
def test_a_changed_source_file_changes_the_key(project, source):
    before = cache.key(ARGUMENTS, project)
    with (project / source).open("a") as file:
        file.write("\n# changed\n")
    assert cache.key(ARGUMENTS, project) != before


def test_a_new_file_in_the_package_or_a_code_folder_changes_the_key(project):
    before = cache.key(ARGUMENTS, project)
    (project / "rollback_guard" / "new_module.py").write_text("")
    after_package = cache.key(ARGUMENTS, project)
    (project / "functions" / "greeter" / "extra.txt").write_text("data")
    assert len({before, after_package, cache.key(ARGUMENTS, project)}) == 3


def test_a_code_folder_a_stack_file_names_outside_functions_is_in_the_key(project):
    (project / "lambdas" / "other").mkdir(parents=True)
    (project / "lambdas" / "other" / "app.py").write_text("x = 1")
    stack_file = project / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text().replace("codePath: functions/greeter", "codePath: lambdas/other"))
    assert project / "lambdas" / "other" / "app.py" in cache.inputs(project)


@pytest.mark.parametrize(
    "changed", [{"json": True}, {"png": "elsewhere.png"}, {"environment": "staging"}, {"command": "other"}]
)
def test_the_command_line_is_in_the_key(project, changed):
    assert cache.key({**ARGUMENTS, **changed}, project) != cache.key(ARGUMENTS, project)


def test_the_installed_distributions_and_the_environment_are_in_the_key(project, tmp_path, monkeypatch):
    before = cache.key(ARGUMENTS, project)
    site = tmp_path / "site"
    (site / "numpy-9.9.9.dist-info").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    with_distribution = cache.key(ARGUMENTS, project)
    monkeypatch.setenv("MPLBACKEND", "svg")
    with_variable = cache.key(ARGUMENTS, project)
    assert len({before, with_distribution, with_variable}) == 3
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "a secret")
    assert cache.key(ARGUMENTS, project) == with_variable, "secrets are neither needed nor hashed"
