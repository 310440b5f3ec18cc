"""The CLI as a whole: errors end in one line, never a traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from careloop.cli import app

runner = CliRunner()


def test_any_command_turns_bad_input_into_one_line_and_exit_2() -> None:
    result = runner.invoke(app, ["simulate", "--patients", "0"])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "--patients" in result.output


def test_version_and_help_answer() -> None:
    assert runner.invoke(app, ["--version"]).output.startswith("careloop ")
    for command in ("import", "patients", "demo", "serve", "measure", "report", "simulate"):
        assert runner.invoke(app, [command, "--help"]).exit_code == 0, command


def test_a_services_own_error_inside_a_sub_command_ends_in_one_line(tmp_path: Path) -> None:
    """The root group is the one guard: no command needs its own wrapper."""
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    result = runner.invoke(app, ["rewards", "fulfil", "999", "--database", database])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines() == ["error: reward entry not found"]
