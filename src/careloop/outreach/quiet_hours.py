"""Quiet hours at dispatch: the last check before a send, in the patient's own zone.

The engine picks a send time outside quiet hours, but a message can still come due inside
them: a retry after backoff, a paced sender's queue, a worker that was down overnight, a care
team message typed at 10 pm. The worker therefore asks again right before the call and hands
such a message back to the queue, due when the patient's quiet hours end (not an attempt).
Confirmations of the patient's own STOP/HELP go at once (the carrier rules require it), and
caregiver messages keep the caregiver's availability windows, chosen when they were queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import ensure_utc
from careloop.db import any_of
from careloop.models import Patient, PreferenceProfileRow
from careloop.outreach.claims import Claimed
from careloop.personalize.profile import QuietHours, StatedPreferences


def quiet_hours_end(now: datetime, *, timezone: str, quiet: QuietHours) -> datetime | None:
    """When the quiet hours ``now`` falls in end (UTC), or None when ``now`` is not quiet.

    Built in the patient's zone; a daylight-saving jump can move the local end, so the
    answer is checked and walked forward a minute at a time until it is really outside.
    """
    zone = ZoneInfo(timezone)
    local = ensure_utc(now).astimezone(zone)
    minute = local.hour * 60 + local.minute
    if not quiet.contains(minute):
        return None
    day = local.date()
    if minute >= quiet.end_minute:
        day += timedelta(days=1)
    end = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=quiet.end_minute)
    moment = ensure_utc(end)
    for _ in range(180):
        there = moment.astimezone(zone)
        if not quiet.contains(there.hour * 60 + there.minute):
            return moment
        moment += timedelta(minutes=1)
    return moment


def quiet_now(
    session: Session, *, messages: Sequence[Claimed], now: datetime
) -> dict[int, datetime]:
    """Messages that may not go at ``now`` because it is quiet where the patient is, with
    the moment they may."""
    checked = [
        m for m in messages if m.recipient_kind == "patient" and not m.extra.get("transactional")
    ]
    if not checked:
        return {}
    ids = sorted({m.patient_id for m in checked})
    placed = session.execute(
        select(Patient.id, Patient.timezone, PreferenceProfileRow.stated)
        .outerjoin(PreferenceProfileRow, PreferenceProfileRow.patient_id == Patient.id)
        .where(any_of(session, Patient.id, ids))
    ).tuples()
    # Patients share zones and quiet hours: each pair's answer is worked out once.
    ends: dict[tuple[str, QuietHours], datetime | None] = {}
    by_patient: dict[str, datetime | None] = {}
    for patient_id, zone, stated in placed:
        if zone is None:
            continue  # no zone to place the patient in: nothing to check against
        quiet = StatedPreferences.from_dict(stated or {}).quiet_hours or QuietHours()
        if (zone, quiet) not in ends:
            ends[(zone, quiet)] = quiet_hours_end(now, timezone=zone, quiet=quiet)
        by_patient[patient_id] = ends[(zone, quiet)]
    out: dict[int, datetime] = {}
    for message in checked:
        end = by_patient.get(message.patient_id)
        if end is not None:
            out[message.id] = end
    return out
