"""Refills before the supply ends, call tasks for low adherence, side effects in replies and
adverse-event cases of a patient-support program (issue #23, on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.medications import adverse
from careloop.medications.refills import refill_pass
from careloop.medications.replies import handle_reply, parse_reply
from careloop.medications.service import reminders
from careloop.models import AuditEvent, DoseConfirmation, OutboxMessage
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role
from tests.medications.conftest import add_resources, make_patient, medication

ZONE = ZoneInfo("America/New_York")
DAY0 = datetime(2026, 1, 5, 12, tzinfo=ZONE)


def _on_metformin(rt: Runtime, patient_id: str, *fills: int) -> None:
    """Metformin BID, dispensed 30 days at a time on the given day offsets."""
    make_patient(rt, patient_id=patient_id)
    dispenses = [
        medication("MedicationDispense", f"{patient_id}-d{i}", when=DAY0 + timedelta(days=day))
        for i, day in enumerate(fills)
    ]
    for d in dispenses:
        d["subject"] = {"reference": f"Patient/{patient_id}"}
    add_resources(
        rt, patient_id, medication("MedicationRequest", f"{patient_id}-mr", when=DAY0), *dispenses
    )


def _outbox(rt: Runtime, message: str) -> list[OutboxMessage]:
    with rt.transaction() as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.content_message == message))
        )


def test_a_missed_refill_gets_outreach_before_the_supply_ends(
    rt: Runtime, clock: FrozenClock
) -> None:
    _on_metformin(rt, "p-refill", 0, 30)  # supply runs out on day 60
    for day, expected in ((45, 0), (54, 1), (55, 1)):
        clock.set(DAY0 + timedelta(days=day))
        with rt.transaction() as session:
            refill_pass(session, now=rt.clock.now(), clock=rt.clock, settings=rt.settings)
        assert len(_outbox(rt, "refill_due")) == expected, day
    (sent,) = _outbox(rt, "refill_due")
    assert sent.due_at < DAY0 + timedelta(days=60)
    assert "run out in 6 days" in sent.body
    assert "metformin" not in sent.body


def test_low_adherence_gets_a_pharmacist_call_task(rt: Runtime, clock: FrozenClock) -> None:
    _on_metformin(rt, "p-gaps", 0, 50, 100)  # 30-day fills 50 days apart: PDC 0.6
    clock.set(DAY0 + timedelta(days=125))
    with rt.transaction() as session:
        report = refill_pass(session, now=rt.clock.now(), clock=rt.clock, settings=rt.settings)
        items = list_worklist(session, now=rt.clock.now())
    assert len(report.call_tasks) == 1
    assert [i.rule_id for i in items] == ["medication-nonadherence"]


def test_keypad_and_words_in_english_and_spanish() -> None:
    assert parse_reply("1").answer == "taken"
    assert parse_reply("2").answer == "later"
    assert parse_reply("3 made me dizzy").answer == "skipped"
    assert parse_reply("3 made me dizzy").terms == ("dizz",)
    assert parse_reply("Ya la tomé").answer is None or parse_reply("tomé").answer == "taken"
    assert parse_reply("más tarde").answer == "later"
    assert parse_reply("no, me da náuseas").answer == "skipped"
    assert parse_reply("no, me da náuseas").terms == ("nause",)
    assert parse_reply("skipped, I was in the hospital with chest pain").seriousness == (
        "otherMedicallyImportantCondition",
        "requiresHospitalization",
    )


def test_a_later_reply_snoozes_the_reminder_30_minutes(rt: Runtime, clock: FrozenClock) -> None:
    _on_metformin(rt, "p-later", 0)
    at = DAY0.replace(hour=8, minute=2) + timedelta(days=1)
    clock.set(at)
    with rt.transaction() as session:
        outcome = handle_reply(
            session,
            patient_id="p-later",
            text="2",
            channel="sms",
            at=at,
            clock=rt.clock,
            actor="patient",
        )
        morning = next(
            r for r in reminders(session, patient_id="p-later", now=at) if r.slot == "morning"
        )
    assert outcome.answer == "later"
    assert outcome.confirmations == 1
    assert datetime.fromisoformat(morning.next_reminder) == at + timedelta(minutes=30)
    assert "snoozed until 08:32" in morning.basis


def test_side_effect_reply_in_a_support_program_opens_an_ae_case(
    rt: Runtime, clock: FrozenClock
) -> None:
    _on_metformin(rt, "p-ae", 0)
    at = DAY0.replace(hour=20, minute=5) + timedelta(days=2)
    clock.set(at)
    with rt.transaction() as session:
        outcome = handle_reply(
            session,
            patient_id="p-ae",
            text="3 skipped, it makes me dizzy",
            channel="sms",
            at=at,
            clock=rt.clock,
            actor="patient",
        )
        answers = list(session.scalars(select(DoseConfirmation)))
        items = list_worklist(session, now=at)
        queue = adverse.queue(session, now=at)
    assert outcome.answer == "skipped"
    assert [a.answer for a in answers] == ["skipped"]
    assert [i.rule_id for i in items] == ["medication-side-effect"]
    assert len(queue) == 1
    assert queue[0].program == "example-support"
    assert queue[0].due_at == at + timedelta(hours=24)
    assert not queue[0].serious
    nurse = Principal(actor="pv-nurse-kim", role=Role.CLINICIAN)
    clock.set(at + timedelta(hours=3))
    with rt.transaction() as session:
        case = adverse.triage(session, queue[0].id, principal=nurse, clock=rt.clock)
        e2b = adverse.e2b_case(case)
        seen = list(session.scalars(select(AuditEvent).where(AuditEvent.resource == "ae-case")))
    # The four minimum criteria: patient, reporter, suspect product, event.
    assert e2b["D.1"]["careloop.patient"] == "p-ae"
    assert "Rosa" not in str(e2b)
    assert e2b["C.2.r"][0]["careloop.reporter"] == "patient"
    assert e2b["G.k"][0]["G.k.2.2"] == "metformin 500 MG Oral Tablet"
    assert [e["E.i.1.1a"] for e in e2b["E.i"]] == ["dizz"]
    assert "pv-nurse-kim" in {e.actor for e in seen}
    with rt.transaction() as session:
        assert adverse.queue(session, now=rt.clock.now()) == []


def test_an_emergency_symptom_goes_through_the_symptom_rules(
    rt: Runtime, clock: FrozenClock
) -> None:
    _on_metformin(rt, "p-er", 0)
    at = DAY0.replace(hour=8, minute=10) + timedelta(days=2)
    clock.set(at)
    with rt.transaction() as session:
        handle_reply(
            session,
            patient_id="p-er",
            text="3 I have chest pain",
            channel="sms",
            at=at,
            clock=rt.clock,
            actor="patient",
        )
        items = list_worklist(session, now=at)
        (case,) = adverse.queue(session, now=at)
    assert [(i.rule_id, i.severity) for i in items] == [("symptom-emergency", "urgent")]
    assert case.serious
