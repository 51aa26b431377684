"""Policy for database migrations: rollbacks don't roll back databases.

CodeDeploy puts traffic back on the previous release, but a migration stays applied, so every migration
must keep the previous release working: expand first, contract a release later. squawk is the gate:
`make lint-migrations` and the pipeline's Build stage run `.venv/bin/squawk migrations/*.sql` from the
repository root, and any non-zero exit fails the build. These tests run the same binary the same way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
UNSAFE = ROOT / "tests" / "migrations"
# Not resolved: the virtualenv's bin/, where pip put squawk-cli's binary, not the base interpreter's.
SQUAWK = Path(sys.executable).parent / "squawk"

# squawk 2.70 colours its report and hyperlinks each rule name even when piped and with NO_COLOR set.
ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;;[^\x1b]*\x1b\\")
FINDING = re.compile(r"^(?:warning|error)\[([a-z0-9-]+)\]: (.*)$", re.MULTILINE)
SUPPRESSION = "-- squawk-ignore ban-drop-column"


@dataclass(frozen=True)
class Report:
    exit_code: int
    text: str

    @property
    def rules(self) -> set[str]:
        return {rule for rule, _ in FINDING.findall(self.text)}

    @property
    def messages(self) -> set[str]:
        return {f"{rule}: {message}" for rule, message in FINDING.findall(self.text)}


def squawk(*paths: Path, stdin: str | None = None) -> Report:
    assert SQUAWK.is_file(), f"{SQUAWK} is missing: the gate needs squawk-cli installed in this virtualenv"
    args = [str(SQUAWK)]
    if stdin is None:
        args += [str(path.relative_to(ROOT)) for path in paths]
    else:
        args += ["--stdin-filepath", str(paths[0].relative_to(ROOT))]
    result = subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return Report(result.returncode, ANSI.sub("", result.stdout + result.stderr))


def project_migrations() -> list[Path]:
    migrations = sorted(MIGRATIONS.glob("*.sql"))
    assert migrations, "migrations/*.sql matches nothing: the shell would pass the pattern itself and squawk fail"
    return migrations


def assert_fails_the_build(report: Report, rule: str, message: str) -> None:
    assert report.exit_code != 0, report.text
    assert report.rules == {rule}, report.text
    assert f"{rule}: {message}" in report.messages, report.text


def test_the_project_migrations_pass_the_gate():
    migrations = project_migrations()
    report = squawk(*migrations)
    assert report.exit_code == 0, report.text
    assert report.rules == set()
    assert f"Found 0 issues in {len(migrations)} files" in report.text


def test_renaming_a_column_fails_the_build_with_squawks_message():
    report = squawk(UNSAFE / "rename_column.sql")
    assert_fails_the_build(report, "renaming-column", "Renaming a column may break existing clients.")
    assert "tests/migrations/rename_column.sql:7:20" in report.text


def test_dropping_a_column_the_previous_release_still_reads_fails_the_build_with_squawks_message():
    report = squawk(UNSAFE / "drop_column_still_read.sql")
    assert_fails_the_build(report, "ban-drop-column", "Dropping a column may break existing clients.")


def test_adding_a_not_null_column_without_a_default_fails_the_build_with_squawks_message():
    report = squawk(UNSAFE / "add_required_column.sql")
    assert_fails_the_build(
        report,
        "adding-required-field",
        "Adding a new column that is `NOT NULL` and has no default value to an existing table effectively makes "
        "it required.",
    )


def test_one_unsafe_migration_among_the_project_migrations_fails_the_whole_gate():
    report = squawk(*project_migrations(), UNSAFE / "rename_column.sql")
    assert report.exit_code != 0, report.text
    assert report.rules == {"renaming-column"}, report.text


def test_the_contract_step_passes_only_through_its_reviewed_suppression():
    contract = next(path for path in project_migrations() if SUPPRESSION in path.read_text())
    unsuppressed = contract.read_text().replace(SUPPRESSION + "\n", "")
    report = squawk(contract, stdin=unsuppressed)
    assert_fails_the_build(report, "ban-drop-column", "Dropping a column may break existing clients.")


def test_every_suppression_is_a_reviewed_column_drop_naming_the_release_since_which_nothing_reads_it():
    suppressed = 0
    for path in project_migrations():
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if "squawk-ignore" not in line:
                continue
            where = f"{path.relative_to(ROOT)}:{number + 1}"
            assert line == SUPPRESSION, f"{where}: only `{SUPPRESSION}` on its own line is allowed"
            assert re.match(r"ALTER TABLE .* DROP COLUMN IF EXISTS ", lines[number + 1]), where
            assert re.search(r"Nothing has read \S+ since release \d+\.\d+", " ".join(lines[:number])), (
                f"{where}: the contract step must name the release since which nothing reads the column"
            )
            suppressed += 1
    assert suppressed >= 1, "the history has a contract step: its suppression must be found"
