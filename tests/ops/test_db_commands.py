"""``careloop db ...``: migrations under a lock, reversible on both databases, and production
mode that refuses to migrate implicitly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from careloop.cli import app
from careloop.db import (
    current_revisions,
    downgrade,
    head_revisions,
    make_engine,
    migrate,
    revision_history,
)
from careloop.models import Base

runner = CliRunner()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    return {**env, **extra}


def test_three_simultaneous_first_upgrades_on_postgresql_all_succeed(
    empty_postgresql_url: str, careloop_cli: Path, tmp_path: Path
) -> None:
    procs = [
        subprocess.Popen(
            [str(careloop_cli), "db", "upgrade", "--database", empty_postgresql_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            cwd=tmp_path,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]  # type: ignore[union-attr]
    assert [code for code, _ in results] == [0, 0, 0], results
    engine = make_engine(empty_postgresql_url)
    try:
        assert current_revisions(engine) == head_revisions()
    finally:
        engine.dispose()


def test_three_simultaneous_first_commands_on_sqlite_all_succeed(
    tmp_path: Path, careloop_cli: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'first.db'}"
    procs = [
        subprocess.Popen(
            [str(careloop_cli), "db", "upgrade", "--database", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            cwd=tmp_path,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]  # type: ignore[union-attr]
    assert [code for code, _ in results] == [0, 0, 0], results


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_base_head_base_head_leaves_the_schema_the_models_describe(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        request.getfixturevalue("empty_postgresql_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'cycle.db'}"
    )
    engine = make_engine(url)
    try:
        for _ in range(2):
            migrate(engine)
            assert current_revisions(engine) == head_revisions()
            downgrade(engine, "base")
            assert current_revisions(engine) == ()
            left = set(inspect(engine).get_table_names()) - {"alembic_version"}
            assert left == set()
        if backend == "postgresql":
            with engine.connect() as conn:
                functions = conn.execute(
                    text("SELECT proname FROM pg_proc WHERE proname LIKE 'careloop%'")
                ).all()
            assert functions == []
        migrate(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_every_migration_steps_down_and_up_one_at_a_time_on_postgresql(
    empty_postgresql_url: str,
) -> None:
    engine = make_engine(empty_postgresql_url)
    try:
        migrate(engine)
        for _ in revision_history():
            downgrade(engine, "-1")
        assert current_revisions(engine) == ()
        migrate(engine)
        assert current_revisions(engine) == head_revisions()
    finally:
        engine.dispose()


def test_db_cli_contract_downgrade_base_then_upgrade_on_postgresql(
    empty_postgresql_url: str,
) -> None:
    url = empty_postgresql_url
    up = runner.invoke(app, ["db", "upgrade", "--database", url, "--json"])
    assert up.exit_code == 0, up.output
    assert '"up_to_date": true' in up.output
    current = runner.invoke(app, ["db", "current", "--database", url])
    assert current.exit_code == 0
    assert "(head)" in current.output
    down = runner.invoke(app, ["db", "downgrade", "base", "--database", url])
    assert down.exit_code == 0, down.output
    assert "empty" in down.output
    again = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert again.exit_code == 0, again.output
    history = runner.invoke(app, ["db", "history", "--database", url])
    assert history.exit_code == 0
    assert "base -> 0001" in history.output
    assert "(current)" in history.output


def test_db_cli_refuses_unknown_revision_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["db", "downgrade", "9999", "--database", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert result.exit_code == 2
    assert "no migration '9999'" in result.output
    assert "Traceback" not in result.output


def test_production_mode_refuses_an_outdated_schema_and_says_what_to_run(
    tmp_path: Path, careloop_cli: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    env = _env(CARELOOP_ENVIRONMENT="production")
    refused = subprocess.run(
        [str(careloop_cli), "patients", "list", "--database", url],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert "careloop db upgrade --database" in refused.stderr
    assert "Traceback" not in refused.stderr
    engine = make_engine(url)
    try:
        assert current_revisions(engine) == ()
    finally:
        engine.dispose()
    upgraded = subprocess.run(
        [str(careloop_cli), "db", "upgrade", "--database", url], env=env, cwd=tmp_path
    )
    assert upgraded.returncode == 0
    listed = subprocess.run(
        [str(careloop_cli), "patients", "list", "--database", url],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr


def test_plain_alembic_with_the_repository_ini_uses_the_packaged_migrations(
    tmp_path: Path, careloop_cli: Path
) -> None:
    repo = Path(__file__).resolve().parents[2]
    url = f"sqlite:///{tmp_path / 'alembic.db'}"
    alembic = careloop_cli.parent / "alembic"
    result = subprocess.run(
        [str(alembic), "-c", str(repo / "alembic.ini"), "-x", f"database={url}", "upgrade", "head"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    try:
        assert current_revisions(engine) == head_revisions()
    finally:
        engine.dispose()


def test_the_sqlite_migration_lock_file_is_never_committed() -> None:
    # A `careloop demo` run in the checkout leaves careloop.db.migrate-lock beside careloop.db;
    # git must ignore it like the database itself, so it never lands in a commit.
    root = Path(__file__).resolve().parents[2]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", "careloop.db.migrate-lock"], cwd=root
    )
    tracked_but_ignored = subprocess.run(
        ["git", "ls-files", "-ci", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ignored.returncode == 0
    assert tracked_but_ignored.stdout == ""
