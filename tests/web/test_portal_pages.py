"""What a patient found on the portal's pages (the demo walk): a keyed reply reads as the
option it chose, in the words and language of the message it answered, and the home page
leads to booking or moving a visit, in the patient's language. On both databases."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from careloop.models import InboundReply
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.outreach.states import OutboxState
from careloop.runtime import Runtime
from careloop.web.portal.reply_words import options
from tests.access.fhir_fixtures import import_resources, patient

Client = Callable[..., Any]
PID = "p-001"
CHECKIN = (
    "(1/15) Nausea since your last check-in? (0 = none, 1 = a little, 2 = some, 3 = a lot, "
    "4 = as bad as it can be) Reply a number from 0 to 4."
)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _sent_and_answered(
    rt: Runtime,
    *,
    channel: str,
    body: str,
    language: str,
    reply: str,
    key: str,
    content: str | None = None,
) -> None:
    """A message sent an hour ago and the patient's reply to it half an hour later
    (``content``: the library message it was rendered from)."""
    now = rt.clock.now()
    with rt.transaction() as session:
        row = enqueue(
            session,
            message=NewMessage(
                idempotency_key=f"pages-{key}",
                patient_id=PID,
                purpose="care-reminders",
                channel=channel,
                to_address="+15550109001",
                body=body,
                language=language,
                content_message=content,
                due_at=now - timedelta(hours=1),
            ),
            now=now,
        )
        assert row is not None
        row.state = str(OutboxState.SENT)
        row.sent_at = now - timedelta(hours=1)
        session.flush()
        session.add(
            InboundReply(
                provider_id=f"reply-{key}",
                channel=channel,
                patient_id=PID,
                outbox_id=row.id,
                keyword="confirm" if channel == "voice" else "checkin-answer",
                body=reply,
                handled_as="confirmed" if channel == "voice" else "checkin",
                received_at=now - timedelta(minutes=30),
            )
        )


def _replies(page: str) -> list[str]:
    """The text of each reply in the inbox, newest first."""
    blocks = re.findall(r'class="message from-patient"[^>]*>(.*?)</div>', page, re.S)
    return [_text(re.findall(r"<p[^>]*>(.*?)</p>", block, re.S)[0]).strip() for block in blocks]


def test_a_key_pressed_on_a_call_reads_as_the_menu_option_in_the_patients_language(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient(PID, language="es")])
    _sent_and_answered(
        rt,
        channel="voice",
        body="Hola, Pat. Es hora de vacunarse contra la gripe. Llame al 5 5 5, 0 1 0, 0 1 9 9.",
        language="es",
        reply="1",
        key="call",
    )

    page = api_client("patient", patient_id=PID).get("/portal/messages")

    assert page.status_code == 200
    assert _replies(page.text) == ["1 — confirmar"]


def test_a_number_texted_back_reads_as_the_option_the_question_listed(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient(PID)])
    _sent_and_answered(rt, channel="sms", body=CHECKIN, language="en", reply="1", key="q")

    page = api_client("patient", patient_id=PID).get("/portal/messages")

    assert _replies(page.text) == ["1 — a little"]


def test_a_number_no_option_names_is_shown_as_it_came(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient(PID)])
    _sent_and_answered(
        rt, channel="sms", body="Your results are in.", language="en", reply="7", key="none"
    )

    page = api_client("patient", patient_id=PID).get("/portal/messages")

    assert _replies(page.text) == ["7"]


def test_the_home_page_leads_to_booking_a_visit_in_the_patients_language(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient(PID, language="es")])

    home = api_client("patient", patient_id=PID).get("/portal")

    assert home.status_code == 200
    card = home.text.split('id="appt-h"')[1].split("</section>")[0]
    link = re.search(r'<a [^>]*href="(/portal/visits[^"]*)"[^>]*>([^<]+)</a>', card)
    assert link is not None, card
    assert link.group(1) == "/portal/visits"
    assert link.group(2) == "Reservar o cambiar una cita"


@given(
    st.lists(
        st.text(alphabet="abcdefghij klmnoprstuvwxyzáéíóúãç'", min_size=1, max_size=20).filter(
            lambda s: s.strip() and s.strip()[0].isalpha()
        ),
        min_size=1,
        max_size=5,
    )
)
def test_a_listed_choice_is_read_back_as_listed(labels: list[str]) -> None:
    listed = ", ".join(f"{n} = {label.strip()}" for n, label in enumerate(labels))

    found = options(f"How was it? ({listed}) Reply a number.", language="pt")

    assert found == {str(n): label.strip() for n, label in enumerate(labels)}
