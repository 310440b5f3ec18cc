"""fix branch: a caregiver whose relationship the EHR has ended (RelatedPerson.active false)
is still texted. careloop never deletes a Caregiver row (the importer only upserts), so
"a caregiver no longer on the record" reaches careloop as ``active: false``; the worker's
last look (outreach/textable_now.py) reads only the contact points, and the text goes to a
person who is no longer the patient's caregiver (e.g. an ex-spouse)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from tests.access.fhir_fixtures import caregiver, import_resources, patient
from tests.outreach.conftest import Loop

from careloop.models import OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.runtime import Runtime


def test_a_text_to_a_caregiver_the_ehr_no_longer_lists_as_active_does_not_go(
    rt: Runtime, make_loop: Callable[..., Loop], tmp_path: Path
) -> None:
    sam = caregiver(
        "p-001",
        "rp-001",
        days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        start="00:00:00",
        end="23:59:00",
    )
    sam["telecom"][0]["use"] = "mobile"
    number = sam["telecom"][0]["value"]
    import_resources(rt, tmp_path, [patient("p-001"), sam])
    loop = make_loop([], {})
    now = loop.clock.now()
    with rt.transaction() as session:
        row = enqueue(
            session,
            message=NewMessage(
                idempotency_key="visit-booked:cg:rp-001",
                patient_id="p-001",
                purpose="care-reminders",
                channel="sms",
                to_address=number,
                body="Sam, Pat's visit on Tuesday is booked.",
                due_at=now,
                recipient_kind="caregiver",
                caregiver_id="rp-001",
            ),
            now=now,
        )
        assert row is not None
        outbox_id = row.id
    # The EHR sends the RelatedPerson again: the relationship has ended.
    import_resources(rt, tmp_path, [{**sam, "active": False}])
    loop.work()

    assert loop.sms.sent_to(number) == []
    with rt.transaction() as session:
        state = session.scalars(
            select(OutboxMessage.state).where(OutboxMessage.id == outbox_id)
        ).one()
    assert state == "dead"
