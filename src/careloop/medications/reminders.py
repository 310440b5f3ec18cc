"""Sending the dose reminders that are due, through ``outreach.requests.request_message``.

One reminder per patient and reminder time (two medicines at 08:00 make one message), with
the send window pinned to the learned minute so the engine cannot move it to another part of
the day; quiet hours, consent, channel and language are still the engine's. The SMS names no
medicine (minimum necessary): "time for your 07:30 medicines, reply 1 taken, 2 later, 3
skipped". A reminder not sent within ``STALE_AFTER`` of its time is dropped, not sent late.

A caregiver the care team marked as managing the medicines (``caregivers manages-medications``)
gets a copy at the same moment: the time and the patient's first name, still no medicine, and
nothing to answer (the patient's answer is the one the reminder time is learned from).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.medications.learning import clock_label
from careloop.medications.service import SlotState, patient_of, slot_states, sync_all
from careloop.medications.timing import DAY_MINUTES
from careloop.models import MedicationSlot
from careloop.outreach.requests import RequestedMessage, request_message
from careloop.records.caregivers import caregivers_of
from careloop.settings import Settings

REMINDER_MESSAGE = "medication_reminder"
CAREGIVER_MESSAGE = "medication_reminder_caregiver"
REMINDER_PROGRAM = "medications"
"""The outbox program of dose reminders: a reply to one is a dose answer."""
PURPOSE = "care-reminders"
STALE_AFTER = timedelta(hours=2)
WINDOW_MINUTES = 30


@dataclass
class ReminderReport:
    """What one pass queued, and what could not be queued (by reason)."""

    queued: list[int] = field(default_factory=list)
    not_queued: dict[str, int] = field(default_factory=dict)

    def count(self, sent: RequestedMessage) -> None:
        """One request's outcome: its outbox row, or why it was not queued."""
        if sent.outbox_id is not None:
            self.queued.append(sent.outbox_id)
        else:
            reason = sent.not_queued or "unknown"
            self.not_queued[reason] = self.not_queued.get(reason, 0) + 1


def send_window_from(minute: int) -> str:
    """The half hour from a local minute, as ``request_message`` pins a send window."""
    end = min(minute + WINDOW_MINUTES, DAY_MINUTES)
    return f"{clock_label(minute)}-{'24:00' if end == DAY_MINUTES else clock_label(end)}"


def _due(state: SlotState, *, now: datetime, zone: ZoneInfo) -> datetime | None:
    """When this slot's reminder fell due at or before ``now`` (today's, or a snooze)."""
    slot = state.slot
    if slot.status != "active":
        return None
    if slot.snoozed_until is not None and slot.snoozed_until <= now:
        return slot.snoozed_until
    today = now.astimezone(zone).date()
    if slot.last_reminded_on == today or state.answered_today:
        return None
    hours, minutes = divmod(state.learned.minute, 60)
    at = datetime(today.year, today.month, today.day, hours, minutes, tzinfo=zone)
    return at if at <= now else None


def send_due_reminders(
    session: Session,
    *,
    now: datetime,
    clock: Clock,
    settings: Settings,
    patient_ids: list[str] | None = None,
) -> ReminderReport:
    """Queue every reminder due now; mark the slots reminded for the local day."""
    report = ReminderReport()
    if patient_ids is None:
        sync_all(session, now=now)
        query = select(MedicationSlot.patient_id).where(MedicationSlot.status == "active")
        patient_ids = sorted(set(session.scalars(query)))
    for patient_id in patient_ids:
        zone = ZoneInfo(patient_of(session, patient_id).timezone)
        groups: dict[datetime, list[SlotState]] = defaultdict(list)
        for state in slot_states(session, patient_id=patient_id, now=now):
            due = _due(state, now=now, zone=zone)
            if due is not None and now - due <= STALE_AFTER:
                groups[due].append(state)
            elif due is not None:
                state.slot.last_reminded_on = now.astimezone(zone).date()
        for due, states in sorted(groups.items()):
            _send(
                session,
                patient_id,
                due,
                states,
                now=now,
                clock=clock,
                settings=settings,
                zone=zone,
                report=report,
            )
    session.flush()
    return report


def _send(
    session: Session,
    patient_id: str,
    due: datetime,
    states: list[SlotState],
    *,
    now: datetime,
    clock: Clock,
    settings: Settings,
    zone: ZoneInfo,
    report: ReminderReport,
) -> None:
    local = due.astimezone(zone)
    dose_time = clock_label(local.hour * 60 + local.minute)
    key = f"med:{patient_id}:{local:%Y-%m-%dT%H:%M}"
    # Due now, for the patient and their caregivers alike (quiet hours still apply).
    window = send_window_from(now.astimezone(zone).hour * 60 + now.astimezone(zone).minute)

    def remind(
        message: str, key: str, fields: dict[str, object], caregiver_id: str | None = None
    ) -> None:
        sent = request_message(
            session,
            patient_id=patient_id,
            message=message,
            purpose=PURPOSE,
            key=key,
            now=now,
            clock=clock,
            settings=settings,
            fields={"dose_time": dose_time, **fields},
            program=REMINDER_PROGRAM,
            send_window=window,
            caregiver_id=caregiver_id,
        )
        report.count(sent)

    remind(REMINDER_MESSAGE, key, {})
    for state in states:
        state.slot.last_reminded_on = local.date()
        state.slot.snoozed_until = None
    patient = patient_of(session, patient_id)
    for caregiver in caregivers_of(session, patient_id=patient_id):
        if not caregiver.manages_medications:
            continue
        remind(
            CAREGIVER_MESSAGE,
            f"{key}:caregiver:{caregiver.id}",
            {
                "patient_first_name": patient.given_name or "",
                "first_name": (caregiver.name or "").split(" ")[0],
                "last_name": "",
            },
            caregiver_id=caregiver.id,
        )
