"""A teach-back question answered the way patients answer it: a text back to the question.

The reply reaches the preparation journey through the reply router (``conversations.inbound``),
as a dose answer does: a wrong "2" is re-taught, a second one is a nurse's call before the
exam; a right "uno" from a Spanish speaker is understood (a number said in words counts).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.medications.prep import prep_pass, start_prep
from careloop.models import OutboxMessage, PrepJourney
from careloop.runtime import Runtime
from tests.medications.conftest import deliver, make_patient, text_back

ZONE = ZoneInfo("America/New_York")
EXAM = datetime(2026, 3, 10, 9, 0, tzinfo=ZONE)


def _asked(rt: Runtime, clock: FrozenClock, *, language: str, earlier: int = 0) -> None:
    """The colonoscopy instruction and question went out the day before, by the worker;
    ``earlier`` journeys for her later exams were started first (they take the first ids)."""
    clock.set(EXAM - timedelta(days=3))
    make_patient(rt, patient_id="p-prep", language=language)
    with rt.transaction() as session:
        for weeks in range(earlier):
            later = EXAM + timedelta(weeks=weeks + 2)
            start_prep(
                session,
                patient_id="p-prep",
                kind="colonoscopy",
                appointment_at=later,
                now=clock.now(),
            )
        start_prep(
            session, patient_id="p-prep", kind="colonoscopy", appointment_at=EXAM, now=clock.now()
        )
    clock.set(EXAM - timedelta(hours=29))
    with rt.transaction() as session:
        prep_pass(session, now=clock.now(), clock=rt.clock, settings=rt.settings)
    clock.set(EXAM - timedelta(hours=15))  # the engine picks each message's time of day
    deliver(rt)


def _journey(rt: Runtime) -> str:
    with rt.transaction() as session:
        return session.scalars(select(PrepJourney.status)).one()


def _queued(rt: Runtime) -> list[str]:
    with rt.transaction() as session:
        query = select(OutboxMessage.content_message).order_by(OutboxMessage.id)
        return list(session.scalars(query))


def _asked_together(rt: Runtime, *, explained: str) -> None:
    """The question comes with what it asks about: on its channel, not before it, and before
    the exam (a question ahead of its instruction, or after the exam, teaches nothing)."""
    with rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        told, question = rows[-2], rows[-1]
        assert (told.content_message, question.content_message) == (
            explained,
            "prep_colonoscopy_check",
        )
        assert question.channel == told.channel
        assert told.due_at <= question.due_at <= told.due_at + timedelta(minutes=30)
        assert question.due_at < EXAM


def test_a_wrong_answer_texted_back_is_retaught_then_a_nurse_calls(
    rt: Runtime, clock: FrozenClock
) -> None:
    _asked(rt, clock, language="en")
    _asked_together(rt, explained="prep_colonoscopy")

    assert text_back(rt, "2", 1) == "prep-retaught"
    assert _journey(rt) == "retaught"
    _asked_together(rt, explained="prep_colonoscopy_reteach")

    clock.set(clock.now() + timedelta(minutes=20))
    deliver(rt)
    assert text_back(rt, "2 a normal meal", 2) == "prep-nurse-task"
    assert _journey(rt) == "task"
    with rt.transaction() as session:
        (task,) = list_worklist(session, now=clock.now())
    assert (task.rule_id, task.severity) == ("prep-teach-back-colonoscopy", "high")
    assert task.due_at < EXAM


def test_a_spanish_speaker_who_answers_in_words_has_understood(
    rt: Runtime, clock: FrozenClock
) -> None:
    _asked(rt, clock, language="es")

    assert text_back(rt, "uno", 1) == "prep-understood"
    assert _journey(rt) == "understood"
    assert _queued(rt)[-1] == "prep_colonoscopy_check"  # nothing re-taught
    with rt.transaction() as session:
        assert list_worklist(session, now=clock.now()) == []


@pytest.mark.parametrize("earlier", range(6))
def test_a_reteach_answers_the_reply_at_once_and_before_the_exam(
    rt: Runtime, clock: FrozenClock, earlier: int
) -> None:
    """Whatever window the engine would like best (its seed follows the journey's id, so other
    journeys started first change it), the plainer words go out while the patient is there,
    not the next afternoon after the exam."""
    _asked(rt, clock, language="en", earlier=earlier)
    replied = clock.now()
    assert text_back(rt, "2", 1) == "prep-retaught"
    with rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        told, question = rows[-2], rows[-1]
        assert told.content_message == "prep_colonoscopy_reteach"
        for row in (told, question):
            assert replied <= row.due_at <= replied + timedelta(minutes=30)
