"""A state change as the loop records it: the row changes, an event says so, the audit trail
says who did it for which patient, in that order and in the caller's transaction.

The care team's transitions (worklist items acknowledged, assigned, resolved; plan adjustments
approved or rejected) wrote these three steps by hand each time; one helper keeps the order
(flush first, so the event and the audit record see the new state and its id) and the fields
(the event's actor is the audit's principal) the same everywhere.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.clock import Clock
from careloop.events import EventKind, record_event
from careloop.security.principal import Principal


def record_change(
    session: Session,
    *,
    clock: Clock,
    principal: Principal,
    event: EventKind,
    subject: tuple[str, object],
    resource: str,
    purpose: Purpose,
    patient_id: str | None = None,
    program: str | None = None,
    payload: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    action: AuditAction = AuditAction.UPDATE,
) -> None:
    """Flush the changed rows, append ``event`` about ``subject`` (type, id), audit ``resource``."""
    session.flush()
    subject_type, subject_id = subject
    record_event(
        session,
        kind=event,
        clock=clock,
        actor=principal.actor,
        patient_id=patient_id,
        subject_type=subject_type,
        subject_id=str(subject_id),
        program=program,
        payload=payload,
    )
    Auditor(session, clock, principal, purpose)(action, resource, [patient_id], detail=detail)
