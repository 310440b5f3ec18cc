"""A workflow's notice to one caregiver: :func:`queue_caregiver_notice`.

A journey's caregiver copy repeats the patient's reminder; a workflow sometimes needs to tell
one named caregiver something else (access: "the visit you drive to is booked/cancelled").
Same path as the journey's copies: approved words in the patient's language (minimum
necessary: the library's text carries no diagnosis), by SMS where the caregiver has a number
(else email), timed inside the caregiver's availability and outside quiet hours, queued in
the caller's transaction and sent by the worker after commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.content.service import render_for_sending
from careloop.errors import CareloopError
from careloop.outreach.audience import caregiver_recipients, caregiver_send_time
from careloop.outreach.config import default_sender, outreach_settings
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.records.caregivers import caregivers_of
from careloop.records.service import get_patient
from careloop.settings import Settings


def queue_caregiver_notice(
    session: Session,
    *,
    settings: Settings,
    patient_id: str,
    caregiver_id: str,
    message: str,
    key: str,
    now: datetime,
    fields: Mapping[str, object] | None = None,
    purpose: str = "care-reminders",
) -> int | None:
    """Queue ``message`` for the caregiver once per ``key``; the outbox id, or None when the
    caregiver has no address, no window in the coming week, or the words cannot be rendered."""
    own, channels = outreach_settings(settings)
    patient = get_patient(session, patient_id)
    carers = {c.id: c for c in caregivers_of(session, patient_id=patient_id)}
    recipient = next(
        (
            r
            for r in caregiver_recipients(session, patient=patient, now=now, only_available=False)
            if r.caregiver_id == caregiver_id
        ),
        None,
    )
    if recipient is None or caregiver_id not in carers:
        return None
    at = caregiver_send_time(carers[caregiver_id], zone=patient.timezone, start=now)
    if at is None:
        return None
    channel = "sms" if "sms" in recipient.addresses else next(iter(recipient.addresses))
    try:
        rendered = render_for_sending(
            session,
            message=message,
            language=recipient.language,
            reading_level="standard",
            tone="friendly",
            channel=channel,
            fields={
                "clinic_phone": own.clinic_phone,
                "care_team_name": own.care_team_name,
                # Greet the caregiver by their own name; the patient is named apart.
                "first_name": recipient.own_first_name,
                "patient_first_name": patient.given_name or "",
                **(fields or {}),
            },
            locale=recipient.language.replace("-", "_"),
            timezone=patient.timezone,
            detailed_consent=False,
        )
    except CareloopError:
        return None
    row = enqueue(
        session,
        message=NewMessage(
            idempotency_key=f"{key}:cg:{caregiver_id}",
            patient_id=patient_id,
            purpose=purpose,
            channel=channel,
            to_address=recipient.addresses[channel],
            body=rendered.body,
            subject=rendered.subject,
            html=rendered.html,
            due_at=at,
            sender=default_sender(channels, channel),
            language=rendered.used.language,
            recipient_kind="caregiver",
            caregiver_id=caregiver_id,
            content_message=message,
            content_version_id=rendered.version_id,
            max_attempts=3,
            extra={"content_hash": rendered.content_hash},
        ),
        now=now,
    )
    return None if row is None else row.id
