"""Policy for rollback_guard as a package a platform team installs: the built wheel goes into a
fresh virtualenv and its components work in a program outside this project, from another working
directory, with the hook handlers and the release provider loaded from the installed package.

The fresh virtualenv gets only the wheel; its runtime dependencies come from this project's
virtualenv through a .pth file (appended after the virtualenv's own site-packages, so the installed
rollback_guard is the one imported), which keeps the test offline and fast."""

import ast
import base64
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from email.parser import Parser
from pathlib import Path
from zipfile import ZipFile

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2
from packaging.requirements import Requirement
from pulumi.runtime.proto import analyzer_pb2_grpc

from rollback_guard.policy.pack import POLICIES

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DEPENDENCIES = {"pulumi", "pulumi-aws", "boto3"}
# What a user of the components installs; this project's own tools are not among them.
PUBLISHED_EXTRAS = {"vpc", "policy", "model", "test"}
PACK_FILES = {"PulumiPolicy.yaml", "__main__.py", "requirements.txt"}

USER_PROGRAM = """
    import json
    import sys

    import rollback_guard
    from rollback_guard import (
        Container,
        EcsServiceWithRollback,
        EcsServiceWithRollbackArgs,
        ExistingVpc,
        LambdaCanary,
        LambdaCanaryArgs,
        LoadBalancerOptions,
    )
    from rollback_guard.components.lambda_function import hooks_archive
    from rollback_guard.testing import run


    def program():
        EcsServiceWithRollback("checkout", EcsServiceWithRollbackArgs(
            network=ExistingVpc("vpc-0abc1234", ("subnet-0a000001", "subnet-0a000002"), ("subnet-0b000001", "subnet-0b000002")),
            container=Container(name="web", image="public.ecr.aws/nginx/nginx", tag="1.27", port=80),
            load_balancer=LoadBalancerOptions(
                listener_port=443,
                certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000",
            ),
            production=True,
        ))
        LambdaCanary("greeter", LambdaCanaryArgs(
            code_path="greeter", handler="app.handler", production=True,
            smoke_events=[{"name": "greets", "payload": {}, "expect": {"statusCode": 200}}],
        ))


    built = run(program, stack="prod")
    print(json.dumps({
        "package": rollback_guard.__file__,
        "top_level": sorted(registration.type for registration in built.top_level),
        "rollback_events": {
            name: built.inputs(name)["autoRollbackConfiguration"]["events"]
            for name in ("checkout-deploy-group", "greeter-deploy-group")
        },
        "hook_files": {name: asset.path for name, asset in hooks_archive().assets.items()},
        "provider": built.inputs("greeter-release")["__provider"],
    }))
"""

# What `python -m pulumi.dynamic` does with the provider stored in the state, in a new process.
LOAD_PROVIDER = """
    import base64, inspect, sys
    import dill
    provider = dill.loads(base64.b64decode(sys.stdin.read()))
    print(inspect.getfile(type(provider)))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources, so the build leaves nothing in the project."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "rollback_guard", source / "rollback_guard", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, source], check=True)
    (built,) = dist.glob("rollback_guard-*.whl")
    return built


@pytest.fixture(scope="module")
def user_python(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("user") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", "--python", python]
    subprocess.run([*pip, "install", "--no-deps", "--no-index", wheel], check=True)
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site_packages) / "runtime-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def run_python(python: Path, code: str, cwd: Path, stdin: str = "") -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    result = subprocess.run(
        [python, "-c", textwrap.dedent(code)], cwd=cwd, env=env, input=stdin, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def wheel_metadata(wheel: Path):
    with ZipFile(wheel) as archive:
        metadata_name = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(metadata_name).decode())


def requirements_of(wheel: Path, extra: str | None = None) -> set[str]:
    """The distributions the wheel requires, or those `extra` adds."""
    found = set()
    for line in wheel_metadata(wheel).get_all("Requires-Dist"):
        requirement = Requirement(line)
        marker = requirement.marker
        if (marker is None) if extra is None else (marker is not None and marker.evaluate({"extra": extra})):
            found.add(normalized(requirement.name))
    return found


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_the_wheel_declares_only_the_runtime_dependencies(wheel):
    assert requirements_of(wheel) == RUNTIME_DEPENDENCIES


def test_the_published_extras_serve_the_package_and_none_is_this_projects_tooling(wheel):
    assert set(wheel_metadata(wheel).get_all("Provides-Extra")) == PUBLISHED_EXTRAS
    assert requirements_of(wheel, "vpc") == {"pulumi-awsx"}
    assert requirements_of(wheel, "policy") == {"pulumi-policy"}
    assert requirements_of(wheel, "model") == {"numpy"}


def test_the_test_extra_holds_what_rollback_guard_testing_imports_and_no_moto(wheel):
    """Every module rollback_guard.testing imports comes with Python, the runtime dependencies or the
    test extra; moto's server, cfn-lint, sympy and pytest are this project's tools, not a user's."""
    test_extra = requirements_of(wheel, "test")
    assert not test_extra & {"moto", "cfn-lint", "sympy", "pytest", "pytest-xdist", "jsonschema", "cryptography"}
    tree = ast.parse((ROOT / "rollback_guard" / "testing.py").read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    imported.add("pulumi_policy")  # required by name (rollback_guard.extras.require) for policy_violations
    # What the runtime dependencies bring with them (protobuf and grpc come with pulumi).
    brought = {
        normalized(Requirement(line).name)
        for runtime in RUNTIME_DEPENDENCIES
        for line in importlib.metadata.requires(runtime) or []
        if "extra ==" not in line
    }
    provided = RUNTIME_DEPENDENCIES | test_extra | brought
    distributions = importlib.metadata.packages_distributions()
    for module in imported - set(sys.stdlib_module_names) - {"rollback_guard"}:
        assert {normalized(name) for name in distributions[module]} & provided, module


def test_the_wheel_ships_every_hook_handler_and_the_type_marker(wheel):
    with ZipFile(wheel) as archive:
        names = set(archive.namelist())
    handlers = {f"rollback_guard/hooks/{path.name}" for path in (ROOT / "rollback_guard" / "hooks").glob("*.py")}
    assert handlers <= names
    assert {"rollback_guard/py.typed", "rollback_guard/components/release.py", "rollback_guard/testing.py"} <= names
    assert {f"rollback_guard/policy/crossguard-pack/{name}" for name in PACK_FILES} <= names
    assert not [name for name in names if name.startswith(("tests/", "ops/", "program"))]


@pytest.fixture(scope="module")
def user_program(user_python, tmp_path_factory) -> dict:
    """A program of the platform team's own, in its own folder with its own function code."""
    folder = tmp_path_factory.mktemp("platform-team")
    shutil.copytree(ROOT / "functions" / "greeter", folder / "greeter", ignore=shutil.ignore_patterns("__pycache__"))
    return json.loads(run_python(user_python, USER_PROGRAM, cwd=folder))


def test_a_program_outside_the_project_imports_the_installed_package(user_program, user_python):
    result = user_program
    assert Path(result["package"]).is_relative_to(user_python.parent.parent)
    assert not Path(result["package"]).is_relative_to(ROOT)


def test_the_high_level_components_are_one_node_each_in_a_users_program(user_program):
    result = user_program
    assert result["top_level"] == [
        "rollback-guard:lambda_canary:LambdaCanary",
        "rollback-guard:service:EcsServiceWithRollback",
    ]


def test_installed_production_groups_roll_back_on_alarm(user_program):
    result = user_program
    for events in result["rollback_events"].values():
        assert "DEPLOYMENT_STOP_ON_ALARM" in events


def test_the_hook_handlers_are_shipped_from_the_installed_package(user_program, user_python):
    result = user_program
    files = result["hook_files"]
    assert {
        "rollback_guard/__init__.py",
        "rollback_guard/hooks/pre_traffic.py",
        "rollback_guard/hooks/post_traffic.py",
    } <= set(files)
    for path in files.values():
        assert Path(path).is_file()
        assert Path(path).is_relative_to(user_python.parent.parent)


def test_the_stored_release_provider_loads_by_reference_from_any_directory(user_program, user_python, tmp_path):
    """dill stores the provider's class by module path; a later `pulumi up` or `destroy`, run from
    anywhere, loads the installed package's current code."""
    result = user_program
    stored = result["provider"]["value"]  # Pulumi keeps the serialized provider as a secret.
    assert "rollback_guard.components.release" in base64.b64decode(stored).decode("latin-1")
    provider_file = run_python(user_python, LOAD_PROVIDER, cwd=tmp_path, stdin=stored).strip()
    assert Path(provider_file).is_relative_to(user_python.parent.parent)
    assert provider_file.endswith("rollback_guard/components/release.py")


@pytest.fixture(scope="module")
def installed_pack(user_python, tmp_path_factory) -> Path:
    """The folder `python -m rollback_guard.policy` prints for the installed package."""
    printed = run_python(
        user_python,
        "import runpy; runpy.run_module('rollback_guard.policy', run_name='__main__')",
        cwd=tmp_path_factory.mktemp("anywhere"),
    )
    return Path(printed.strip())


def test_the_policy_pack_is_a_folder_of_the_installed_package(installed_pack, user_python):
    assert installed_pack.is_relative_to(user_python.parent.parent)
    assert {path.name for path in installed_pack.iterdir()} >= PACK_FILES


def test_the_installed_pack_names_the_released_package_at_its_version(installed_pack, wheel):
    metadata = wheel_metadata(wheel)
    project = yaml.safe_load((installed_pack / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == "python" and str(project["version"]) == metadata["Version"]
    lines = [line for line in (installed_pack / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    (requirement,) = map(Requirement, lines)
    assert requirement.name == metadata["Name"] and requirement.extras == {"policy"}
    assert str(requirement.specifier) == f"=={metadata['Version']}"


def test_the_installed_pack_serves_every_policy_as_the_pulumi_cli_runs_it(installed_pack, user_python):
    """`pulumi preview --policy-pack "$(python -m rollback_guard.policy)"` runs
    `python -m pulumi.policy <engine> <folder>` with the Python on PATH."""
    with subprocess.Popen(
        [user_python, "-m", "pulumi.policy", "127.0.0.1:0", installed_pack],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=installed_pack,
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
    ) as pack:
        try:
            port = int(pack.stdout.readline())
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        finally:
            pack.kill()
    assert sorted(policy.name for policy in info.policies) == sorted(policy.name for policy in POLICIES)
