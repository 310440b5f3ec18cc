"""Exam preparation with teach-back (issue #23): a wrong answer re-teaches, a second one
raises a nurse task before the day; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.errors import InvalidInput
from careloop.medications.prep import answer_prep, prep_pass, record_outcome, start_prep
from careloop.models import OutboxMessage
from careloop.runtime import Runtime
from tests.medications.conftest import make_patient

ZONE = ZoneInfo("America/New_York")
EXAM = datetime(2026, 3, 10, 9, 0, tzinfo=ZONE)


def _asked(rt: Runtime, clock: FrozenClock, patient_id: str, language: str = "en") -> int:
    clock.set(EXAM - timedelta(days=5))
    make_patient(rt, patient_id=patient_id, language=language)
    with rt.transaction() as session:
        journey = start_prep(
            session,
            patient_id=patient_id,
            kind="colonoscopy",
            appointment_at=EXAM,
            now=rt.clock.now(),
        )
        assert prep_pass(session, now=rt.clock.now(), clock=rt.clock, settings=rt.settings) == 0
    clock.set(EXAM - timedelta(hours=29))
    with rt.transaction() as session:
        assert prep_pass(session, now=rt.clock.now(), clock=rt.clock, settings=rt.settings) == 1
    return journey.id


def _bodies(rt: Runtime) -> list[str]:
    with rt.transaction() as session:
        return [m.body for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def _answer(rt: Runtime, patient_id: str, text: str) -> str:
    with rt.transaction() as session:
        journey = answer_prep(
            session, patient_id=patient_id, text=text, clock=rt.clock, settings=rt.settings
        )
        return journey.status


def test_two_wrong_answers_raise_a_nurse_task_before_the_day(
    rt: Runtime, clock: FrozenClock
) -> None:
    _asked(rt, clock, "p-prep")
    first = _bodies(rt)
    assert len(first) == 2
    assert "clear liquids" in first[0] or "transparent liquids" in first[0]
    assert "1 for" in first[1]
    assert "liquids" in first[1]
    assert _answer(rt, "p-prep", "2") == "retaught"
    retaught = _bodies(rt)[2:]
    assert len(retaught) == 2
    assert "water or" in retaught[0]
    assert "broth" in retaught[0]
    assert _answer(rt, "p-prep", "2") == "task"
    with rt.transaction() as session:
        (task,) = list_worklist(session, now=rt.clock.now())
    assert task.rule_id == "prep-teach-back-colonoscopy"
    assert task.severity == "high"
    # Finding 18: the card names the time in the patient's zone, never raw ISO.
    assert task.latest is not None
    assert "the appointment is Tue 10 Mar 09:00 EDT" in task.latest["summary"]
    assert "+00:00" not in task.latest["summary"]
    assert task.due_at < EXAM


def test_a_right_answer_after_reteaching_needs_no_call(rt: Runtime, clock: FrozenClock) -> None:
    journey_id = _asked(rt, clock, "p-ok", language="es")
    assert "líquidos" in _bodies(rt)[0]
    assert "colonoscopia" in _bodies(rt)[0] or "prueba" in _bodies(rt)[0]
    assert _answer(rt, "p-ok", "2") == "retaught"
    assert _answer(rt, "p-ok", "1") == "understood"
    with rt.transaction() as session:
        assert list_worklist(session, now=rt.clock.now()) == []
        done = record_outcome(
            session, journey_id=journey_id, outcome="adequate", now=rt.clock.now()
        )
        assert done.outcome == "adequate"
        with pytest.raises(InvalidInput, match="outcome"):
            record_outcome(session, journey_id=journey_id, outcome="fine", now=rt.clock.now())


def test_contrast_scan_teach_back_in_english_and_spanish(rt: Runtime, clock: FrozenClock) -> None:
    """Imaging with contrast: "water only" is the right answer; a meal is wrong twice → task."""
    clock.set(EXAM - timedelta(days=3))
    make_patient(rt, patient_id="p-ct")
    make_patient(rt, patient_id="p-tc", language="es")
    with rt.transaction() as session:
        for pid in ("p-ct", "p-tc"):
            start_prep(
                session,
                patient_id=pid,
                kind="imaging-contrast",
                appointment_at=EXAM,
                now=rt.clock.now(),
            )
    clock.set(EXAM - timedelta(hours=23))
    with rt.transaction() as session:
        assert prep_pass(session, now=rt.clock.now(), clock=rt.clock, settings=rt.settings) == 2
        sent = {
            (m.patient_id, m.content_message): m.body
            for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        }
    # Whichever reading level the engine chose, the same facts and the same keypad answer.
    assert "hours" in sent[("p-ct", "prep_imaging_contrast")]
    assert "water" in sent[("p-ct", "prep_imaging_contrast")]
    assert "2 for water" in sent[("p-ct", "prep_imaging_contrast_check")]
    assert "horas" in sent[("p-tc", "prep_imaging_contrast")]
    assert "agua" in sent[("p-tc", "prep_imaging_contrast")]
    assert "agua" in sent[("p-tc", "prep_imaging_contrast_check")]
    assert _answer(rt, "p-tc", "2") == "understood"
    assert _answer(rt, "p-ct", "1") == "retaught"
    assert "water" in _bodies(rt)[-2]
    assert _answer(rt, "p-ct", "1 food") == "task"
    with rt.transaction() as session:
        (task,) = list_worklist(session, now=rt.clock.now())
    assert task.rule_id == "prep-teach-back-imaging-contrast"
    assert task.patient_id == "p-ct"
    assert task.due_at < EXAM
