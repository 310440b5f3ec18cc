"""The visit's Appointment was rewritten: its reminders follow who comes along now.

A journey's enrollment for a visit keeps the fields it was enrolled with (``escorts``: who
gets the caregiver copy, ``visit``: in person or by ride), and copies already queued go out as
queued. When access rewrites the Appointment because the caregiver who was to come along no
longer can (``access.escorts``), :func:`follow_rewritten_visit` brings both up to date in the
caller's transaction: the enrollment takes the Appointment's visit fields, so the next step
copies whoever comes now (or nobody, or says the ride), and every copy still queued to a
caregiver the Appointment no longer names dies with ``no-longer-escorting``, the reason staff
read on the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from careloop.fhirdata.visits import visit_facts
from careloop.models import Enrollment, OutboxMessage
from careloop.outreach.eligibility import visit_fields
from careloop.outreach.states import DeadReason, OutboxState

_UNSENT = (str(OutboxState.QUEUED), str(OutboxState.FAILED_TRANSIENT))


def follow_rewritten_visit(
    session: Session,
    *,
    appointment: Mapping[str, Any],
    patient_id: str,
    notice_keys: Sequence[str] = (),
    now: datetime,
) -> int:
    """The journey of ``appointment``'s visit takes its rewritten visit fields, and the
    unsent caregiver messages about it (the journey's copies, and the notices keyed
    ``notice_keys``) to caregivers it no longer names as coming along die
    (``no-longer-escorting``); the number of messages dropped."""
    episode = f"Appointment/{appointment['id']}"
    enrollments = list(
        session.scalars(
            select(Enrollment).where(
                Enrollment.patient_id == patient_id, Enrollment.episode == episode
            )
        )
    )
    fresh = visit_fields(appointment)
    for enrollment in enrollments:
        kept = {k: v for k, v in (enrollment.fields or {}).items() if k != "pickup_at"}
        enrollment.fields = {**kept, **fresh}
    about_visit = [OutboxMessage.enrollment_id.in_([e.id for e in enrollments])]
    if notice_keys:
        about_visit.append(OutboxMessage.idempotency_key.in_(list(notice_keys)))
    coming = list(visit_facts(appointment).escorts or ())
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.patient_id == patient_id,
            OutboxMessage.recipient_kind == "caregiver",
            OutboxMessage.state.in_(_UNSENT),
            OutboxMessage.caregiver_id.not_in(coming),
            or_(*about_visit),
        )
        .values(
            state=str(OutboxState.DEAD),
            dead_reason=str(DeadReason.NO_LONGER_ESCORTING),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
