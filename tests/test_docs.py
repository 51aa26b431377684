"""The documentation tells the truth: every ```python example of README.md and docs/*.md runs as
written, from a folder of its own (as a user's project would be, holding the sample function's code
at functions/greeter), and docs/'s reference tables are what docs/generate.py makes of the code today.

A program is built on the stacks staging and prod (its `production=` may depend on the stack);
one meant for other stacks names them on the line above its fence, invisible on the rendered page.
An example that cannot run here says so there, and why, and is rare:

    <!-- stacks: pipeline -->
    <!-- no-run: tests/test_preflight.py runs it against AWS on loopback -->
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rollback_guard.components.arguments import Whole, allow
from rollback_guard.policy.pack import POLICIES
from rollback_guard.testing import policy_violations, run

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The most examples that may be left unrun, across README.md and docs/.
MOST_NOT_RUN = 3
STACKS = ("staging", "prod")
_FENCE = re.compile(
    r"(?:^<!-- stacks: (?P<stacks>[^\n]*?) -->\n)?(?:^<!-- no-run: (?P<why>[^\n]*?) -->\n)?"
    r"^```python(?P<info>[^\n]*)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Example:
    page: Path
    line: int
    code: str
    # Why it is not run here; None for an example that runs.
    not_run_because: str | None
    # The stacks a program is built on.
    stacks: tuple[str, ...]
    # The fence's words after `python` (none are used).
    info: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.not_run_because is None

    @property
    def runs_itself(self) -> bool:
        """It builds what it needs under mocks (with rollback_guard.testing), and may define tests;
        the other examples are programs, as `pulumi up` would run them."""
        return "rollback_guard.testing" in self.code


def examples(pages: list[Path] = PAGES) -> list[Example]:
    found = []
    for page in pages:
        text = page.read_text()
        for fence in _FENCE.finditer(text):
            line = text.count("\n", 0, fence.start("info")) + 1
            stacks = tuple(fence["stacks"].split()) if fence["stacks"] else STACKS
            found.append(Example(page, line, fence["code"], fence["why"], stacks, fence["info"].strip()))
    return found


EXAMPLES = examples()


def run_example(example: Example, stack: str) -> None:
    """A program is built under mocks on `stack`, as `pulumi up` would run it; an example that
    builds under mocks itself is run, and each test it defines called, as pytest would."""
    code = compile(example.code, example.where, "exec")
    namespace: dict = {"__name__": "documented_example"}
    if not example.runs_itself:
        run(lambda: exec(code, namespace), stack=stack)
        return
    exec(code, namespace)
    for name, test in list(namespace.items()):
        if name.startswith("test_") and callable(test):
            test()


@pytest.fixture
def user_project(tmp_path, monkeypatch) -> Path:
    """A project folder that is not this repository, holding the sample function where the examples
    name it: a relative code_path is read from the project's folder."""
    shutil.copytree(ROOT / "functions" / "greeter", tmp_path / "functions" / "greeter")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.runs], ids=lambda example: example.where)
def test_every_python_example_of_the_documentation_runs_as_written(example, user_project):
    for stack in ("test",) if example.runs_itself else example.stacks:
        run_example(example, stack)


def test_the_readme_opens_with_a_program_and_shows_how_to_test_it():
    readme = [example for example in EXAMPLES if example.page.name == "README.md"]
    assert readme[0].runs and not readme[0].runs_itself
    assert any(example.runs and "def test_" in example.code for example in readme)


def test_the_readmes_opening_program_is_safe_in_production_as_written(user_project):
    """The lines a newcomer copies first: in prod they roll back on alarm, protect every part, and
    the policy pack finds nothing to refuse."""
    opening = next(example for example in EXAMPLES if example.page.name == "README.md")
    built = run(lambda: exec(compile(opening.code, opening.where, "exec"), {}), stack="prod")
    for group in ("web-deploy-group", "greeter-deploy-group"):
        assert "DEPLOYMENT_STOP_ON_ALARM" in built.inputs(group)["autoRollbackConfiguration"]["events"]
    components = [r for r in built.top_level if r.type.startswith("rollback-guard:")]
    assert components and all(r.protect for r in components)
    assert not policy_violations(built, POLICIES)


def test_examples_left_unrun_say_why_and_are_rare():
    for example in EXAMPLES:
        assert example.not_run_because != "", f"{example.where}: say why it is not run"
        assert not example.info, f"{example.where}: mark an example not run above its fence, not in it"
    assert sum(not example.runs for example in EXAMPLES) <= MOST_NOT_RUN


def test_an_example_fence_is_found_with_its_line_and_marker(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n```python\nx = 1\n```\n\n<!-- no-run: needs AWS -->\n```python\ny = 2\n```\n\n```\nnot python\n```\n"
    )
    first, second = examples([page])
    assert (first.line, first.code, first.runs, first.stacks) == (3, "x = 1\n", True, ("staging", "prod"))
    assert (second.line, second.code, second.not_run_because) == (8, "y = 2\n", "needs AWS")
    page.write_text("<!-- stacks: pipeline tools -->\n```python\nz = 3\n```\n")
    (third,) = examples([page])
    assert (third.line, third.stacks, third.runs) == (2, ("pipeline", "tools"), True)


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


# --- the generated reference tables


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _generator()


def test_the_generated_reference_tables_are_what_the_code_says_today():
    stale = generate.stale()
    assert not stale, "run `python docs/generate.py --write`:\n" + "".join(stale.values())


def test_each_high_level_component_has_a_page_with_its_fields():
    for page, args in (
        ("ecs-service.md", "rollback_guard.components.service.EcsServiceWithRollbackArgs"),
        ("lambda-canary.md", "rollback_guard.components.lambda_canary.LambdaCanaryArgs"),
        ("delivery-pipeline.md", "rollback_guard.components.delivery.DeliveryPipelineArgs"),
    ):
        assert generate.BEGIN.format(kind="fields", what=args) in (ROOT / "docs" / page).read_text(), page


@dataclass(frozen=True)
class Probes:
    """How often to probe.

    Attributes:
        per_second: Probes a second. Default: 2, enough to see a failure within seconds.
    """

    per_second: int = field(default=2, metadata=allow(Whole(1, 10)))
    burst: int = 5


@dataclass
class ExampleArgs:
    """An example component's arguments.

    Attributes:
        name: Required. What it is called.
    """

    name: str
    probes: Probes = field(default_factory=Probes)
    spare: Probes | None = None


def test_a_table_shows_each_field_with_its_type_default_rule_and_entry_and_follows_the_options():
    tables = generate.fields_block(f"{__name__}.ExampleArgs")
    assert [line for line in tables.splitlines() if line.startswith("### ")] == ["### ExampleArgs", "### Probes"]
    rows = {line.split(" | ")[0].strip("| `"): line for line in tables.splitlines() if line.startswith("| `")}
    assert rows["name"] == "| `name` | `str` | required |  | Required. What it is called. |"
    assert "[`Probes()`](#probes)" in rows["probes"]
    assert "`Probes \\| None` | `None` | [Probes](#probes)" in rows["spare"]
    assert rows["per_second"] == (
        "| `per_second` | `int` | `2` | a whole number from 1 to 10 "
        "| Probes a second. Default: 2, enough to see a failure within seconds. |"
    )
    assert rows["burst"].endswith(f"| {generate.UNDOCUMENTED} |"), "a field the docstring leaves out is said to be"
    assert "How often to probe." in tables


def test_a_page_keeps_its_own_text_and_only_the_blocks_are_made_again():
    begin = generate.BEGIN.format(kind="fields", what=f"{__name__}.Probes")
    page = f"# Probes\n\nProse.\n\n{begin}\nstale\n{generate.END}\n\nMore prose.\n"
    rendered = generate.render(page)
    assert rendered.startswith("# Probes\n\nProse.\n\n") and rendered.endswith(f"{generate.END}\n\nMore prose.\n")
    assert "stale" not in rendered and "| `per_second` |" in rendered
    assert generate.render(rendered) == rendered


def test_the_configuration_reference_lists_every_key_of_the_stack_files():
    services, pipeline = generate.schema_block("services"), generate.schema_block("pipeline")
    for key in ("`services.<name>.alarms.errorRatePercent`", "`functions.<name>.smokeEvents[]`", "`aws:region`"):
        assert key in services
    assert "`pipeline.healthCheckMinutes`" in pipeline and "`services" not in pipeline


def test_every_link_to_a_page_of_the_documentation_leads_to_one():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:\s]+\.md)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page.relative_to(ROOT)} links to {target}, which is not there"


@pytest.mark.parametrize("component", ["EcsServiceWithRollback", "LambdaCanary", "DeliveryPipeline"])
def test_help_on_a_components_constructor_explains_its_own_parameters_not_pulumis(component):
    import inspect

    import rollback_guard

    constructor = getattr(rollback_guard, component).__init__
    assert list(inspect.signature(constructor).parameters) == ["self", "name", "args", "opts"]
    doc = inspect.getdoc(constructor)
    assert "`args`" in doc and "remote" not in doc and "package_ref" not in doc
