"""``careloop demo --database URL`` runs on the database it is given, PostgreSQL included,
and refuses one it cannot use with one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from careloop.cli import app
from careloop.db import make_engine

runner = CliRunner()


@pytest.mark.slow
def test_demo_on_postgresql_fills_that_database_and_writes_no_local_file(
    empty_postgresql_url: str, careloop_cli: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    result = subprocess.run(
        [str(careloop_cli), "demo", "--database", empty_postgresql_url, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []
    engine = make_engine(empty_postgresql_url)
    try:
        with engine.connect() as conn:
            patients = conn.execute(text("SELECT count(*) FROM patients")).scalar_one()
            sent = conn.execute(
                text("SELECT count(*) FROM events WHERE kind = 'sent'")
            ).scalar_one()
    finally:
        engine.dispose()
    # the Synthea sample, the pilot's synthetic oncology patients, the access story's two
    # the relocating patient (two records linked into one), the adapting reminders' two and
    # the email and voice patients
    assert patients == 20 + 6 + 2 + 1 + 2 + 2
    assert sent > 0

    again = runner.invoke(app, ["demo", "--database", empty_postgresql_url])
    assert again.exit_code == 2
    assert "already holds patients" in again.output
    assert "--keep" in again.output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://root@127.0.0.1/careloop", "'mysql' is not supported"),
        ("sqlite:////no/such/folder/demo.db", "folder /no/such/folder"),
        ("postgresql://nobody@127.0.0.1:1/careloop", "cannot reach the database"),
    ],
)
def test_demo_refuses_a_database_it_cannot_use_in_one_line(
    url: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--database", url])
    assert result.exit_code == 2
    assert says in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    assert not Path("/no/such/folder").exists()
