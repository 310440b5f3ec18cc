"""A text queued to a mobile must not go once the record says that number can no longer take
one (the EHR marks it ``old``: it may be someone else's now). The txt branch's one rule
(``records.contacts_phone.textable``) is asked when the message is queued and, for portal
codes, at every request; the worker's last check before the send (``claims.refused_now``)
asks consent again but never the rule, so the text goes to the old number."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from tests.outreach.conftest import Loop, make_patient

from careloop.models import OutboxMessage, Patient
from careloop.outreach.messages import queue_staff_message
from careloop.runtime import Runtime

OLD_MOBILE = "+15550100001"


def test_a_queued_text_does_not_go_to_a_number_the_record_now_calls_old(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", phone=OLD_MOBILE)
    loop = make_loop([], {})
    with rt.transaction() as session:
        outbox_id = queue_staff_message(
            session,
            patient_id="p1",
            body="Rosa, your biopsy results are in.",
            channel="sms",
            clock=loop.clock,
            actor="user:nurse-1",
        ).id
    # Before the worker runs (held overnight by quiet hours, or just a busy queue), the EHR
    # sends the record again: that mobile is now the patient's old number.
    with rt.transaction() as session:
        patient = session.get(Patient, "p1")
        assert patient is not None
        patient.contact_points = [{"system": "phone", "value": OLD_MOBILE, "use": "old"}]
    loop.work()

    assert loop.sms.sent_to(OLD_MOBILE) == []
    with rt.transaction() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.id == outbox_id)).one()
        assert row.state == "dead"
