"""Policy for rollback_guard.testing and the package's import surface, as a user's own tests meet them:
`run` accepts every program the Pulumi engine accepts and refuses what it refuses; a failed run
leaves nothing behind for the next; `from rollback_guard import ...` gives every component and
option while the hook code shipped to Lambda imports no Pulumi; a missing extra is named."""

import ast
import gc
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

import rollback_guard
from rollback_guard.testing import DuplicateResource, FakeAws, policy_violations, run

ROOT = Path(__file__).resolve().parent.parent


class Folder(pulumi.ComponentResource):
    """A user's component holding a bucket named `logs`."""

    def __init__(self, name: str, kind: str = "shop:index:Folder"):
        super().__init__(kind, name)
        aws.s3.Bucket("logs", opts=pulumi.ResourceOptions(parent=self))


# --- names: unique per type and parent, as Pulumi's URNs are


def test_a_bucket_and_a_log_group_may_share_a_name():
    built = run(lambda: (aws.s3.Bucket("logs"), aws.cloudwatch.LogGroup("logs", retention_in_days=30)))
    assert built.registration("logs", "aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == 30
    assert built.registration("logs", "aws:s3/bucket:Bucket").type == "aws:s3/bucket:Bucket"


def test_a_name_two_resources_share_is_looked_up_with_its_type():
    built = run(lambda: (aws.s3.Bucket("logs"), aws.cloudwatch.LogGroup("logs")))
    with pytest.raises(LookupError, match=r"several resources are named 'logs': pass one of the types"):
        built.inputs("logs")


def test_two_buckets_with_one_name_beside_each_other_are_refused_as_pulumi_refuses_them():
    with pytest.raises(DuplicateResource) as refused:
        run(lambda: (aws.s3.Bucket("logs"), aws.s3.Bucket("logs")))
    assert str(refused.value) == (
        "two resources of type aws:s3/bucket:Bucket named 'logs' under the stack: Pulumi refuses a duplicate URN "
        "(urn:pulumi:test::test::aws:s3/bucket:Bucket::logs); give one another name"
    )


def test_one_name_in_components_of_different_types_is_legal():
    built = run(lambda: (aws.s3.Bucket("logs"), Folder("a"), Folder("b", kind="shop:index:Archive")))
    assert sorted(r.urn.split("::")[2] for r in built.of_type("aws:s3/bucket:Bucket")) == [
        "aws:s3/bucket:Bucket",
        "shop:index:Archive$aws:s3/bucket:Bucket",
        "shop:index:Folder$aws:s3/bucket:Bucket",
    ]


def test_one_name_in_two_components_of_one_type_is_refused_naming_the_parent():
    with pytest.raises(DuplicateResource, match=r"named 'logs' under '[ab]' \(shop:index:Folder\)"):
        run(lambda: (Folder("a"), Folder("b")))


# --- a failed run leaves nothing behind


class RefusesTheBucket(FakeAws):
    def new_resource(self, args):
        if args.name == "data":
            raise RuntimeError("AWS refused the bucket")
        return super().new_resource(args)


def failing_program():
    """A bucket the mocks refuse, and resources whose inputs wait on it."""
    data = aws.s3.Bucket("data")
    for index in range(20):
        aws.s3.Bucket(f"copy-{index}", bucket=data.bucket.apply(lambda name, index=index: f"{name}-{index}"))


def test_after_a_failed_run_the_next_one_prints_no_unretrieved_futures_and_registers_only_its_own(caplog, capfd):
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(RuntimeError, match="AWS refused the bucket"):
            run(failing_program, mocks=RefusesTheBucket())
        built = run(lambda: aws.s3.Bucket("fresh"))
        gc.collect()
    assert [r.name for r in built.monitor.registered] == ["fresh"]
    unretrieved = [record for record in caplog.records if "never retrieved" in record.getMessage()]
    assert unretrieved == []
    assert "never retrieved" not in capfd.readouterr().err


def test_a_program_that_raises_is_reported_and_the_next_run_builds():
    def raises():
        aws.s3.Bucket("first")
        raise ValueError("the program's own check")

    with pytest.raises(ValueError, match="the program's own check"):
        run(raises)
    assert run(lambda: aws.s3.Bucket("first")).inputs("first") == {}


# --- the import surface


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_the_hook_code_imports_no_pulumi_while_the_package_offers_every_component():
    result = python(
        """
        import sys
        import rollback_guard
        import rollback_guard.hooks.judge
        import rollback_guard.hooks.pre_traffic
        assert "pulumi" not in sys.modules, "the hooks imported pulumi"
        from rollback_guard import DeliveryPipeline, EcsServiceWithRollback, LambdaCanary
        from rollback_guard.components.lambda_canary import LambdaCanary as defined
        assert LambdaCanary is defined
        print("pulumi" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_every_public_name_is_the_class_its_module_defines():
    for name in rollback_guard._EXPORTS:
        value = getattr(rollback_guard, name)
        assert value.__module__ == rollback_guard._EXPORTS[name], name
    assert set(rollback_guard._EXPORTS) <= set(dir(rollback_guard))
    assert set(rollback_guard.__all__) == {"__version__", *rollback_guard._EXPORTS}


def test_type_checkers_see_the_same_names_from_the_same_modules():
    """The TYPE_CHECKING block is what pyright reads; it must match what __getattr__ imports."""
    tree = ast.parse(Path(rollback_guard.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    seen = {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert len(block.body) == len({node.module for node in block.body if isinstance(node, ast.ImportFrom)})
    assert seen == rollback_guard._EXPORTS


def test_the_names_a_user_needs_for_each_component_are_offered():
    assert {
        "EcsServiceWithRollbackArgs",
        "Container",
        "EcsRelease",
        "ServiceAlarms",
        "LoadBalancerOptions",
        "HealthCheck",
        "NewVpc",
        "ExistingVpc",
        "Network",
        "CodeDeployBlueGreen",
        "Rolling",
        "NativeShift",
        "LambdaCanaryArgs",
        "AlarmEvaluation",
        "JudgeOptions",
        "TimeBasedShift",
        "DeliveryPipelineArgs",
        "UnsafeConfiguration",
    } <= set(rollback_guard.__all__)


def test_a_name_the_package_does_not_offer_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'LambdaCanery'"):
        rollback_guard.LambdaCanery  # noqa: B018


# --- a missing extra says which extra to install


def test_the_policy_pack_without_pulumi_policy_names_the_policy_extra():
    result = python(
        """
        import sys
        sys.modules["pulumi_policy"] = None  # as if the extra were not installed
        import rollback_guard.policy.pack
        """
    )
    assert result.returncode != 0
    assert "pip install 'rollback-guard[policy]'" in result.stderr


def test_printing_the_pack_folder_without_pulumi_policy_fails_naming_the_extra():
    result = python(
        """
        import runpy, sys
        sys.modules["pulumi_policy"] = None
        runpy.run_module("rollback_guard.policy", run_name="__main__")
        """
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        "the CrossGuard pack needs pulumi_policy, from the `policy` extra: pip install 'rollback-guard[policy]'"
    )


def test_policy_violations_without_pulumi_policy_names_the_extra(monkeypatch):
    built = run(lambda: aws.s3.Bucket("data"))
    monkeypatch.setitem(sys.modules, "pulumi_policy", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'rollback-guard\[policy\]'"):
        policy_violations(built, [])
