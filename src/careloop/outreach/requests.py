"""One message a workflow asks outreach to send: :func:`request_message`.

The care team asks for a message (a nudge when readings stop, the explanation of an approved
plan change) by calling this function, never by leaving an event for someone to notice. The
request goes through the same path as a journey's step: the engine chooses channel, send
window, reading level and tone among what consent, contact points and quiet hours allow
(the decision is logged with its propensity), the words come from the approved content
library in the patient's language, and the message is queued in the outbox in the caller's
transaction; the worker sends it after commit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.content.compose import RenderedMessage
from careloop.errors import CareloopError
from careloop.models import OutboxMessage
from careloop.outreach.audience import (
    Recipient,
    build_snapshots,
    caregiver_recipients,
    recipient_fields,
)
from careloop.outreach.config import default_sender, outreach_settings
from careloop.outreach.decided import decide_for, decided_notice, render_decided
from careloop.outreach.outbox import enqueue_many
from careloop.outreach.states import PENDING_STATES, OutboxState
from careloop.outreach.withheld import with_portal_copy
from careloop.personalize.actions import ActionSpace
from careloop.personalize.decision_log import record_decision
from careloop.personalize.snapshot import EngineConfig, PatientSnapshot, ProgramSpec
from careloop.records.service import get_patient
from careloop.settings import Settings

log = logging.getLogger("careloop.outreach")

REQUEST_ENGINE = EngineConfig(weekly_budget=7)
"""A requested message is few and wanted by a clinician, so the journeys' budget of 3 contacts
a week does not hold it back; a cap of 7 still keeps a burst of requests from flooding a
patient."""


@dataclass(frozen=True, slots=True)
class RequestedMessage:
    """What became of a request: the queued outbox row, or why nothing was queued."""

    outbox_id: int | None
    channel: str | None = None
    language: str | None = None
    due_at: datetime | None = None
    decision_id: str | None = None
    not_queued: str | None = None
    """``blocked: <reasons>`` (the engine found no allowed action), ``no-content``,
    ``no-address``; None when queued (or already queued under the same key)."""


def _seed(key: str, now: datetime) -> int:
    digest = hashlib.sha256(f"request|{key}|{now.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def request_message(
    session: Session,
    *,
    patient_id: str,
    message: str,
    purpose: str,
    key: str,
    now: datetime,
    clock: Clock,
    settings: Settings,
    fields: Mapping[str, object] | None = None,
    program: str | None = None,
    send_window: str | None = None,
    send_windows: tuple[str, ...] | None = None,
    caregiver_id: str | None = None,
    allowed_channels: tuple[str, ...] | None = None,
) -> RequestedMessage:
    """Queue the content library's ``message`` for the patient, once per ``key``.

    ``caregiver_id`` addresses one of the patient's caregivers instead (a copy of a reminder
    for the person who manages the patient's medicines): the engine chooses among the
    caregiver's contact points, under the patient's consent and quiet hours.

    ``purpose`` is the consent purpose the message serves; ``fields`` fill its template on top
    of the clinic's (phone, portal link, care team name); ``key`` makes a re-run a no-op.
    ``send_window`` (e.g. ``"07:30-08:00"``, local time) pins the send time for a message due
    at a moment of the patient's own routine (a dose reminder); quiet hours still apply.
    ``send_windows`` narrows the engine's choice to these (the ones that end before a visit).
    ``allowed_channels`` narrows the channels the engine may choose (a message whose point is a link
    cannot be a phone call).
    """
    idempotency_key = f"request:{key}"
    existing = session.scalar(
        select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
    )
    if existing is not None:
        return RequestedMessage(
            existing.id, existing.channel, existing.language, existing.due_at, existing.decision_id
        )
    own, channels = outreach_settings(settings)
    windows = (send_window,) if send_window else send_windows
    space = ActionSpace(
        **({"send_windows": windows} if windows else {}),
        **({"channels": allowed_channels} if allowed_channels else {}),
    )
    spec = ProgramSpec(name=f"request:{message}", purpose=purpose, action_space=space)
    snapshots, recipients = build_snapshots(
        session,
        patient_ids=[patient_id],
        purpose=purpose,
        now=now,
        budget_period=REQUEST_ENGINE.budget_period,
    )
    if caregiver_id is not None:
        addressed = _to_caregiver(
            session, snapshots, patient_id=patient_id, caregiver_id=caregiver_id, now=now
        )
        if addressed is None:
            return RequestedMessage(None, not_queued="no-address")
        snapshots, recipients[patient_id] = addressed
    batch = decide_for(
        session,
        snapshots=snapshots,
        spec=spec,
        config=REQUEST_ENGINE,
        now=now,
        seed=_seed(key, now),
    )
    decision = batch.decision(0)
    record_decision(session, clock=clock, decision=decision, features=batch.features[0])
    action = decision.action
    if action is None or decision.send_at is None:
        reasons = sorted({str(r.reason) for r in decision.removals})
        return RequestedMessage(
            None, decision_id=decision.decision_id, not_queued=f"blocked: {', '.join(reasons)}"
        )
    recipient = recipients[patient_id]
    address = recipient.addresses.get(action.channel)
    if address is None:
        return RequestedMessage(None, decision_id=decision.decision_id, not_queued="no-address")
    values = recipient_fields(own, recipient) | dict(fields or {})

    def render(channel: str) -> RenderedMessage:
        return render_decided(
            session,
            message=message,
            decision=decision,
            channel=channel,
            fields=values,
            timezone=recipient.timezone,
        )

    try:
        rendered = render(action.channel)
    except CareloopError as exc:
        log.warning("cannot render requested %s: %s", message, exc.__class__.__name__)
        return RequestedMessage(None, decision_id=decision.decision_id, not_queued="no-content")
    notice = decided_notice(
        key=idempotency_key,
        purpose=purpose,
        program=program,
        message=message,
        channel=action.channel,
        address=address,
        sender=default_sender(channels, action.channel),
        rendered=rendered,
        decision=decision,
        recipient=recipient,
        extra=_extra(rendered, key=key, wanted=decision.language),
    )
    queued = with_portal_copy(notice, rendered=rendered, render_portal=lambda: render("portal"))
    if not queued:
        return RequestedMessage(None, decision_id=decision.decision_id, not_queued="no-content")
    rows = enqueue_many(session, messages=queued, now=now)
    row = rows[-1]
    assert row is not None  # the key was free a moment ago, in this transaction
    return RequestedMessage(row.id, row.channel, row.language, row.due_at, decision.decision_id)


def _extra(rendered: RenderedMessage, *, key: str, wanted: str) -> dict[str, object]:
    """What the outbox row keeps about its words, and why they are not in the wanted language."""
    extra: dict[str, object] = {"content_hash": rendered.content_hash, "requested": key}
    note = language_note(rendered, wanted=wanted)
    if note:
        extra["language_note"] = note
    return extra


def language_note(rendered: RenderedMessage, *, wanted: str) -> str | None:
    """Why a message is not in the patient's language (None when it is), for staff to see."""
    if "language_unapproved" in rendered.fallbacks:
        return (
            f"Sent in {rendered.used.language}: the {wanted} text of {rendered.used.message} "
            "is not approved yet (translations wait for human review)."
        )
    if rendered.language_fallback:
        return f"Sent in {rendered.used.language}: the library has no {wanted} text yet."
    return None


def _to_caregiver(
    session: Session,
    snapshots: list[PatientSnapshot],
    *,
    patient_id: str,
    caregiver_id: str,
    now: datetime,
) -> tuple[list[PatientSnapshot], Recipient] | None:
    """The snapshot and recipient for a copy to one caregiver (None: no address for them).

    The copy spends none of the patient's contact budget: it is not a contact of theirs.
    """
    patient = get_patient(session, patient_id)
    for carer in caregiver_recipients(session, patient=patient, now=now, only_available=False):
        if carer.caregiver_id == caregiver_id:
            snapshot = replace(
                snapshots[0], contact_channels=frozenset(carer.addresses), recent_contacts=()
            )
            return [snapshot], carer
    return None


def requested_since(
    session: Session, *, message: str, since: datetime, patient_ids: list[str] | None = None
) -> dict[str, datetime]:
    """When each patient was last sent (or queued) a requested ``message`` since ``since``."""
    query = select(OutboxMessage.patient_id, OutboxMessage.created_at).where(
        OutboxMessage.content_message == message,
        OutboxMessage.idempotency_key.like("request:%"),
        OutboxMessage.created_at >= since,
    )
    if patient_ids is not None:
        query = query.where(OutboxMessage.patient_id.in_(patient_ids))
    out: dict[str, datetime] = {}
    for pid, at in session.execute(query):
        out[pid] = max(at, out.get(pid, at))
    return out


def language_notes(session: Session, *, patient_id: str, limit: int = 5) -> list[tuple[str, str]]:
    """(message, note) of the patient's newest messages not sent in their language.

    Staff must see that a patient who reads Chinese was written to in English, and why.
    """
    rows = session.execute(
        select(OutboxMessage.content_message, OutboxMessage.extra)
        .where(OutboxMessage.patient_id == patient_id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(200)
    )
    notes = [
        (str(message or ""), str(extra["language_note"]))
        for message, extra in rows
        if isinstance(extra, dict) and extra.get("language_note")
    ]
    return notes[:limit]


@dataclass(frozen=True)
class RequestStatus:
    """Where a requested message stands, for telling the patient "sent" or "at 5:00 PM"."""

    channel: str
    due_at: datetime
    sent: bool


def request_status(session: Session, *, key: str) -> RequestStatus | None:
    """The message requested under ``key`` (as :func:`request_message` took it): sent, or
    still waiting for its time; None when nothing was queued (or it will never leave)."""
    row = session.scalar(
        select(OutboxMessage).where(OutboxMessage.idempotency_key == f"request:{key}")
    )
    if row is None or row.state == OutboxState.DEAD:
        return None
    return RequestStatus(row.channel, row.due_at, row.state not in PENDING_STATES)
