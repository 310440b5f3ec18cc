"""The portal sign-in code reaches the patient in their language, and says nothing more than
the code and how long it lasts: checked in what the Twilio look-alike and a real aiosmtpd relay
received (parsed with Python's ``email`` package and the SMTP policy), and the code signs in.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from tests.channels.servers import FakeTwilio, ServerThread
from tests.channels.smtp_server import (
    SMTP_PASSWORD,
    SMTP_USER,
    Mailbox,
    self_signed_certificate,
    start_smtp,
)
from tests.governance.conftest import Call, enrol, load

from careloop.channels.portal import InMemoryPortalInbox
from careloop.channels.registry import build_channels
from careloop.outreach.config import outreach_settings
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime
from careloop.settings import Settings, get_settings
from careloop.web.code_delivery import ChannelCodeSender

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "code-language-token-0123"
SENDER = "+16175550000"

SPEAKERS = {
    # patient: (language on the record, language stated in the portal, mobile, mailbox)
    "code-es": ("es", None, "+16175550141", "lucia.codetest@example.org"),
    "code-pt": ("en", "pt-BR", "+16175550142", "joao.codetest@example.org"),
    "code-en": (None, None, "+16175550143", "ann.codetest@example.org"),
}
EXPECTED = {
    "code-es": (
        "Su código de acceso",
        "Su código de acceso es {code}. Vence en 10 minutos. No lo comparta.",
    ),
    "code-pt": (
        "Seu código de acesso",
        "Seu código de acesso: {code}. Expira em 10 minutos. Não o compartilhe.",
    ),
    "code-en": (
        "Your sign-in code",
        "Your sign-in code is {code}. It expires in 10 minutes. Do not share it.",
    ),
}


def _patient(pid: str) -> dict[str, Any]:
    language, _stated, mobile, mailbox = SPEAKERS[pid]
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Codetest", "given": ["Lucinda"]}],
        "birthDate": "1960-02-02",
        "telecom": [
            {"system": "phone", "value": mobile, "use": "mobile"},
            {"system": "email", "value": mailbox},
        ],
    }
    if language:
        resource["communication"] = [{"language": {"coding": [{"code": language}]}}]
    return resource


@pytest.fixture
def gateways(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[FakeTwilio, Mailbox]]:
    twilio = FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN)
    server = ServerThread(twilio.app())
    server.start()
    mailbox = Mailbox()
    cert, key = self_signed_certificate(tmp_path)
    smtp = start_smtp(mailbox, cert=cert, key=key)
    for name, value in {
        "CARELOOP_CHANNELS__SMS__PROVIDER": "twilio",
        "CARELOOP_CHANNELS__SMS__BASE_URL": server.url,
        "CARELOOP_CHANNELS__SMS__ACCOUNT_SID": ACCOUNT,
        "CARELOOP_CHANNELS__SMS__AUTH_TOKEN": TOKEN,
        "CARELOOP_CHANNELS__SMS__SENDERS": f'[{{"number": "{SENDER}"}}]',
        "CARELOOP_CHANNELS__EMAIL__PROVIDER": "smtp",
        "CARELOOP_CHANNELS__EMAIL__HOST": "127.0.0.1",
        "CARELOOP_CHANNELS__EMAIL__PORT": str(smtp.port),
        "CARELOOP_CHANNELS__EMAIL__USERNAME": SMTP_USER,
        "CARELOOP_CHANNELS__EMAIL__PASSWORD": SMTP_PASSWORD,
        "CARELOOP_CHANNELS__EMAIL__CA_FILE": str(cert),
        "CARELOOP_SECURITY__PUBLIC_BASE_URL": "https://care.example.org",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield twilio, mailbox
    get_settings.cache_clear()
    smtp.stop()
    server.stop()


def _ask_for_a_code(rt: Runtime, api_client: Call, system: str, value: str) -> Any:
    settings = Settings(database_url=rt.settings.database_url)
    _own, channels = outreach_settings(settings)
    client = api_client(None)
    client.app.state.code_sender = ChannelCodeSender(
        registry=build_channels(channels, clock=rt.clock, portal_inbox=InMemoryPortalInbox()),
        public_base_url=settings.security.public_base_url,
        echo_to_terminal=False,
    )
    asked = client.post("/api/portal/code", json={"system": system, "value": value})
    assert asked.status_code == 202, asked.text
    return client, asked.json()["challenge_id"]


def _signs_in(client: Any, challenge_id: str, code: str) -> bool:
    answer = client.post("/api/portal/verify", json={"challenge_id": challenge_id, "code": code})
    return bool(answer.status_code == 200)


def _setup(rt: Runtime, tmp_path: Path, pid: str) -> None:
    load(rt, tmp_path, *(_patient(p) for p in SPEAKERS))
    _language, stated, mobile, mailbox = SPEAKERS[pid]
    if stated:
        with rt.transaction() as session:
            set_stated_preferences(
                session,
                clock=rt.clock,
                patient_id=pid,
                changes={"language": stated},
                actor="test",
            )
    enrol(rt, patient_id=pid, system="sms", value=mobile)
    enrol(rt, patient_id=pid, system="email", value=mailbox)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("pid", sorted(SPEAKERS))
def test_the_texted_code_is_in_the_patients_language_and_says_nothing_else(
    pid: str,
    gateways: tuple[FakeTwilio, Mailbox],
    rt: Runtime,
    tmp_path: Path,
    api_client: Call,
) -> None:
    twilio, _mailbox = gateways
    _setup(rt, tmp_path, pid)

    client, challenge = _ask_for_a_code(rt, api_client, "sms", SPEAKERS[pid][2])

    [request] = [r for r in twilio.requests_seen if r["path"].endswith("/Messages.json")]
    form = request["form"]
    code = re.search(r"\d{6}", form["Body"])
    assert code is not None, form["Body"]
    assert (form["To"], form["Body"]) == (
        SPEAKERS[pid][2],
        EXPECTED[pid][1].format(code=code.group()),
    )
    assert _signs_in(client, challenge, code.group())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("pid", sorted(SPEAKERS))
def test_the_emailed_code_is_in_the_patients_language_and_says_nothing_else(
    pid: str,
    gateways: tuple[FakeTwilio, Mailbox],
    rt: Runtime,
    tmp_path: Path,
    api_client: Call,
) -> None:
    _twilio, mailbox = gateways
    _setup(rt, tmp_path, pid)

    client, challenge = _ask_for_a_code(rt, api_client, "email", SPEAKERS[pid][3])

    [received] = mailbox.received
    parsed = email.message_from_bytes(received.content, policy=email.policy.SMTP)
    assert isinstance(parsed, EmailMessage)
    plain = parsed.get_body(("plain",))
    assert plain is not None
    text = plain.get_content().strip()
    code = re.search(r"\d{6}", text)
    assert code is not None, text
    subject, body = EXPECTED[pid]
    assert (received.rcpt_tos, parsed["Subject"], text) == (
        [SPEAKERS[pid][3]],
        subject,
        body.format(code=code.group()),
    )
    assert "Codetest" not in received.content.decode(errors="replace")
    assert _signs_in(client, challenge, code.group())
