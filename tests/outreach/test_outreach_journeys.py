"""Journeys over time: branches, escalation to a person, caregiver timing, retries and dead
letters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from tests.feedback.loop_payloads import DIARY
from tests.outreach.conftest import APPOINTMENTS, SCREENING, Loop, make_patient, program, reply

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.keywords import Keyword
from careloop.events import list_events
from careloop.models import Enrollment, OutboxMessage
from careloop.outreach.eligibility import Candidate
from careloop.runtime import Runtime

SMS_ONLY = {"channels": ["sms"]}


def _screening(rt: Runtime, make_loop: Callable[..., Loop], pid: str) -> Loop:
    make_patient(rt, patient_id=pid, phone="+15550100031")
    return make_loop(
        [program(SCREENING, actions=SMS_ONLY)], {"screening-test": [Candidate(pid, "2026")]}
    )


def _rows(rt: Runtime) -> list[OutboxMessage]:
    """The messages the decisions chose (not the portal copies of withheld clinical text)."""
    with rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [r for r in rows if "withheld_from" not in (r.extra or {})]


def test_two_unanswered_messages_put_a_call_on_the_worklist(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    loop = _screening(rt, make_loop, "pe")
    for days in (0, 8, 4):
        loop.advance(timedelta(days=days))
        loop.tick()
        loop.advance(timedelta(hours=12))
        loop.work()

    assert [m.step for m in _rows(rt)] == ["invite", "reminder"]
    assert [rule for rule, _title in loop.tasks()] == ["outreach-call:screening-test"]


def test_recorded_procedure_completes_and_stops_the_journey(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    from tests.outreach.conftest import add_procedure

    loop = _screening(rt, make_loop, "pc")
    loop.tick()
    loop.advance(timedelta(days=2))
    add_procedure(rt, patient_id="pc", code="71651007", when=loop.clock.now())
    loop.advance(timedelta(days=8))
    loop.tick()
    loop.work()

    with rt.transaction() as session:
        enrollment = session.scalars(select(Enrollment)).one()
    assert enrollment.state == "completed"
    assert [m.step for m in _rows(rt)] == ["invite"]


def test_caregiver_copy_is_timed_inside_their_availability(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(
        rt,
        patient_id="pg",
        phone="+15550100041",
        caregiver={
            "phone": "+15550100042",
            "availability": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "15:00", "end": "20:00"}
            ],
        },
    )
    appointment = rt.clock.now() + timedelta(days=5)
    loop = make_loop(
        [program(APPOINTMENTS, actions=SMS_ONLY)],
        {
            "appointments-test": [
                Candidate(
                    "pg",
                    "Appointment/g1",
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
    loop.advance(timedelta(days=2))
    loop.tick()

    caregiver = [m for m in _rows(rt) if m.recipient_kind == "caregiver"]
    local = caregiver[0].due_at.astimezone(ZoneInfo("America/New_York"))
    assert caregiver[0].to_address == "+15550100042"
    assert local.weekday() < 5
    assert 15 <= local.hour < 20


def test_transient_failure_is_retried_and_permanent_failure_is_dead_lettered(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    loop = _screening(rt, make_loop, "pr")
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.sms.fail_next(ChannelError(FailureReason.PROVIDER_DOWN, permanent=False))
    loop.work()
    retrying = _rows(rt)[0].state
    loop.advance(timedelta(hours=2))
    loop.work()
    sent = _rows(rt)[0].state
    loop.advance(timedelta(days=8))
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.sms.fail_next(ChannelError(FailureReason.INVALID_ADDRESS, permanent=True))
    loop.work()
    second = _rows(rt)[1]

    assert (retrying, sent) == ("failed-transient", "sent")
    assert (second.state, second.dead_reason, second.last_error) == (
        "dead",
        "permanent-failure",
        "invalid-address",
    )


def test_reply_skips_the_no_reply_reminder(rt: Runtime, make_loop: Callable[..., Loop]) -> None:
    loop = _screening(rt, make_loop, "pb")
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.work()
    reply(loop, sender="+15550100031", body="thanks, will do", keyword=Keyword.FREE_TEXT, sid="SMb")
    loop.advance(timedelta(days=8))
    loop.tick()

    assert [m.step for m in _rows(rt)] == ["invite"]
    assert [rule for rule, _title in loop.tasks()] == ["outreach-reply"]


def test_checkin_step_asks_by_sms_and_hands_the_answer_to_the_check_in(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="pk", phone="+15550100071")
    steps = [{"id": "weekly", "message": "symptom_checkin_prompt", "questionnaire": DIARY}]
    loop = make_loop(
        [program(SCREENING, actions=SMS_ONLY, steps=steps)],
        {"screening-test": [Candidate("pk", "2026")]},
    )
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.work()
    reply(loop, sender="+15550100071", body="1", keyword=Keyword.CHECKIN_ANSWER, sid="SMk")
    loop.work()

    bodies = [m.body for m in loop.sms.sent_to("+15550100071")]
    assert len(bodies) == 3
    assert bodies[1].startswith("(1/15) Nausea")
    assert bodies[2].startswith("(2/15) ")
    with rt.transaction() as session:
        answered = list_events(session, patient_id="pk", kinds=["replied"])
    steps = [e.payload.get("step") for e in answered if e.subject_type == "checkin_conversation"]
    assert steps == ["next"]
