"""A staff email as a real mail server receives it (aiosmtpd on loopback, parsed with Python's
``email`` package and the SMTP policy): display name in From, Content-Language, a subject and
signature in the patient's language; and, with an ``http`` public URL (which RFC 8058's
one-click unsubscribe cannot use), a dead letter that names the setting, not "no-adapter"."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from tests.channels.smtp_server import Mailbox, start_smtp
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import SystemClock
from careloop.events import EventKind
from careloop.models import Event, OutboxMessage
from careloop.runtime import open_runtime
from careloop.settings import get_settings

WEEKDAY_MORNING_IN_BOSTON = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
MAILBOX = "eva.ruiz@example.net"


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Mailbox]:
    box = Mailbox()
    controller = start_smtp(box, cert=tmp_path, key=tmp_path, tls=False)
    for name, value in {
        "CARELOOP_CHANNELS__EMAIL__PROVIDER": "smtp",
        "CARELOOP_CHANNELS__EMAIL__HOST": "127.0.0.1",
        "CARELOOP_CHANNELS__EMAIL__PORT": str(controller.port),
        "CARELOOP_CHANNELS__EMAIL__STARTTLS": "false",
        "CARELOOP_CHANNELS__EMAIL__FROM_ADDRESS": "cuidado@riverside.example",
        "CARELOOP_CHANNELS__EMAIL__FROM_NAME": "Clínica Riverside",
        "CARELOOP_OUTREACH__CARE_TEAM_NAMES": '{"es": "Clínica Riverside"}',
        "CARELOOP_SECURITY__PUBLIC_BASE_URL": "https://care.riverside.example",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(SystemClock, "now", lambda self: WEEKDAY_MORNING_IN_BOSTON)
    get_settings.cache_clear()
    yield box
    get_settings.cache_clear()
    controller.stop()


def _send_and_work(tmp_path: Path) -> tuple[str, CliRunner]:
    patient = {
        "resourceType": "Patient",
        "id": "mail-es",
        "name": [{"use": "official", "family": "Ruiz", "given": ["Eva"]}],
        "telecom": [{"system": "email", "value": MAILBOX}],
        "communication": [{"language": {"coding": [{"code": "es"}]}, "preferred": True}],
        "address": [{"use": "home", "city": "Boston", "state": "MA", "country": "US"}],
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    path = tmp_path / "patient.json"
    path.write_bytes(orjson.dumps(bundle))
    database = f"sqlite:///{tmp_path / 'mail.db'}"
    runner = CliRunner()
    imported = runner.invoke(app, ["import", str(path), "--database", database])
    synced = runner.invoke(app, ["content", "sync", "--database", database])
    assert imported.exit_code == 0, imported.output
    assert synced.exit_code == 0, synced.output
    sent = runner.invoke(
        app,
        ["send", "mail-es", "--channel", "email", "--text", "Le esperamos el martes.", "--json"],
        env={"CARELOOP_DATABASE_URL": database},
    )
    assert sent.exit_code == 0, sent.output
    worked = runner.invoke(app, ["worker", "--once", "--database", database])
    assert worked.exit_code == 0, worked.output
    return database, runner


def test_spanish_staff_mail_is_signed_in_spanish_from_the_clinic_by_name(
    mailbox: Mailbox, tmp_path: Path
) -> None:
    _send_and_work(tmp_path)

    (got,) = mailbox.received
    mail = email.message_from_bytes(got.content, policy=email.policy.SMTP)
    assert isinstance(mail, EmailMessage)
    text = mail.get_body(("plain",))
    assert text is not None
    assert got.rcpt_tos == [MAILBOX]
    assert mail["From"].addresses[0].display_name == "Clínica Riverside"
    assert mail["From"].addresses[0].addr_spec == "cuidado@riverside.example"
    assert mail["Content-Language"] == "es"
    assert mail["Subject"] == "Tiene un mensaje nuevo de su equipo de salud"
    assert text.get_content().splitlines() == [
        "Le esperamos el martes.",
        "",
        "-- ",
        "Clínica Riverside",
    ]
    assert mail["List-Unsubscribe"].startswith("<https://care.riverside.example/unsubscribe/")


def test_an_http_public_url_dead_letters_mail_as_misconfigured_naming_the_setting(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARELOOP_SECURITY__PUBLIC_BASE_URL", "http://care.riverside.example")
    get_settings.cache_clear()
    database, _ = _send_and_work(tmp_path)

    rt = open_runtime(database=database, run_migrations=False)
    with rt.transaction() as session:
        row = session.scalars(select(OutboxMessage)).one()
        failed = session.scalars(select(Event).where(Event.kind == str(EventKind.FAILED))).one()
        state, dead_reason, last_error = row.state, row.dead_reason, row.last_error
        payload = dict(failed.payload)
    rt.close()
    assert mailbox.received == []
    assert (state, dead_reason, last_error) == ("dead", "misconfigured", "misconfigured")
    assert payload["detail"] == "unsubscribe URL must be https (security.public_base_url)"


def test_a_mail_providers_one_click_unsubscribe_stops_email_for_the_patient(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 8058 as Gmail does it: the provider reads ``List-Unsubscribe`` (https, in angle
    brackets) and ``List-Unsubscribe-Post``, then POSTs ``List-Unsubscribe=One-Click`` to that
    URL with no cookie; the patient's email consent is then denied."""
    from fastapi.testclient import TestClient

    from careloop.governance.consent import consent_decision
    from careloop.web.app import create_app

    monkeypatch.setenv("CARELOOP_SECURITY__SECRET_KEY", "k" * 48)
    get_settings.cache_clear()
    database, _ = _send_and_work(tmp_path)
    (got,) = mailbox.received
    mail = email.message_from_bytes(got.content, policy=email.policy.SMTP)
    header = str(mail["List-Unsubscribe"])
    url = header[header.index("<") + 1 : header.index(">")]

    rt = open_runtime(database=database, run_migrations=False)
    try:
        client = TestClient(create_app(rt), raise_server_exceptions=False)
        path = url.removeprefix("https://care.riverside.example")
        response = client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with rt.transaction() as session:
            decision = consent_decision(
                session,
                patient_id="mail-es",
                purpose="care-reminders",
                channel="email",
                now=rt.clock.now(),
            )
    finally:
        rt.close()
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url.startswith("https://care.riverside.example/unsubscribe/")
    assert response.status_code == 200, response.text
    assert not decision.allowed
