"""Email as a mail provider receives it (walk4): a real aiosmtpd relay with STARTTLS and AUTH,
what arrived parsed with Python's ``email`` package and the SMTP policy.

* The From address is the one configured when the mail goes, not the one configured when it
  was queued: an operator who moves to a domain that passes SPF/DMARC must not have the
  queued mail still go out from the old one (the envelope already used the new one).
* A staff email is ``multipart/alternative`` like every library email: text/plain and
  text/html, the same words in each.
* The unsubscribe page a Spanish email links to is in Spanish.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import orjson
import pytest
from tests.channels.smtp_server import (
    SMTP_PASSWORD,
    SMTP_USER,
    Mailbox,
    self_signed_certificate,
    start_smtp,
)
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import SystemClock
from careloop.settings import get_settings

WEEKDAY_MORNING_IN_BOSTON = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
MAILBOX = "grace.park@example.org"


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Mailbox]:
    box = Mailbox()
    cert, key = self_signed_certificate(tmp_path)
    controller = start_smtp(box, cert=cert, key=key)
    for name, value in {
        "CARELOOP_CHANNELS__EMAIL__PROVIDER": "smtp",
        "CARELOOP_CHANNELS__EMAIL__HOST": "127.0.0.1",
        "CARELOOP_CHANNELS__EMAIL__PORT": str(controller.port),
        "CARELOOP_CHANNELS__EMAIL__USERNAME": SMTP_USER,
        "CARELOOP_CHANNELS__EMAIL__PASSWORD": SMTP_PASSWORD,
        "CARELOOP_CHANNELS__EMAIL__CA_FILE": str(cert),
        "CARELOOP_CHANNELS__EMAIL__FROM_NAME": "Riverside Clinic",
        "CARELOOP_SECURITY__PUBLIC_BASE_URL": "https://care.riverside.example",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(SystemClock, "now", lambda self: WEEKDAY_MORNING_IN_BOSTON)
    get_settings.cache_clear()
    yield box
    get_settings.cache_clear()
    controller.stop()


def _queue_staff_email(tmp_path: Path, text: str, *, language: str = "en") -> tuple[str, CliRunner]:
    patient = {
        "resourceType": "Patient",
        "id": "grace",
        "name": [{"family": "Park", "given": ["Grace"]}],
        "telecom": [{"system": "email", "value": MAILBOX}],
        "address": [{"city": "Boston", "state": "MA", "country": "US"}],
        "communication": [{"language": {"coding": [{"code": language}]}, "preferred": True}],
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    path = tmp_path / "patient.json"
    path.write_bytes(orjson.dumps(bundle))
    database = f"sqlite:///{tmp_path / 'mail.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(path), "--database", database]).exit_code == 0
    sent = runner.invoke(
        app,
        ["send", "grace", "--channel", "email", "--text", text, "--json"],
        env={"CARELOOP_DATABASE_URL": database},
    )
    assert sent.exit_code == 0, sent.output
    return database, runner


def _work(database: str, runner: CliRunner) -> None:
    worked = runner.invoke(app, ["worker", "--once", "--no-jobs", "--database", database])
    assert worked.exit_code == 0, worked.output


def _received(mailbox: Mailbox) -> EmailMessage:
    (got,) = mailbox.received
    mail = email.message_from_bytes(got.content, policy=email.policy.SMTP)
    assert isinstance(mail, EmailMessage)
    return mail


def test_mail_goes_from_the_address_configured_when_it_is_sent(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__EMAIL__FROM_ADDRESS", "careloop@old.example")
    get_settings.cache_clear()
    database, runner = _queue_staff_email(tmp_path, "Your flu shot is ready.")
    monkeypatch.setenv("CARELOOP_CHANNELS__EMAIL__FROM_ADDRESS", "care@riverside.example")
    get_settings.cache_clear()

    _work(database, runner)

    mail = _received(mailbox)
    (sender,) = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Riverside Clinic", "care@riverside.example")
    assert mailbox.received[0].mail_from == "care@riverside.example"
    assert mailbox.received[0].tls
    assert mailbox.received[0].authenticated_as == SMTP_USER


def test_a_staff_email_has_a_plain_and_an_html_part_with_the_same_words(
    mailbox: Mailbox, tmp_path: Path
) -> None:
    text = "Your flu shot is ready <today>. Book at https://care.riverside.example/portal/visits"
    database, runner = _queue_staff_email(tmp_path, text)

    _work(database, runner)

    mail = _received(mailbox)
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert mail.get_content_type() == "multipart/alternative"
    assert plain is not None
    assert html is not None
    assert plain.get_content().startswith(text)
    assert "Your flu shot is ready &lt;today&gt;." in html.get_content()
    assert (
        '<a href="https://care.riverside.example/portal/visits">' in html.get_content()
    )  # a link a reader can click
    assert mail["Content-Language"] == "en"


def test_a_spanish_patient_unsubscribes_on_a_page_in_spanish(
    mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link in a Spanish email opens a Spanish page (what a link scanner's GET sees changes
    nothing), and the one-click POST answers in Spanish too."""
    from fastapi.testclient import TestClient

    from careloop.governance.consent import consent_decision
    from careloop.runtime import open_runtime
    from careloop.web.app import create_app

    monkeypatch.setenv("CARELOOP_SECURITY__SECRET_KEY", "k" * 48)
    get_settings.cache_clear()
    database, runner = _queue_staff_email(tmp_path, "Su vacuna está lista.", language="es")
    _work(database, runner)
    header = str(_received(mailbox)["List-Unsubscribe"])
    path = header[header.index("<") + 1 : header.index(">")].removeprefix(
        "https://care.riverside.example"
    )

    rt = open_runtime(database=database, run_migrations=False)
    try:
        client = TestClient(create_app(rt), raise_server_exceptions=False)
        page = client.get(path)

        def allowed() -> bool:
            with rt.transaction() as session:
                return consent_decision(
                    session, patient_id="grace", purpose="care-reminders", channel="email",
                    now=rt.clock.now(),
                ).allowed  # fmt: skip

        allowed_after_get = allowed()
        done = client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        allowed_after_post = allowed()
    finally:
        rt.close()
    assert page.status_code == 200
    assert '<html lang="es">' in page.text
    assert "¿Dejar de recibir nuestros mensajes por correo electrónico?" in page.text
    assert allowed_after_get
    assert done.status_code == 200
    assert "Ya no recibirá nuestros mensajes por correo electrónico." in done.text
    assert not allowed_after_post
