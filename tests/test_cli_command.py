"""The one command shape (``careloop.cli.command``): the options it adds, one transaction
per command, and the result shown only after the commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from careloop.audit import AuditAction, Purpose
from careloop.cli import app
from careloop.cli.command import Drawn, Listed, Output, Shown, Work, in_transaction, showing
from careloop.errors import InvalidInput
from careloop.models import AuditEvent
from careloop.runtime import open_runtime

runner = CliRunner()
probe = typer.Typer()


@probe.command("audit-one")
@in_transaction()
def audit_one(
    work: Work,
    resource: str,
    fail_after: bool = typer.Option(False, "--fail-after", help="Raise after writing."),
    fail_at_commit: bool = typer.Option(False, "--fail-at-commit", help="The commit fails."),
) -> Output:
    """Write one audit event, then fail if asked (in the command, or at its commit)."""
    work.audit(AuditAction.READ, resource, Purpose.OPERATIONS)
    if fail_at_commit:
        event.listen(work.session, "before_commit", _refuse_commit)
    if fail_after:
        raise InvalidInput("asked to fail", field="fail-after")
    return Shown({"resource": resource}, f"audited {resource}")


@probe.command("rows")
@in_transaction()
def rows(work: Work, count: int = 0) -> Output:
    """Rows, one line each."""
    return Listed([{"n": n} for n in range(count)], line=lambda r: f"row {r['n']}", empty="none")


@probe.command("drawn")
@in_transaction(json=False)
def drawn(work: Work) -> Output:
    """No --json: what people see only."""
    return Drawn({"kept": True}, lambda: typer.echo("drawn for people"))


@probe.command("catalogue")
@showing()
def catalogue(kind: str = "app") -> Output:
    """No database: only --json is added."""
    return Shown({"kind": kind}, f"kind {kind}")


def _refuse_commit(_session: Session) -> None:
    raise InvalidInput("the database refused the commit", field="commit")


def _events(url: str) -> int:
    rt = open_runtime(database=url)
    try:
        with rt.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    finally:
        rt.close()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'command.db'}"


def test_the_result_is_shown_as_json_or_text_and_the_write_is_kept(url: str) -> None:
    as_json = runner.invoke(probe, ["audit-one", "consent", "--database", url, "--json"])
    as_text = runner.invoke(probe, ["audit-one", "worklist", "--database", url])

    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == {"resource": "consent"}
    assert as_text.stdout == "audited worklist\n"
    assert _events(url) == 2


@pytest.mark.parametrize("failure", ["--fail-after", "--fail-at-commit"])
def test_a_command_that_fails_shows_nothing_and_writes_nothing(url: str, failure: str) -> None:
    """Whether the command raises or only its commit fails (after it returned its result),
    nothing is shown and nothing is written."""
    runner.invoke(probe, ["audit-one", "consent", "--database", url])
    failed = runner.invoke(probe, ["audit-one", "worklist", "--database", url, failure])

    assert failed.exit_code != 0
    assert "audited" not in failed.stdout
    assert _events(url) == 1


def test_rows_print_a_line_each_or_the_empty_text(url: str) -> None:
    some = runner.invoke(probe, ["rows", "--count", "2", "--database", url])
    none = runner.invoke(probe, ["rows", "--database", url])
    listed = runner.invoke(probe, ["rows", "--count", "1", "--database", url, "--json"])

    assert some.stdout == "row 0\nrow 1\n"
    assert none.stdout == "none\n"
    assert json.loads(listed.stdout) == [{"n": 0}]


def test_without_json_the_command_has_no_json_option(url: str) -> None:
    shown = runner.invoke(probe, ["drawn", "--database", url])
    refused = runner.invoke(probe, ["drawn", "--database", url, "--json"])

    assert shown.stdout == "drawn for people\n"
    assert refused.exit_code == 2
    assert "No such option" in refused.output


def test_a_command_without_a_database_gets_json_only() -> None:
    shown = runner.invoke(probe, ["catalogue", "--kind", "class"])
    as_json = runner.invoke(probe, ["catalogue", "--json"])
    refused = runner.invoke(probe, ["catalogue", "--database", "x.db"])

    assert shown.stdout == "kind class\n"
    assert json.loads(as_json.stdout) == {"kind": "app"}
    assert refused.exit_code == 2


def test_commands_keep_their_shared_options_and_help() -> None:
    """The options the decorator adds are the shared ones: same names, help and variable."""
    helped = runner.invoke(app, ["rewards", "list", "--help"], env={"COLUMNS": "200"})

    assert helped.exit_code == 0
    assert "One patient's rewards, newest first." in helped.output
    for option in ("--patient", "--database", "-d", "--json", "CARELOOP_DATABASE_URL"):
        assert option in helped.output, option
    assert "work" not in helped.output.lower().split()
