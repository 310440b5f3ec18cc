"""Exports to an existing file, a link or a pipe: written where the user pointed, mode kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
from tests.governance.conftest import PATIENT_B
from typer.testing import CliRunner

from careloop.cli import app as cli
from careloop.runtime import Runtime

runner = CliRunner()


def test_patient_export_keeps_a_private_files_mode(
    population: Runtime, database_url: str, tmp_path: Path
) -> None:
    target = tmp_path / "export.json"
    target.write_text("")
    target.chmod(0o600)  # the operator made it private before exporting PHI into it
    old = os.umask(0o022)
    try:
        result = runner.invoke(
            cli, ["patients", "export", PATIENT_B, "--output", str(target), "-d", database_url]
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert orjson.loads(target.read_bytes())["resourceType"] == "Bundle"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600, oct(target.stat().st_mode)


def test_patient_export_through_a_symlink_writes_its_target(
    population: Runtime, database_url: str, tmp_path: Path
) -> None:
    real = tmp_path / "vault" / "export.json"
    real.parent.mkdir()
    real.write_text("")
    link = tmp_path / "export.json"
    link.symlink_to(real)
    result = runner.invoke(
        cli, ["patients", "export", PATIENT_B, "--output", str(link), "-d", database_url]
    )
    assert result.exit_code == 0, result.output
    assert link.is_symlink(), "the link was replaced by a regular file"
    assert orjson.loads(real.read_bytes())["resourceType"] == "Bundle"


def test_patient_export_into_a_pipe(population: Runtime, database_url: str, tmp_path: Path) -> None:
    """``--output`` a named pipe (as ``/dev/stdout`` or ``>(gpg -e ...)`` would be): the reader
    gets the document; the pipe is not replaced by a plain file holding PHI."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = runner.invoke(
        cli, ["patients", "export", PATIENT_B, "--output", str(fifo), "-d", database_url]
    )
    assert result.exit_code == 0, (result.output, repr(result.exception))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the pipe was replaced by a regular file"
    reader.join(5)
    assert got
    assert orjson.loads(got[0])["resourceType"] == "Bundle"
    if reader.is_alive():  # unblock the reader
        with open(fifo, "wb"):
            pass


def test_output_dev_stdout_into_an_anonymous_pipe() -> None:
    """``--output /dev/stdout | gpg ...``: /dev/stdout names the pipe through /proc, whose link
    text is no path; the document goes down the pipe."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from careloop.cli.command import Written; "
        "Written(text='{}', output=Path('/dev/stdout')).show(as_json=False)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()[-300:]
    assert done.stdout == b"{}"
