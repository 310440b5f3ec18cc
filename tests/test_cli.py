"""The CLI as a whole: errors end in one line, never a traceback."""

from __future__ import annotations

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
