"""Links signed by one process open in another: the key kept with the database (both DBs).

Without ``security.secret_key`` every process used to sign with its own random key, so the
form link ``careloop demo`` sent answered "something in the form was missing" under
``careloop serve``. Here real ``careloop`` processes sign, and a server app opened
separately on the same database verifies.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from careloop.crypto import signing_key
from careloop.models import InstanceSecret, OutboxMessage
from careloop.runtime import Runtime, open_runtime
from careloop.settings import Settings
from careloop.web.app import create_app
from tests.digitaltools.tools_fixtures import (
    consent_and_content,
    import_patients,
    reachable_patient,
)

BIRTH_DATE = "1968-04-02"  # reachable_patient's
HTML = {"accept": "text/html"}
SPENT = "This link has expired or was already used"
SECRET = "a configured secret for this test only"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    return {**env, **extra}


def _seed(rt: Runtime, tmp_path: Path) -> None:
    import_patients(rt, tmp_path, [[reachable_patient("ana", phone="+15550100081")]])
    consent_and_content(rt, ["ana"])


def _send_forms(cli: Path, url: str, count: int, **env: str) -> None:
    """``count`` separate ``careloop forms send`` processes, started together."""
    command = [str(cli), "forms", "send", "consent-treatment", "--patient", "ana"]
    running = [
        subprocess.Popen(
            [*command, "--database", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(**env),
        )
        for _ in range(count)
    ]
    for process in running:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()[-2000:]
        assert b"sent" in out


def _tokens(rt: Runtime) -> list[str]:
    with rt.transaction() as session:
        bodies = session.scalars(select(OutboxMessage.body)).all()
    return [m for body in bodies for m in re.findall(r"/portal/forms/(\w+\.[\w-]+)", body)]


@pytest.fixture
def served(database_url: str) -> Iterator[Runtime]:
    """The server's runtime, opened on its own as ``careloop serve`` opens it."""
    server = open_runtime(database=database_url, settings=Settings(), run_migrations=False)
    yield server
    server.close()


def test_a_link_signed_by_one_process_opens_in_the_server_and_then_is_spent(
    rt: Runtime, tmp_path: Path, careloop_cli: Path, database_url: str
) -> None:
    _seed(rt, tmp_path)
    _send_forms(careloop_cli, database_url, 2)  # two processes racing to create the key
    tokens = _tokens(rt)
    assert len(tokens) == 2

    server = open_runtime(database=database_url, settings=Settings(), run_migrations=False)
    try:
        phone = TestClient(create_app(server), raise_server_exceptions=False)
        for token in tokens:
            page = phone.get(f"/portal/forms/{token}", headers=HTML)
            assert page.status_code == 200, page.text
            assert "I agree that the care team" in page.text

        signed = phone.post(
            f"/portal/forms/{tokens[0]}",
            data={"agree": "true", "birth_date": BIRTH_DATE, "signer_name": "Test Ana"},
            headers=HTML,
        )
        assert "Your form is signed" in signed.text

        again = phone.get(f"/portal/forms/{tokens[0]}", headers=HTML)
        assert again.status_code == 422
        assert SPENT in again.text
        assert "reply to our message or call your care team" in again.text
        assert "Something in the form was missing" not in again.text

        request_id = tokens[1].split(".")[0]
        forged = phone.get(f"/portal/forms/{request_id}.AAAAAAAAAAAAAAAA", headers=HTML)
        assert forged.status_code == 422
        assert SPENT in forged.text

        api = phone.get(f"/portal/forms/{tokens[0]}")  # not a browser: JSON naming the field
        assert api.status_code == 422
        assert api.json()["field"] == "token"
        with server.transaction() as session:
            assert session.scalar(select(func.count()).select_from(InstanceSecret)) == 1
    finally:
        server.close()


def test_every_process_on_one_database_signs_alike_and_another_database_differently(
    served: Runtime, database_url: str, tmp_path: Path
) -> None:
    again = open_runtime(database=database_url, settings=Settings(), run_migrations=False)
    other = open_runtime(database=f"sqlite:///{tmp_path / 'other.db'}", settings=Settings())
    try:
        assert signing_key(again.settings) == signing_key(served.settings)
        assert signing_key(other.settings) != signing_key(served.settings)
    finally:
        again.close()
        other.close()


def test_a_spent_booking_link_shows_the_link_page_not_the_form_error(served: Runtime) -> None:
    from careloop.access.offers import link_token

    phone = TestClient(create_app(served), raise_server_exceptions=False)
    token = link_token(signing_key(served.settings), "offer-answered-long-ago")
    for page in (
        phone.get(f"/portal/book/{token}", headers=HTML),
        phone.post(f"/portal/book/{token}", data={"choice": "1"}, headers=HTML),
        phone.get("/portal/book/offer-x.tampered", headers=HTML),
    ):
        assert page.status_code == 422
        assert SPENT in page.text
        assert "Something in the form was missing" not in page.text


def test_a_configured_secret_key_signs_and_no_key_is_kept_in_the_database(
    rt: Runtime, tmp_path: Path, careloop_cli: Path, database_url: str
) -> None:
    _seed(rt, tmp_path)
    _send_forms(careloop_cli, database_url, 1, CARELOOP_SECURITY__SECRET_KEY=SECRET)
    [token] = _tokens(rt)
    configured = Settings(security={"secret_key": SECRET})  # type: ignore[arg-type]
    server = open_runtime(database=database_url, settings=configured, run_migrations=False)
    try:
        assert server.settings.kept_signing_key is None
        phone = TestClient(create_app(server), raise_server_exceptions=False)
        assert phone.get(f"/portal/forms/{token}", headers=HTML).status_code == 200
        with server.transaction() as session:
            assert session.scalar(select(func.count()).select_from(InstanceSecret)) == 0
    finally:
        server.close()
