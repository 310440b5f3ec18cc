"""One configuration reference generated from the models; unknown CARELOOP_* variables
refused with the nearest name; *_FILE secrets; serve honours the web settings; clear one-line
errors for an unreachable database or a mistyped SQLite path; state under the data dir."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import pytest
import typer
from typer.testing import CliRunner

from careloop.cli import app
from careloop.compose.configuration import (
    all_variables,
    render_reference,
    secret_variable_names,
    unknown_variables,
)
from careloop.crypto import read_secret
from careloop.settings import ConfigurationError, Settings, setting_variables

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    return {**env, **extra}


def test_the_configuration_reference_is_generated_from_the_models() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "configuration_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == render_reference()
    for variable in all_variables():
        assert f"`{variable.name}`" in doc
    assert "CARELOOP_JOBS__ESCALATIONS_MINUTES" in doc
    assert "|  |" not in doc  # every variable says what it does


def test_a_misspelled_variable_stops_every_command_naming_the_nearest_valid_one() -> None:
    result = runner.invoke(
        app, ["patients", "list"], env={"CARELOOP_DATABSE_URL": "sqlite:///x.db"}
    )
    assert result.exit_code == 2
    assert "CARELOOP_DATABSE_URL (did you mean CARELOOP_DATABASE_URL?)" in result.output
    assert "Traceback" not in result.output
    nested = unknown_variables({"CARELOOP_JOBS__ESCALATION_MINUTES": "3"})
    assert nested == [("CARELOOP_JOBS__ESCALATION_MINUTES", "CARELOOP_JOBS__ESCALATIONS_MINUTES")]


def test_every_variable_the_models_read_is_accepted() -> None:
    environ = {v.name: "x" for v in all_variables()}
    environ |= {f"{name}_FILE": "/x" for name in secret_variable_names()}
    environ |= {
        "CARELOOP_TEST_PG": "postgresql://",
        "CARELOOP_JOBS": "{}",
        "CARELOOP_RETENTION__OTHER_DAYS__RAW_WEBHOOKS": "30",
        "careloop_web__port": "8001",
        "PATH": "/bin",
    }
    assert unknown_variables(environ) == []


def test_every_secret_can_be_read_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = [v for v in setting_variables(Settings) if v.secret]
    assert {v.name for v in secrets} >= {
        "CARELOOP_SECURITY__SECRET_KEY",
        "CARELOOP_SECURITY__ENCRYPTION_KEY",
        "CARELOOP_CHANNELS__SMS__AUTH_TOKEN",
        "CARELOOP_CHANNELS__EMAIL__PASSWORD",
        "CARELOOP_WEB__METRICS_TOKEN",
    }
    for variable in secrets:
        path = tmp_path / variable.name
        path.write_text(f"value-of-{variable.name}\n")
        monkeypatch.setenv(f"{variable.name}_FILE", str(path))
    monkeypatch.setenv("CARELOOP_CHANNELS__VOICE__ACCOUNT__ACCOUNT_SID", "AC1")
    settings = Settings()
    own_file_settings = {v.name for v in setting_variables(Settings)}
    for variable in secrets:
        group: object = settings
        for part in variable.path[:-1]:
            group = getattr(group, part)
        value = getattr(group, variable.path[-1])
        if f"{variable.name}_FILE" in own_file_settings:
            # The security keys keep their own *_file setting, read where they are used.
            path = getattr(group, f"{variable.path[-1]}_file")
            assert read_secret(value, path) == f"value-of-{variable.name}"
        else:
            plain = value if isinstance(value, str) else value.get_secret_value()
            assert plain == f"value-of-{variable.name}"


def test_the_database_url_and_its_password_can_come_from_a_file(
    empty_postgresql_url: str, careloop_cli: Path, tmp_path: Path
) -> None:
    # postgresql://user:password@host/db: the URL carries the password, so it is a secret.
    url_file = tmp_path / "database-url"
    url_file.write_text(f"{empty_postgresql_url}\n")
    result = subprocess.run(
        [str(careloop_cli), "db", "upgrade"],
        capture_output=True,
        text=True,
        env=_clean_env(CARELOOP_DATABASE_URL_FILE=str(url_file)),
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    database = empty_postgresql_url.rsplit("/", 1)[1]
    assert f"/{database}: " in result.stdout
    assert "(head)" in result.stdout
    assert not (tmp_path / "careloop.db").exists()


def test_a_direct_value_wins_over_its_file_and_an_unreadable_file_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    path.write_text("from-file")
    monkeypatch.setenv("CARELOOP_WEB__METRICS_TOKEN_FILE", str(path))
    monkeypatch.setenv("CARELOOP_WEB__METRICS_TOKEN", "direct")
    assert Settings().web.metrics_token.get_secret_value() == "direct"  # type: ignore[union-attr]
    monkeypatch.delenv("CARELOOP_WEB__METRICS_TOKEN")
    monkeypatch.setenv("CARELOOP_WEB__METRICS_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="CARELOOP_WEB__METRICS_TOKEN_FILE: cannot read"):
        Settings()


def test_the_data_directory_defaults_next_to_the_database(tmp_path: Path) -> None:
    sqlite = Settings(database_url=f"sqlite:///{tmp_path / 'db' / 'careloop.db'}")
    assert sqlite.resolved_models_dir() == tmp_path / "db" / "careloop-data" / "models"
    bare = Settings(database_url=str(tmp_path / "other.db"))
    assert bare.resolved_data_dir() == tmp_path / "careloop-data"
    pg = Settings(database_url="postgresql://u@h/db")
    assert pg.resolved_data_dir().name == "careloop"
    given = Settings(data_dir=tmp_path / "state")
    assert given.resolved_models_dir() == tmp_path / "state" / "models"
    assert Settings(models_dir=tmp_path / "m").resolved_models_dir() == tmp_path / "m"


def test_the_noshow_model_is_looked_for_under_the_data_dir_not_the_working_folder(
    tmp_path: Path, careloop_cli: Path
) -> None:
    (tmp_path / "db").mkdir()
    csv = tmp_path / "later.csv"
    csv.write_text("PatientId\n1\n")
    result = subprocess.run(
        [str(careloop_cli), "risk", "evaluate", "noshow", "--csv", str(csv)],
        capture_output=True,
        text=True,
        env=_clean_env(CARELOOP_DATABASE_URL=f"sqlite:///{tmp_path / 'db' / 'c.db'}"),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert f"no no-show model in {tmp_path / 'db' / 'careloop-data' / 'models'}" in result.stderr


def test_a_mistyped_sqlite_path_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "careloop.db"
    result = runner.invoke(app, ["patients", "list", "--database", str(missing)])
    assert result.exit_code == 2
    assert f"folder {missing.parent} for the SQLite database does not exist" in result.output
    assert not missing.parent.exists()


def test_serve_says_in_one_line_when_postgresql_is_down(careloop_cli: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(careloop_cli), "serve", "--database", "postgresql://nobody@127.0.0.1:1/careloop"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert "cannot reach the database postgresql+psycopg://nobody@127.0.0.1:1/careloop" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_listens_where_the_web_settings_say_and_logs_requests_as_configured(
    careloop_cli: Path, tmp_path: Path
) -> None:
    port = _free_port()
    env = _clean_env(
        CARELOOP_WEB__HOST="127.0.0.1",
        CARELOOP_WEB__PORT=str(port),
        CARELOOP_LOGGING__JSON="false",
        CARELOOP_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
    )
    proc = subprocess.Popen(
        [str(careloop_cli), "serve", "--no-worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        answer = None
        for _ in range(600):  # up to a minute for start-up on a loaded machine
            try:
                # Connecting fails fast until the server listens; once it does, a loaded
                # machine may take seconds to answer, and a retry would log a second line.
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/health", timeout=httpx.Timeout(30, connect=2)
                )
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        assert answer is not None, proc.stderr.read() if proc.stderr else ""
        assert answer.status_code == 200
        assert answer.headers["x-request-id"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    request_id = f"request_id={answer.headers['x-request-id']}"
    # The answered request's line (an earlier attempt that timed out may have its own).
    (line,) = [x for x in err.splitlines() if "careloop.http: request" in x and request_id in x]
    assert "method=GET route=/health status=200" in line
    assert not line.startswith("{")  # CARELOOP_LOGGING__JSON=false


def test_the_deployment_examples_use_only_known_settings_and_real_commands() -> None:
    env_file = ROOT / "deploy" / "careloop.env.example"
    environ = dict(
        line.split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert unknown_variables(environ) == []
    commented = [
        line.lstrip("# ").split("=", 1)[0]
        for line in env_file.read_text().splitlines()
        if line.startswith("# CARELOOP_")
    ]
    assert unknown_variables(dict.fromkeys(commented, "x")) == []
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    cli = typer.main.get_command(app)
    for unit in (ROOT / "deploy" / "systemd").glob("*.service"):
        for start in unit.read_text().splitlines():
            if not start.startswith(("ExecStart=", "ExecStartPost=")):
                continue
            words = [w.replace("%H", "host").replace("%i", "1") for w in start.split()[1:]]
            assert words[0] in names, unit.name
            # The options parse as the command line would: a misspelt or removed flag fails here.
            command: click.Command | None = cli
            while isinstance(command, click.Group):
                name, *words = words
                command = command.get_command(click.Context(command), name)
            assert command is not None, unit.name
            command.make_context(unit.name, words)
