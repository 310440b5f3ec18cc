"""What a patient's walk through the portal found (issues 17 and 25), on both databases: the
language menu shows the record's language, what is due never reads "done", a visit is named
with what and where in the patient's own date words, the inbox reads as written for a reader,
and the portal's own times are only for what the patient is due for."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from careloop.events import EventKind, record_event
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.outreach.states import OutboxState
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import (
    import_resources,
    location,
    make_due,
    patient,
    schedule,
    slot,
)
from tests.access.test_pages import _seed, _utc
from tests.access.test_portal_visits import book_from_page
from tests.outreach.conftest import sync_content

Client = Callable[..., Any]
STAFF_STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} [A-Z]{2,5}")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(("language", "menu"), [("pt", "pt"), ("zh", "zh-Hans"), ("pt-BR", "pt")])
def test_the_language_menu_shows_the_records_language(
    rt: Runtime, tmp_path: Path, api_client: Client, language: str, menu: str
) -> None:
    import_resources(rt, tmp_path, [patient("p-001", language=language)])

    page = api_client("patient", patient_id="p-001").get("/portal/preferences")

    assert page.status_code == 200, page.text
    selected = re.findall(
        r'<option value="([^"]*)"[^>]*selected', page.text.split('id="language"')[1]
    )
    assert selected[0] == menu


def test_a_closed_gap_is_not_listed_as_due_and_nothing_reads_done(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient("p-001", language="pt")])
    make_due(rt, "p-001", "flu-shot-this-season")
    make_due(rt, "p-001", "annual-wellness-visit")
    with rt.transaction() as session:
        record_event(
            session, kind=EventKind.COMPLETED, clock=rt.clock, actor="system:test",
            patient_id="p-001", program="flu-shot-this-season", payload={"how": "recorded"},
        )  # fmt: skip

    page = api_client("patient", patient_id="p-001").get("/portal")

    gaps = _text(page.text.split('data-testid="care-gaps"')[1].split("</ul>")[0])
    assert "Sua consulta anual de bem-estar está pendente." in gaps
    assert "vacina da gripe" not in gaps
    assert "feito" not in gaps


def test_an_appointment_names_what_and_where_in_the_patients_date_words(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    _seed(rt, tmp_path)
    sync_content(rt)
    client = api_client("patient", patient_id="p-001")
    assert book_from_page(client).status_code == 303

    home = client.get("/portal")
    visits = client.get("/portal/visits")

    appointments = _text(home.text.split('data-testid="appointments"')[1].split("</ul>")[0])
    assert "Tuesday 3 March, 3:45 PM — Main clinic" in appointments
    for page in (home, visits):
        assert not STAFF_STAMP.search(_text(page.text)), STAFF_STAMP.search(_text(page.text))


def test_a_queued_message_names_its_time_in_the_patients_words(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient("p-001", language="pt")])
    _queue(rt, "sms", "Texto de teste.", hours=3, state=OutboxState.QUEUED)

    page = api_client("patient", patient_id="p-001").get("/portal/messages")

    text = _text(page.text)
    assert "segunda-feira, 2 de março, 12:00" in text  # 17:00 UTC, in New York
    assert not STAFF_STAMP.search(text), STAFF_STAMP.search(text)


def _queue(rt: Runtime, channel: str, body: str, *, hours: int, state: OutboxState) -> None:
    with rt.transaction() as session:
        row = enqueue(
            session,
            message=NewMessage(
                idempotency_key=f"walk-{channel}-{hours}",
                patient_id="p-001",
                purpose="care-reminders",
                channel=channel,
                to_address="+15550109001",
                body=body,
                due_at=rt.clock.now() + timedelta(hours=hours),
            ),
            now=rt.clock.now(),
        )
        assert row is not None
        row.state = str(state)


def test_the_inbox_reads_a_call_as_text_and_names_the_sender_once(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient("p-001")])
    _queue(
        rt, "voice",
        "Hi Pat, this is your care team. Please call us at 5 5 5, 0 1 0, 0 1 9 9. Press 1 or 2.",
        hours=-2, state=OutboxState.SENT,
    )  # fmt: skip
    _queue(
        rt, "sms", "your care team: Your care team has sent you a new message.",
        hours=-1, state=OutboxState.SENT,
    )  # fmt: skip

    text = _text(api_client("patient", patient_id="p-001").get("/portal/messages").text)

    assert "Please call us at 555-010-0199. Press 1 or 2." in text
    assert "5 5 5" not in text
    assert "your care team: Your care team" not in text
    assert " Your care team has sent you a new message." in text


def _two_services(rt: Runtime, tmp_path: Path) -> None:
    young = patient("p-002") | {"birthDate": "2001-05-01", "gender": "female"}
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-001"),
            young,
            location(),
            schedule("sch-mammo", service="mammography"),
            schedule("sch-flu", service="flu-shot"),
            slot("s-mammo", schedule_id="sch-mammo", start=_utc(3, 15)),
            slot("s-flu", schedule_id="sch-flu", start=_utc(3, 16)),
        ],
    )


def test_the_portal_offers_times_only_for_what_the_patient_is_due_for(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    _two_services(rt, tmp_path)
    make_due(rt, "p-002", "flu-shot-this-season")

    young = api_client("patient", patient_id="p-002").get("/portal/visits")
    older = api_client("patient", patient_id="p-001").get("/portal/visits")

    assert re.findall(r'name="shown" value="([^"]+)"', young.text) == ["s-flu"]
    assert 'name="shown"' not in older.text
    assert "Nothing is due for you to book here right now." in older.text
