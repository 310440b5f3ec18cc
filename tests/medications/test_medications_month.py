"""A simulated month of a patient on metformin twice a day (issue #23, "Done when").

She takes the morning dose at about 07:30 and the evening dose at about 20:00; the
prescription says BID, which starts the reminders at 08:00 and 20:00. Every reminder goes out
through the outbox; after a few days the morning reminder has moved to her 07:30 routine and
stays out of quiet hours. In the same month her 30-day supply runs out without a refill (she
is told before it does), she answers a colonoscopy teach-back question wrongly twice (a nurse
task before the exam) and one evening skips a dose because it makes her dizzy, which, under
the metformin patient-support program, opens an adverse-event case on the queue. The
daily jobs (reminders, refills, prep) run every day as the worker would. Runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.medications import adverse
from careloop.medications.prep import answer_prep, prep_pass, start_prep
from careloop.medications.refills import refill_pass
from careloop.medications.reminders import send_due_reminders
from careloop.medications.replies import handle_reply
from careloop.medications.service import confirm, reminders
from careloop.models import OutboxMessage
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime
from tests.medications.conftest import add_resources, make_patient, medication

ZONE = ZoneInfo("America/New_York")
SIDE_EFFECT_DAY = 12
"""The evening she skips her dose because it makes her dizzy."""


def _local(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%H:%M")


def _next(rt: Runtime, patient_id: str) -> dict[str, datetime]:
    with rt.transaction() as session:
        rows = reminders(session, patient_id=patient_id, now=rt.clock.now())
    return {r.slot: datetime.fromisoformat(r.next_reminder) for r in rows}


def at_noon(day: datetime) -> datetime:
    return day.replace(hour=12)


def _live_day(rt: Runtime, clock: FrozenClock, day: datetime, rng: random.Random) -> None:
    """One day: each reminder at its time, and the patient's own dose times."""
    takes = {
        "morning": day.replace(hour=7, minute=30) + timedelta(minutes=rng.randint(-8, 8)),
        "evening": day.replace(hour=20, minute=0) + timedelta(minutes=rng.randint(-8, 8)),
    }
    events: list[tuple[datetime, str]] = [(t, "take") for t in takes.values()]
    clock.set(day.replace(hour=5))
    events += [(at, "remind") for at in _next(rt, "p-met").values() if at.date() == day.date()]
    clock.set(day.replace(hour=12))
    with rt.transaction() as session:
        refill_pass(session, now=at_noon(day), clock=rt.clock, settings=rt.settings)
        prep_pass(session, now=at_noon(day), clock=rt.clock, settings=rt.settings)
    for at, what in sorted(events):
        clock.set(at)
        with rt.transaction() as session:
            if what == "remind":
                send_due_reminders(session, now=at, clock=rt.clock, settings=rt.settings)
            elif at.hour >= 12 and day.day == 2 + SIDE_EFFECT_DAY:
                handle_reply(
                    session,
                    patient_id="p-met",
                    text="3 skipped, it makes me dizzy",
                    channel="sms",
                    at=at,
                    clock=rt.clock,
                    actor="patient",
                )
            else:
                confirm(
                    session,
                    patient_id="p-met",
                    answer="taken",
                    at=at,
                    channel="sms",
                    actor="patient",
                    now=at,
                )


def test_a_month_of_metformin_moves_the_reminders_to_her_routine(
    rt: Runtime, clock: FrozenClock
) -> None:
    first_day = datetime(2026, 3, 2, tzinfo=ZONE)
    clock.set(first_day.replace(hour=5))
    make_patient(rt, patient_id="p-met")
    supply = medication("MedicationDispense", "md-met", when=first_day, days_supply=30)
    supply["subject"] = {"reference": "Patient/p-met"}
    add_resources(rt, "p-met", medication("MedicationRequest", "mr-met", when=first_day), supply)
    exam = (first_day + timedelta(days=21)).replace(hour=9)
    with rt.transaction() as session:
        start_prep(
            session, patient_id="p-met", kind="colonoscopy", appointment_at=exam, now=first_day
        )
        set_stated_preferences(
            session,
            clock=rt.clock,
            patient_id="p-met",
            changes={"quiet_hours": "22-06"},
            actor="test",
        )
    assert {k: _local(v) for k, v in _next(rt, "p-met").items()} == {
        "morning": "08:00",
        "evening": "20:00",
    }
    rng = random.Random(23)
    for offset in range(30):
        _live_day(rt, clock, first_day + timedelta(days=offset), rng)
        if offset == 20:  # the teach-back question came at noon the day before: wrong twice
            clock.set(exam - timedelta(hours=20))
            for wrong in ("2", "2 normal meal"):
                with rt.transaction() as session:
                    answer_prep(
                        session,
                        patient_id="p-met",
                        text=wrong,
                        clock=rt.clock,
                        settings=rt.settings,
                    )

    clock.set((first_day + timedelta(days=30)).replace(hour=5))
    with rt.transaction() as session:
        final = {r.slot: r for r in reminders(session, patient_id="p-met", now=rt.clock.now())}
        sent = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.due_at)))
    morning = datetime.fromisoformat(final["morning"].next_reminder)
    assert "07:2" in _local(morning) or "07:3" in _local(morning)
    assert morning.utcoffset() == timedelta(hours=-4)  # New York in April, offset kept
    assert final["morning"].basis.startswith("learned from 14 confirmations, median 07:")
    evening = datetime.fromisoformat(final["evening"].next_reminder)
    assert abs((evening - evening.replace(hour=20, minute=0)).total_seconds()) <= 8 * 60
    # What the patient noticed: while reminders said 08:00 she had already taken her 07:30
    # dose (no text); from the fourth day on, a text comes at her own time, every morning.
    doses = [m for m in sent if m.content_message == "medication_reminder"]
    mornings = [m.due_at for m in doses if m.due_at.astimezone(ZONE).hour < 12]
    assert mornings[0].astimezone(ZONE).date() >= (first_day + timedelta(days=3)).date()
    assert len(mornings) >= 10
    evenings = [m.due_at for m in doses if m.due_at.astimezone(ZONE).hour >= 12]
    assert _local(evenings[0]) == "20:00"
    assert all("07:2" <= _local(m) <= "07:39" for m in mornings[-7:])
    assert all("06:00" <= _local(m.due_at) < "22:00" for m in sent)
    assert all("medicines" in m.body or "medications" in m.body for m in doses)
    assert all("metformin" not in m.body for m in sent)
    # The supply (dispensed on day 0 for 30 days) ends on day 30: she is told a week before.
    (refill,) = [m for m in sent if m.content_message == "refill_due"]
    assert refill.due_at < first_day + timedelta(days=30)
    assert refill.due_at >= first_day + timedelta(days=22)
    with rt.transaction() as session:
        work = {i.rule_id: i for i in list_worklist(session, now=rt.clock.now())}
        queue = adverse.queue(session, now=rt.clock.now())
    # Two wrong teach-back answers: a nurse call, due before the exam.
    assert work["prep-teach-back-colonoscopy"].due_at < exam
    # The dizzy evening: reviewed by the care team, and an AE case on the PV queue.
    assert "medication-side-effect" in work
    (case,) = queue
    assert case.program == "example-support"
    reported = (first_day + timedelta(days=SIDE_EFFECT_DAY)).date()
    assert case.due_at.astimezone(ZONE).date() == reported + timedelta(days=1)


def test_learned_time_never_falls_in_quiet_hours(rt: Runtime, clock: FrozenClock) -> None:
    """With the default quiet hours (21:00-08:00) a 07:30 routine is reminded at 08:00."""
    first_day = datetime(2026, 3, 2, tzinfo=ZONE)
    clock.set(first_day.replace(hour=5))
    make_patient(rt, patient_id="p-met")
    add_resources(rt, "p-met", medication("MedicationRequest", "mr-met", when=first_day))
    for offset in range(5):
        at = (first_day + timedelta(days=offset)).replace(hour=7, minute=30)
        clock.set(at)
        with rt.transaction() as session:
            confirm(
                session,
                patient_id="p-met",
                answer="taken",
                at=at,
                channel="portal",
                actor="patient",
                now=at,
            )
    with rt.transaction() as session:
        final = {r.slot: r for r in reminders(session, patient_id="p-met", now=rt.clock.now())}
    assert _local(datetime.fromisoformat(final["morning"].next_reminder)) == "08:00"
    assert "outside quiet hours 21-08" in final["morning"].basis
