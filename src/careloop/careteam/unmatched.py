"""Messages from senders who match no patient: a low-priority task, until someone links it.

A text from a number careloop does not know (a new phone, a relative, a wrong number) used
to be stored and reach nobody. It now puts one routine task per sender on the
care-coordination worklist; repeats from the same sender add to it. The task holds no
number and no message text (PHI stays in the stored reply, found by its provider id); its
key is a keyed digest of the address. ``link_patient`` attaches the task to the patient a
person identified, with an audit record and an ``alert_assigned`` event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import Purpose
from careloop.careteam.alerts import ItemKind, ItemStatus, get_item
from careloop.changes import record_change
from careloop.clock import Clock
from careloop.crypto import keyed_digest
from careloop.errors import Conflict, InvalidInput
from careloop.events import EventKind, record_event
from careloop.feedback.ruleset import DEFAULT_SLA, Severity
from careloop.models import WorklistItem
from careloop.records.contacts import normalise
from careloop.records.service import get_patient
from careloop.security.principal import Principal

RULE_ID = "unknown-sender"
URGENT_TEAM = "oncology-nursing"
"""Who reads an unknown sender's red-flag words (the urgent symptom alerts' team)."""
_DIGEST_KEY = b"careloop:unknown-sender"


def _sender_key(channel: str, sender: str) -> str:
    canonical = normalise("phone" if channel in ("sms", "voice") else channel, sender) or sender
    return f"{RULE_ID}|{keyed_digest(_DIGEST_KEY, canonical)[:32]}"


def task_for_unknown_sender(
    session: Session,
    *,
    channel: str,
    sender: str,
    reply_ref: str,
    clock: Clock,
    symptoms: Sequence[str] = (),
) -> WorklistItem:
    """The open task for this sender (created, or counted once more). Words naming a red-flag
    symptom (``symptoms``, names only) make it urgent, due within the hour, for a nurse."""
    now = clock.now()
    key = _sender_key(channel, sender)
    item = session.scalar(select(WorklistItem).where(WorklistItem.open_key == key))
    named = ", ".join(s.replace("-", " ") for s in symptoms)
    summary = f"A {channel} message (reply {reply_ref[:80]})."
    finding = {
        "at": now.isoformat(),
        "summary": summary + (f" Red-flag words: {named}." if named else ""),
    }
    severity = Severity.URGENT if symptoms else Severity.ROUTINE
    title = (
        f"Message from a number that matches no patient mentions {named} - read now"
        if symptoms
        else "Message from a number that matches no patient: read it and link it"
    )
    if item is not None:
        item.occurrences += 1
        item.last_seen_at = now
        item.findings = [*item.findings, finding][-20:]
        if symptoms and item.severity != str(severity):
            item.severity, item.priority, item.title = str(severity), severity.rank, title
            item.team = URGENT_TEAM
            item.due_at = min(item.due_at, now + DEFAULT_SLA[severity])
        session.flush()
        return item
    item = WorklistItem(
        kind=str(ItemKind.TASK),
        patient_id=None,
        rule_id=RULE_ID,
        open_key=key,
        title=title,
        severity=str(severity),
        priority=severity.rank,
        status=str(ItemStatus.OPEN),
        program=None,
        team=URGENT_TEAM if symptoms else "care-coordination",
        occurrences=1,
        suppressed=0,
        escalation_level=0,
        findings=[finding],
        evidence=["careloop policy: no inbound message reaches nobody (issue 14)"],
        raised_at=now,
        last_seen_at=now,
        due_at=now + DEFAULT_SLA[severity],
    )
    session.add(item)
    session.flush()
    record_event(
        session,
        kind=EventKind.TASK_CREATED,
        clock=clock,
        actor="system:outreach",
        patient_id=None,
        subject_type="worklist_item",
        subject_id=str(item.id),
        payload={"rule": RULE_ID, "channel": channel},
    )
    return item


def link_patient(
    session: Session, item_id: int, *, patient_id: str, clock: Clock, principal: Principal
) -> WorklistItem:
    """Attach an unknown sender's task to the patient a person identified."""
    item = get_item(session, item_id, for_update=True)
    if item.patient_id is not None:
        raise Conflict("the item already belongs to a patient")
    if item.status == ItemStatus.RESOLVED:
        raise Conflict("cannot link a resolved item")
    if not patient_id.strip():
        raise InvalidInput("a patient is required", field="patient")
    get_patient(session, patient_id)  # NotFound for an unknown patient
    item.patient_id = patient_id
    item.open_key = None  # the sender's slot is free: their next message is a new task
    item.due_at = min(item.due_at, clock.now() + timedelta(hours=72))
    record_change(
        session,
        clock=clock,
        principal=principal,
        event=EventKind.ALERT_ASSIGNED,
        subject=("worklist_item", item.id),
        resource="worklist-item:link-patient",
        purpose=Purpose.TREATMENT,
        patient_id=patient_id,
        payload={"linked": True, "rule": item.rule_id},
        detail={"item": item.id},
    )
    return item
