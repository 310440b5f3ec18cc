"""A queued text goes only to a number the record still lists as one a text can reach, at the
moment it goes: for a patient whose later record no longer has the number at all, and for a
caregiver whose number is now old or gone. The worker's last check before the send
(``claims.refused_now``) asked the records rule only for a patient's number still listed:
a number dropped from the record, and every caregiver's number, were texted regardless."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from tests.access.fhir_fixtures import caregiver, import_resources, patient
from tests.outreach.conftest import Loop, make_patient

from careloop.models import Caregiver, OutboxMessage
from careloop.outreach.messages import queue_staff_message
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.runtime import Runtime

NEW_MOBILE = "+15550100002"
CAREGIVER = "+15550100077"


def _dead_reason(rt: Runtime, outbox_id: int) -> tuple[str, str | None]:
    with rt.transaction() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.id == outbox_id)).one()
        return row.state, row.dead_reason


def _queue_caregiver_text(
    rt: Runtime,
    loop: Loop,
    *,
    patient_id: str = "p1",
    caregiver_id: str = "p1-cg",
    to: str = CAREGIVER,
) -> int:
    """A caregiver's copy, as ``queue_caregiver_notice`` writes it, due now."""
    now = loop.clock.now()
    with rt.transaction() as session:
        row = enqueue(
            session,
            message=NewMessage(
                idempotency_key=f"visit-booked:cg:{caregiver_id}",
                patient_id=patient_id,
                purpose="care-reminders",
                channel="sms",
                to_address=to,
                body="Sam, Rosa's visit on Tuesday is booked.",
                due_at=now,
                recipient_kind="caregiver",
                caregiver_id=caregiver_id,
            ),
            now=now,
        )
        assert row is not None
        return row.id


def _set_caregiver_points(rt: Runtime, points: list[dict[str, str]]) -> None:
    with rt.transaction() as session:
        caregiver = session.get(Caregiver, "p1-cg")
        assert caregiver is not None
        caregiver.contact_points = points


def test_a_queued_text_does_not_go_to_a_number_the_record_no_longer_has(
    rt: Runtime, make_loop: Callable[..., Loop], tmp_path: Path
) -> None:
    record = patient("p-001")
    old_mobile = record["telecom"][0]["value"]
    import_resources(rt, tmp_path, [record])
    loop = make_loop([], {})
    with rt.transaction() as session:
        outbox_id = queue_staff_message(
            session,
            patient_id="p-001",
            body="Pat, your biopsy results are in.",
            channel="sms",
            clock=loop.clock,
            actor="user:nurse-1",
        ).id
    # The EHR sends the record again before the worker runs: a new mobile, the old one gone.
    record["telecom"] = [{"system": "phone", "value": NEW_MOBILE, "use": "mobile"}]
    import_resources(rt, tmp_path, [record])
    loop.work()

    assert loop.sms.sent_to(old_mobile) == []
    assert loop.sms.sent_to(NEW_MOBILE) == []  # never re-addressed behind the nurse's back
    assert _dead_reason(rt, outbox_id) == ("dead", "not-textable")


def test_a_caregiver_text_does_not_go_to_a_number_now_called_old(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", caregiver={"phone": CAREGIVER})
    loop = make_loop([], {})
    outbox_id = _queue_caregiver_text(rt, loop)
    _set_caregiver_points(rt, [{"system": "phone", "value": CAREGIVER, "use": "old"}])
    loop.work()

    assert loop.sms.sent_to(CAREGIVER) == []
    assert _dead_reason(rt, outbox_id) == ("dead", "not-textable")


def test_a_caregiver_text_does_not_go_to_a_number_removed_from_the_record(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", caregiver={"phone": CAREGIVER})
    loop = make_loop([], {})
    outbox_id = _queue_caregiver_text(rt, loop)
    _set_caregiver_points(rt, [{"system": "email", "value": "sam@example.org"}])
    loop.work()

    assert loop.sms.sent_to(CAREGIVER) == []
    assert _dead_reason(rt, outbox_id) == ("dead", "not-textable")


def test_a_caregiver_text_to_a_number_still_listed_goes(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", caregiver={"phone": CAREGIVER})
    loop = make_loop([], {})
    outbox_id = _queue_caregiver_text(rt, loop)
    loop.work()

    assert len(loop.sms.sent_to(CAREGIVER)) == 1
    assert _dead_reason(rt, outbox_id) == ("sent", None)


def test_a_text_to_a_caregiver_no_longer_on_the_record_does_not_go(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", caregiver={"phone": CAREGIVER})
    loop = make_loop([], {})
    outbox_id = _queue_caregiver_text(rt, loop)
    # The record now names another caregiver with that number: the text was for Sam.
    with rt.transaction() as session:
        sam = session.get(Caregiver, "p1-cg")
        assert sam is not None
        session.delete(sam)
        session.add(
            Caregiver(
                id="p1-cg2",
                patient_id="p1",
                name="Alex",
                contact_points=[{"system": "phone", "value": CAREGIVER, "use": "mobile"}],
                availability=[],
                updated_at=loop.clock.now(),
            )
        )
    loop.work()

    assert loop.sms.sent_to(CAREGIVER) == []
    assert _dead_reason(rt, outbox_id) == ("dead", "not-textable")


def test_a_text_to_a_caregiver_the_ehr_marked_ended_does_not_go(
    rt: Runtime, make_loop: Callable[..., Loop], tmp_path: Path
) -> None:
    """The importer never deletes a caregiver: one leaves the record as ``active: false``,
    which keeps no number careloop may text (an ex-spouse's, say)."""
    every_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    sam = caregiver("p-001", "rp-001", days=every_day, start="00:00:00", end="23:59:00")
    sam["telecom"][0]["use"] = "mobile"
    number = sam["telecom"][0]["value"]
    import_resources(rt, tmp_path, [patient("p-001"), sam])
    loop = make_loop([], {})
    outbox_id = _queue_caregiver_text(
        rt, loop, patient_id="p-001", caregiver_id="rp-001", to=number
    )
    import_resources(rt, tmp_path, [{**sam, "active": False}])  # the relationship has ended
    loop.work()

    assert loop.sms.sent_to(number) == []
    assert _dead_reason(rt, outbox_id) == ("dead", "not-textable")
