"""Dose slots from the record, their next reminders, and the patient's answers.

``sync_plan`` keeps the slot rows in step with the record (a stopped prescription stops its
reminders); ``reminders`` says when each slot is reminded next and why; ``confirm`` records a
"taken / later / skipped" answer against the slot it belongs to (the one whose reminder time
is nearest), which is what the reminder time is learned from. Services flush; callers commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.errors import InvalidInput, NotFound
from careloop.medications.learning import LearnedTime, learned_time
from careloop.medications.plan import plan_from_resources
from careloop.medications.schemas import Reminder
from careloop.medications.timing import DAY_MINUTES
from careloop.models import DoseConfirmation, MedicationSlot
from careloop.personalize.profile import QuietHours
from careloop.personalize.service import get_profile
from careloop.records.resources import patient_resources
from careloop.records.service import get_patient, resources_of_type

MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationDispense")
ANSWERS = ("taken", "later", "skipped")
SNOOZE = timedelta(minutes=30)
LEARN_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class SlotState:
    """One active slot, its learned time and the next moment it is due."""

    slot: MedicationSlot
    learned: LearnedTime
    next_at: datetime
    basis: str
    answered_today: bool = False


patient_of = get_patient
"""The patient's row (the portal's and the demo's name for :func:`get_patient`)."""


def sync_plan(session: Session, *, patient_id: str, now: datetime) -> list[MedicationSlot]:
    """Slot rows of the record's medicines (all states); slots of stopped medicines stop.

    A slot stopped by hand stays stopped until someone resumes it (``set_status``).
    """
    resources = patient_resources(session, patient_id=patient_id, resource_types=MEDICATION_TYPES)
    existing = {
        (row.medication_key, row.slot): row
        for row in session.scalars(
            select(MedicationSlot).where(MedicationSlot.patient_id == patient_id)
        )
    }
    wanted: set[tuple[str, str]] = set()
    for med in plan_from_resources(resources):
        if not med.active:
            continue
        for spec in med.slots:
            wanted.add((med.key, spec.slot))
            row = existing.get((med.key, spec.slot))
            if row is None:
                row = MedicationSlot(
                    patient_id=patient_id,
                    medication_key=med.key,
                    slot=spec.slot,
                    status="active",
                    caregiver_managed=False,
                )
                session.add(row)
                existing[(med.key, spec.slot)] = row
            row.medication, row.default_minute = med.name, spec.minute
            row.timing, row.source, row.updated_at = med.timing[:64], med.source[:200], now
    for key, row in existing.items():
        if key not in wanted and row.status != "stopped":
            row.status, row.updated_at = "stopped", now
    session.flush()
    return sorted(existing.values(), key=lambda r: (r.medication, r.default_minute))


def has_active_medicines(session: Session, *, patient_id: str) -> bool:
    """Whether the record holds a medicine the patient takes now (the adherence check-in asks
    about missed doses, so a patient with none is not asked)."""
    resources = patient_resources(session, patient_id=patient_id, resource_types=MEDICATION_TYPES)
    return any(med.active for med in plan_from_resources(resources))


def quiet_hours_of(session: Session, patient_id: str) -> QuietHours:
    return get_profile(session, patient_id=patient_id).stated.quiet_hours or QuietHours()


def _confirmations(
    session: Session, slot_ids: Sequence[int], *, since: datetime
) -> dict[int, list[DoseConfirmation]]:
    out: dict[int, list[DoseConfirmation]] = {i: [] for i in slot_ids}
    rows = session.scalars(
        select(DoseConfirmation)
        .where(DoseConfirmation.slot_id.in_(list(slot_ids)), DoseConfirmation.confirmed_at >= since)
        .order_by(DoseConfirmation.confirmed_at, DoseConfirmation.id)
    )
    for row in rows:
        out[row.slot_id].append(row)
    return out


def _at(day: date, minute: int, zone: ZoneInfo) -> datetime:
    hours, minutes = divmod(minute, 60)
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=zone)


def _state(
    slot: MedicationSlot,
    answers: list[DoseConfirmation],
    *,
    zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
) -> SlotState:
    taken = [a.local_minute for a in answers if a.answer == "taken"]
    learned = learned_time(
        default_minute=slot.default_minute, timing=slot.timing, taken_minutes=taken, quiet=quiet
    )
    answered = {a.confirmed_at.astimezone(zone).date() for a in answers if a.answer != "later"}
    answered_today = now.astimezone(zone).date() in answered
    if slot.snoozed_until is not None and slot.snoozed_until > now:
        until = slot.snoozed_until.astimezone(zone)
        basis = f"{learned.basis}; snoozed until {until:%H:%M}"
        return SlotState(slot, learned, until, basis, answered_today)
    start, basis = now, learned.basis
    if slot.status == "paused" and slot.paused_until is not None and slot.paused_until > now:
        start = slot.paused_until
        basis += f"; paused until {slot.paused_until.astimezone(zone):%Y-%m-%d}"
    day = start.astimezone(zone).date()
    done_today = day in answered or slot.last_reminded_on == day
    candidate = _at(day, learned.minute, zone)
    if candidate < start or done_today:
        candidate = _at(day + timedelta(days=1), learned.minute, zone)
    return SlotState(slot, learned, candidate, basis, answered_today)


def slot_states(session: Session, *, patient_id: str, now: datetime) -> list[SlotState]:
    """Every reminded slot of the patient (active or paused) with its next moment."""
    patient = patient_of(session, patient_id)
    slots = [
        s
        for s in sync_plan(session, patient_id=patient_id, now=now)
        if s.status in ("active", "paused")
    ]
    zone = ZoneInfo(patient.timezone)
    quiet = quiet_hours_of(session, patient_id)
    answers = _confirmations(session, [s.id for s in slots], since=now - LEARN_WINDOW)
    return [_state(s, answers[s.id], zone=zone, quiet=quiet, now=now) for s in slots]


def reminders(session: Session, *, patient_id: str, now: datetime) -> list[Reminder]:
    """The contract of ``careloop medications reminders``: one entry per medicine and slot."""
    return [
        Reminder(
            medication=s.slot.medication,
            slot=s.slot.slot,
            next_reminder=s.next_at.isoformat(),
            basis=s.basis,
        )
        for s in slot_states(session, patient_id=patient_id, now=now)
    ]


def _distance(a: int, b: int) -> int:
    gap = abs(a - b) % DAY_MINUTES
    return min(gap, DAY_MINUTES - gap)


def _matching_slots(
    states: Sequence[SlotState],
    *,
    local_minute: int,
    medication_key: str | None,
    slot: str | None = None,
) -> list[SlotState]:
    """The slots an answer is about: those reminded at the time nearest to the answer."""
    pool = [
        s
        for s in states
        if medication_key in (None, s.slot.medication_key) and slot in (None, s.slot.slot)
    ]
    if not pool:
        return []
    best = min(_distance(s.learned.minute, local_minute) for s in pool)
    return [s for s in pool if _distance(s.learned.minute, local_minute) == best]


def confirm(
    session: Session,
    *,
    patient_id: str,
    answer: str,
    at: datetime,
    channel: str,
    actor: str,
    now: datetime,
    medication_key: str | None = None,
    source: str | None = None,
    slot: str | None = None,
) -> list[DoseConfirmation]:
    """Record one answer for the dose it belongs to; "later" also snoozes that reminder.

    The portal names the medicine and the slot (the patient pressed that dose's button);
    a text or a call names neither, and the answer goes to the dose reminded nearest in time.
    """
    if answer not in ANSWERS:
        raise InvalidInput(f"answer must be one of {', '.join(ANSWERS)}", field="answer")
    patient = patient_of(session, patient_id)
    local = at.astimezone(ZoneInfo(patient.timezone))
    minute = local.hour * 60 + local.minute
    states = [
        s for s in slot_states(session, patient_id=patient_id, now=now) if s.slot.status == "active"
    ]
    matched = _matching_slots(states, local_minute=minute, medication_key=medication_key, slot=slot)
    if not matched:
        raise NotFound("no active medication to confirm")
    rows = []
    for state in matched:
        if answer == "later":
            state.slot.snoozed_until = now + SNOOZE
        row = DoseConfirmation(
            slot_id=state.slot.id,
            patient_id=patient_id,
            answer=answer,
            confirmed_at=at,
            local_minute=minute,
            channel=channel,
            source=source,
            created_by=actor,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def set_status(
    session: Session,
    *,
    patient_id: str,
    status: str,
    now: datetime,
    medication_key: str | None = None,
    until: datetime | None = None,
) -> int:
    """Pause (until a date), resume or stop the reminders of one medicine or all of them."""
    if status not in ("active", "paused", "stopped"):
        raise InvalidInput("status must be active, paused or stopped", field="status")
    slots = sync_plan(session, patient_id=patient_id, now=now)
    changed = 0
    for slot in slots:
        if medication_key not in (None, slot.medication_key):
            continue
        slot.status, slot.paused_until, slot.updated_at = status, until, now
        changed += 1
    if not changed:
        raise NotFound("no such medication")
    session.flush()
    return changed


def sync_all(session: Session, *, now: datetime) -> int:
    """Sync the plan of every patient with a medicine in the record; how many patients."""
    owners: set[str] = set()
    for kind in MEDICATION_TYPES:
        owners.update(pid for pid, _ in resources_of_type(session, resource_type=kind) if pid)
    for patient_id in sorted(owners):
        sync_plan(session, patient_id=patient_id, now=now)
    return len(owners)
