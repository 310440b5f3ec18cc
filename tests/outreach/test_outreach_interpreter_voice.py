"""The voice channel for a patient who needs an interpreter: their language when an approved
voice message exists in it, else a staff call task instead of an English robo-call, and the
decision's explanation says why. Both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from tests.outreach.conftest import SCREENING, Loop, make_patient, program

from careloop.models import OutboxMessage
from careloop.models.personalize import DecisionRow
from careloop.outreach.eligibility import Candidate
from careloop.records.extract import index_resource
from careloop.records.interpreter import INTERPRETER_EXTENSION
from careloop.records.store import write_resources
from careloop.runtime import Runtime


def _flag(rt: Runtime, patient_id: str, language: str) -> None:
    """The EHR's Patient resource: preferred language, interpreter required."""
    resource = {
        "resourceType": "Patient",
        "id": patient_id,
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": language}]},
                "preferred": True,
                "extension": [{"url": INTERPRETER_EXTENSION, "valueBoolean": True}],
            }
        ],
    }
    with rt.transaction() as session:
        write_resources(
            session, [index_resource(resource)], [patient_id], source="ehr", now=rt.clock.now()
        )


def _call(rt: Runtime, make_loop: Callable[..., Loop], pid: str) -> Loop:
    loop = make_loop(
        [program(SCREENING, actions={"channels": ["voice"]})],
        {"screening-test": [Candidate(pid, "2026")]},
    )
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.work()
    return loop


def _explanation(rt: Runtime, pid: str) -> str:
    with rt.transaction() as session:
        return session.scalars(
            select(DecisionRow.explanation).where(DecisionRow.patient_id == pid)
        ).one()


def test_no_approved_voice_message_in_the_language_means_a_staff_call(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="vi-1", phone="+15550100071", language="vi")
    _flag(rt, "vi-1", "vi")

    loop = _call(rt, make_loop, "vi-1")

    assert loop.voice.sent == []
    assert (
        "outreach-interpreter-call:screening-test",
        "Call the patient with a Vietnamese interpreter: Screening",
    ) in loop.tasks()
    assert "Interpreter needed (Vietnamese)" in _explanation(rt, "vi-1")
    assert "staff member calls" in _explanation(rt, "vi-1")


def test_without_the_flag_the_call_goes_out_as_before(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="vi-2", phone="+15550100072", language="vi")

    loop = _call(rt, make_loop, "vi-2")

    assert len(loop.voice.sent) == 1
    assert not [t for t in loop.tasks() if t[0].startswith("outreach-interpreter-call")]


def test_an_approved_voice_message_in_the_language_is_spoken_in_it(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="es-1", phone="+15550100073", language="en")
    _flag(rt, "es-1", "es")

    loop = _call(rt, make_loop, "es-1")

    [call] = loop.voice.sent
    assert "equipo de salud" in call.message.body  # the generic call (minimum necessary)
    with rt.transaction() as session:
        row = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.patient_id == "es-1", OutboxMessage.channel == "voice"
            )
        ).one()
        assert row.language == "es"
    assert not [t for t in loop.tasks() if t[0].startswith("outreach-interpreter-call")]
