"""rev1 review of cgstop: a caregiver's one-click "Unsubscribe" unsubscribes the patient.

cgstop makes a caregiver's SMS STOP the caregiver's own, and its docs say a caregiver's
email copies "have no unsubscribe of their own yet (an email reply STOP goes to the care
team)". But every email copy does carry an unsubscribe link and an RFC 8058
``List-Unsubscribe`` one-click header (``compose.worker``'s ``unsubscribe``), and its token
names the *patient* (``make_unsubscribe_token(patient_id=message.patient_id, channel="email",
purpose="*")``). A caregiver who presses their mail client's Unsubscribe button, or the link
in the copy, denies the patient's email consent for every purpose: the patient is cut off
from her own reminders by someone else's choice, the very fault cgstop fixes for SMS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from tests.outreach.conftest import Loop, make_patient

from careloop.governance.consent import consent_decision
from careloop.models import Caregiver, OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.records.contacts import index_contacts
from careloop.runtime import Runtime

PATIENT_EMAIL = "rosa@example.org"
CAREGIVER_EMAIL = "sam.carer@example.org"


def _copy(key: str, now: Any) -> NewMessage:
    return NewMessage(
        idempotency_key=key,
        patient_id="pe",
        purpose="care-reminders",
        channel="email",
        to_address=CAREGIVER_EMAIL,
        subject="Rosa's visit",
        body="Rosa has a visit on Tuesday.",
        html="<p>Rosa has a visit on Tuesday.</p>",
        due_at=now,
        recipient_kind="caregiver",
        caregiver_id="pe-cg",
    )


def test_a_caregivers_unsubscribe_link_stops_their_copies_not_the_patients_email(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    make_patient(rt, patient_id="pe", phone="+15550100091", email=PATIENT_EMAIL)
    now = rt.clock.now()
    points = [{"system": "email", "value": CAREGIVER_EMAIL}]
    with rt.transaction() as session:
        session.add(
            Caregiver(
                id="pe-cg",
                patient_id="pe",
                name="Sam",
                relationship="son",
                contact_points=points,
                availability=[],
                is_proxy=False,
                updated_at=now,
            )
        )
        session.flush()
        index_contacts(session, patient_id="pe", caregiver_id="pe-cg", points=points)
        enqueue(session, message=_copy("copy:pe-cg:email:1", now), now=now)
    loop = make_loop([], {})
    loop.work()
    [copy] = [s for s in loop.email.sent if s.message.to == CAREGIVER_EMAIL]
    assert copy.message.email is not None
    link = urlsplit(copy.message.email.unsubscribe_url).path

    clicked = api_client(None).post(link, data={"List-Unsubscribe": "One-Click"})

    with rt.transaction() as session:  # the next copy, due after the click
        enqueue(session, message=_copy("copy:pe-cg:email:2", rt.clock.now()), now=rt.clock.now())
    loop.work()

    with rt.transaction() as session:
        patients_own = consent_decision(
            session, patient_id="pe", purpose="care-reminders", channel="email", now=rt.clock.now()
        )
        second = session.execute(
            select(OutboxMessage.state, OutboxMessage.dead_reason).where(
                OutboxMessage.idempotency_key == "copy:pe-cg:email:2"
            )
        ).one()
    assert clicked.status_code == 200
    assert patients_own.allowed
    assert tuple(second) == ("dead", "number-opted-out")
