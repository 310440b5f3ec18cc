"""The portal sign-in code reaches the patient in their language, and says nothing more than
the code and how long it lasts: checked in what the Twilio look-alike and a real aiosmtpd relay
received (parsed with Python's ``email`` package and the SMTP policy), and the code signs in.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from tests.channels.servers import FakeTwilio
from tests.channels.smtp_server import Mailbox
from tests.governance.conftest import Call, enrol, load
from tests.outreach.test_email_as_received import mailbox  # noqa: F401 (fixture)
from tests.outreach.test_outreach_send_cli import gateway  # noqa: F401 (fixture)

from careloop.channels.portal import InMemoryPortalInbox
from careloop.channels.registry import build_channels
from careloop.outreach.config import outreach_settings
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime
from careloop.settings import Settings
from careloop.web.code_delivery import ChannelCodeSender

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
    language, _stated, mobile, address = SPEAKERS[pid]
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Codetest", "given": ["Lucinda"]}],
        "birthDate": "1960-02-02",
        "telecom": [
            {"system": "phone", "value": mobile, "use": "mobile"},
            {"system": "email", "value": address},
        ],
    }
    if language:
        resource["communication"] = [{"language": {"coding": [{"code": language}]}}]
    return resource


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
    _language, stated, mobile, address = SPEAKERS[pid]
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
    enrol(rt, patient_id=pid, system="email", value=address)


def _received(system: str, twilio: FakeTwilio, relay: Mailbox) -> tuple[str, str, str]:
    """(to, subject, text) of the one code that left: the form Twilio got (no subject), or
    the mail the relay got, parsed as a mail client would."""
    if system == "sms":
        [request] = [r for r in twilio.requests_seen if r["path"].endswith("/Messages.json")]
        return request["form"]["To"], "", request["form"]["Body"]
    [received] = relay.received
    parsed = email.message_from_bytes(received.content, policy=email.policy.SMTP)
    assert isinstance(parsed, EmailMessage)
    plain = parsed.get_body(("plain",))
    assert plain is not None
    assert "Codetest" not in received.content.decode(errors="replace")
    [to] = received.rcpt_tos
    return to, str(parsed["Subject"]), plain.get_content().strip()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("system", ["sms", "email"])
@pytest.mark.parametrize("pid", sorted(SPEAKERS))
def test_the_code_is_in_the_patients_language_and_says_nothing_else(
    pid: str,
    system: str,
    request: pytest.FixtureRequest,
    rt: Runtime,
    tmp_path: Path,
    api_client: Call,
) -> None:
    twilio, relay = request.getfixturevalue("gateway"), request.getfixturevalue("mailbox")
    _setup(rt, tmp_path, pid)
    address = SPEAKERS[pid][2 if system == "sms" else 3]

    client, challenge = _ask_for_a_code(rt, api_client, system, address)

    to, subject, text = _received(system, twilio, relay)
    code = re.search(r"\d{6}", text)
    assert code is not None, text
    wanted_subject, wanted_text = EXPECTED[pid]
    assert (to, subject, text) == (
        address,
        wanted_subject if system == "email" else "",
        wanted_text.format(code=code.group()),
    )
    assert _signs_in(client, challenge, code.group())


# patient: (the language picked in the portal's menu before signing in, the code's words)
CHOSEN = {
    "code-en": ("es", "Su código de acceso es {code}. Vence en 10 minutos. No lo comparta."),
    "code-pt": ("es", "Su código de acceso es {code}. Vence en 10 minutos. No lo comparta."),
    "code-es": ("pt-BR", "Seu código de acesso: {code}. Expira em 10 minutos. Não o compartilhe."),
}


@pytest.mark.parametrize("pid", sorted(CHOSEN))
def test_the_code_follows_the_language_picked_on_the_sign_in_page(
    pid: str,
    request: pytest.FixtureRequest,
    rt: Runtime,
    tmp_path: Path,
    api_client: Call,
) -> None:
    """The sign-in page greeted the patient in the language they picked in its menu (over
    their record's, and the one they stated earlier): the code it sends reads in it too."""
    twilio, relay = request.getfixturevalue("gateway"), request.getfixturevalue("mailbox")
    _setup(rt, tmp_path, pid)
    chosen, wanted = CHOSEN[pid]
    mobile = SPEAKERS[pid][2]
    client, _challenge = _ask_for_a_code(rt, api_client, "sms", "+10000000000")  # no one's
    picked = client.get(f"/portal/sign-in?lang={chosen}")
    assert picked.status_code == 200

    page = client.post("/portal/sign-in", data={"system": "sms", "value": mobile})

    assert page.status_code == 200, page.text
    assert f'lang="{chosen.split("-")[0]}' in page.text
    to, _subject, text = _received("sms", twilio, relay)
    code = re.search(r"\d{6}", text)
    assert code is not None, text
    assert (to, text) == (mobile, wanted.format(code=code.group()))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_chosen_language_we_have_no_words_in_keeps_the_patients_own(
    request: pytest.FixtureRequest, rt: Runtime, tmp_path: Path, api_client: Call
) -> None:
    """An API client that sends a language the code has no text in ("zz", "fr") gets the
    code in the patient's language (Spanish here), not in English."""
    twilio, relay = request.getfixturevalue("gateway"), request.getfixturevalue("mailbox")
    _setup(rt, tmp_path, "code-es")
    mobile = SPEAKERS["code-es"][2]
    client, _ = _ask_for_a_code(rt, api_client, "sms", "+10000000000")  # sets up the sender
    asked = client.post(
        "/api/portal/code", json={"system": "sms", "value": mobile, "language": "zz"}
    )
    assert asked.status_code == 202, asked.text
    _to, _subject, text = _received("sms", twilio, relay)
    assert text.startswith("Su código de acceso es "), text
