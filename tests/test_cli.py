"""The CLI as a whole: errors end in one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
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


WORKER_PROCESS = """
import atexit, sys
sys.argv = ["careloop", "worker", "--once", "--no-jobs", "--json", "--database", sys.argv[1]]
loaded = lambda: sorted(m for m in sys.modules if m.startswith(("careloop.cli.", "numpy")))
atexit.register(lambda: print(loaded()))
from careloop.cli import main
main()
"""


def test_a_worker_starts_without_loading_other_domains_commands(tmp_path: Path) -> None:
    """``careloop worker`` (and each replacement of a killed one) loads the outreach commands
    only, and not the decision engine's NumPy; every command still answers from the one
    entry point."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER_PROCESS, f"sqlite:///{tmp_path / 'worker.db'}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    *report, loaded = done.stdout.strip().splitlines()
    assert orjson.loads("\n".join(report))["claimed"] == 0
    assert "careloop.cli.outreach" in loaded
    assert "careloop.cli.demo" not in loaded
    assert "careloop.cli.records" not in loaded
    assert "numpy" not in loaded
    assert runner.invoke(app, ["worker", "--help"]).exit_code == 0
    assert "simulate" in runner.invoke(app, ["--help"]).output


def test_python_dash_m_careloop_runs_the_same_commands() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "careloop", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "worker" in done.stdout
    assert "import" in done.stdout
