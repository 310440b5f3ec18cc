"""rev1 review of cgstop: a patient whose own number is also a caregiver's stays cut off after
consenting again by any way but a START text.

Spouses who are both patients, each the other's caregiver, are common. Here ``pb``'s own
mobile is also on record as ``pa``'s caregiver. ``pb`` replies STOP to her own reminder: her
SMS consent is denied and, the number being a caregiver's too, a ``number_opt_outs`` STOP is
recorded. She then tells the clinic she wants her texts back and staff record it (the same
holds for the consent API, the CLI, a FHIR Consent): her consent is granted again, the console
says so, yet every text to her is dead-lettered ``number-opted-out`` for good, and her own
page shows nothing (only ``pa``'s page, beside the caregiver). Before cgstop the grant brought
her texts back. The number's STOP must not outlive a later grant of the patient's own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from tests.outreach.conftest import Loop, make_patient, reply

from careloop.channels.keywords import Keyword
from careloop.governance.consent import ConsentSource, consent_decision, opt_in_channel
from careloop.models import OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.runtime import Runtime

PATIENT_A = "+15550100071"
SHARED = "+15550100072"  # pb's own mobile, and pa's caregiver's


def _own_text(rt: Runtime, loop: Loop, key: str) -> None:
    now = loop.clock.now()
    with rt.transaction() as session:
        enqueue(
            session,
            message=NewMessage(
                idempotency_key=key,
                patient_id="pb",
                purpose="care-reminders",
                channel="sms",
                to_address=SHARED,
                body="Reminder: your visit on Tuesday.",
                due_at=now,
            ),
            now=now,
        )


def test_a_patient_who_consents_again_is_texted_though_her_number_is_a_caregivers(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="pa", phone=PATIENT_A, caregiver={"phone": SHARED})
    make_patient(rt, patient_id="pb", phone=SHARED)
    loop = make_loop([], {})
    _own_text(rt, loop, "own:pb:1")
    loop.work()
    reply(loop, sender=SHARED, body="STOP", keyword=Keyword.OPT_OUT, sid="SMpb-stop")
    loop.advance(timedelta(days=1))
    with rt.transaction() as session:  # she calls the clinic: staff record her consent
        opt_in_channel(
            session,
            patient_id="pb",
            channel="sms",
            source=str(ConsentSource.STAFF),
            actor="staff:nurse",
            now=loop.clock.now(),
        )
    _own_text(rt, loop, "own:pb:2")

    loop.work()

    with rt.transaction() as session:
        allowed = consent_decision(
            session, patient_id="pb", purpose="care-reminders", channel="sms", now=loop.clock.now()
        ).allowed
        after = session.execute(
            select(OutboxMessage.state, OutboxMessage.dead_reason).where(
                OutboxMessage.idempotency_key == "own:pb:2"
            )
        ).one()
    assert allowed
    assert tuple(after) == ("sent", None)
