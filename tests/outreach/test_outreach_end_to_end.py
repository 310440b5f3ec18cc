"""A program runs end to end on fakes: enrollment → decision → outbox → worker → SMS → reply."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from tests.outreach.conftest import APPOINTMENTS, SCREENING, Loop, make_patient, program, reply

from careloop.channels.keywords import Keyword
from careloop.events import list_events
from careloop.models import DecisionRow, Enrollment, OutboxMessage
from careloop.outreach.eligibility import Candidate
from careloop.runtime import Runtime


def test_screening_program_sends_once_and_completes_from_the_record(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", phone="+15550100001")
    loop = make_loop([program(SCREENING)], {"screening-test": [Candidate("p1", "2026")]})

    report = loop.tick()
    loop.advance(timedelta(days=1))
    sent = loop.work()

    # One decision, one text or call; a clinical text is a notice, its full text in the portal.
    assert (report.enrolled, report.queued) == (1, 1)
    assert len(loop.sms.sent) + len(loop.email.sent) + len(loop.voice.sent) <= 1
    with rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage)).all()
        row = next(r for r in rows if "withheld_from" not in (r.extra or {}))
        copies = [r for r in rows if "withheld_from" in (r.extra or {})]
        assert sent.sent == 1 + len(copies)
        assert len(copies) == (1 if row.channel in ("sms", "voice") else 0)
        decision = session.get(DecisionRow, row.decision_id)
        enrollment = session.scalars(select(Enrollment)).one()
        assert row.state == "sent"
        assert decision is not None
        assert row.propensity == decision.propensity
        assert row.content_version_id is not None
        assert enrollment.state == "contacted"


def test_reply_moves_enrollment_to_responded_and_confirm_completes(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p2", phone="+15550100002")
    start = rt.clock.now()
    appointment = start + timedelta(days=5)
    loop = make_loop(
        [program(APPOINTMENTS)],
        {
            "appointments-test": [
                Candidate(
                    "p2",
                    "Appointment/a1",
                    anchors={"appointment": appointment},
                    fields={
                        "appointment_at": appointment.isoformat(),
                        "appointment_place": "Clinic",
                    },
                )
            ]
        },
    )
    loop.tick()
    loop.advance(timedelta(days=2, hours=1))
    loop.tick()
    # The worker runs when the reminder is due (after 12 idle hours it would be night where
    # the patient is, and the worker would hold the reminder until morning).
    with rt.transaction() as session:
        due = max(
            session.scalars(
                select(OutboxMessage.due_at).where(OutboxMessage.state == "queued")
            ).all()
        )
    loop.advance(due - loop.clock.now())
    loop.work()
    reply(loop, sender="+15550100002", body="Y", keyword=Keyword.CONFIRM, sid="SM1")

    with rt.transaction() as session:
        enrollment = session.scalars(select(Enrollment)).one()
        kinds = [e.kind for e in list_events(session, patient_id="p2")]
    assert enrollment.state == "completed"
    assert "replied" in kinds
    assert kinds.index("sent") < kinds.index("replied") < kinds.index("completed")
