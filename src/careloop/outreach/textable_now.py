"""The last look at a queued text's number before it goes: is it still one the record says a
text can reach?

A text is addressed from the record when it is queued; it may wait hours (quiet hours, a busy
queue) while the EHR sends the record again. By then the number may be called old, home or a
landline, or be gone from the record altogether (a later import without it): it may be
someone else's now. The same holds for a caregiver's number (the caregiver's own contact
points). The rule is the records domain's one (``records.contacts_phone.textable``); a
number no longer listed is refused too. One read per group: the patients' contact points
for texts to patients, each text's caregiver's for texts to caregivers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from careloop.db import any_of
from careloop.models import Caregiver, OutboxMessage
from careloop.records.contacts_phone import PHONE_SYSTEMS, textable, to_e164
from careloop.records.service import contact_snapshot


class QueuedText(Protocol):
    """What the check reads of a claimed message (``outreach.claims.Claimed``)."""

    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def recipient_kind(self) -> str: ...
    @property
    def patient_id(self) -> str: ...
    @property
    def to_address(self) -> str: ...
    @property
    def extra(self) -> dict[str, Any]: ...


def untextable_now(
    session: Session, messages: Sequence[QueuedText], *, skip: Collection[int] = ()
) -> list[int]:
    """Ids of the texts (to patients or caregivers) whose number the record no longer lists as
    one a text can reach. ``skip``: messages already refused for another reason. A STOP/HELP
    confirmation (``transactional``) answers the number that wrote, listed or not."""
    texts = [
        m
        for m in messages
        if m.channel in ("sms", "voice") and not m.extra.get("transactional") and m.id not in skip
    ]
    to_patients = [m for m in texts if m.recipient_kind == "patient"]
    to_caregivers = [m for m in texts if m.recipient_kind == "caregiver"]
    points: dict[str, list[Mapping[str, Any]]] = {}
    if to_patients:
        snapshots = contact_snapshot(
            session, patient_ids=sorted({m.patient_id for m in to_patients})
        )
        points.update({pid: list(snap[1]) for pid, snap in snapshots.items()})
    carers: dict[int, list[Mapping[str, Any]]] = {}
    if to_caregivers:
        carers = caregiver_points(session, message_ids=[m.id for m in to_caregivers])
    return [
        m.id
        for m in texts
        if not reaches(
            points.get(m.patient_id, []) if m.recipient_kind == "patient" else carers.get(m.id, []),
            m.to_address,
            rule=textable if m.channel == "sms" else callable_now,
        )
    ]


def caregiver_points(
    session: Session, *, message_ids: Collection[int]
) -> dict[int, list[Mapping[str, Any]]]:
    """Per message to a caregiver, its caregiver's contact points, in one query (the claim
    does not carry the caregiver, its row does). A row that names no caregiver is matched
    among all the patient's caregivers; a caregiver no longer on the record has none."""
    named = or_(
        Caregiver.id == OutboxMessage.caregiver_id,
        and_(
            OutboxMessage.caregiver_id.is_(None), Caregiver.patient_id == OutboxMessage.patient_id
        ),
    )
    rows = session.execute(
        select(OutboxMessage.id, Caregiver.contact_points)
        .join(Caregiver, named)
        .where(any_of(session, OutboxMessage.id, sorted(message_ids)))
    ).all()
    found: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for message_id, contact_points in rows:
        found[message_id].extend(contact_points or [])
    return found


def callable_now(point: Mapping[str, Any]) -> bool:
    """A call may still ring this number: a readable phone the record does not call old (a
    home or work line takes calls; a number dropped from the record is not listed at all)."""
    return (
        point.get("system") in PHONE_SYSTEMS
        and point.get("dialable") is not False
        and point.get("use") != "old"
    )


def reaches(
    points: Sequence[Mapping[str, Any]],
    address: str,
    *,
    rule: Callable[[Mapping[str, Any]], bool] = textable,
) -> bool:
    """Whether ``address`` is listed among ``points`` as a number a text can reach. Outreach
    addressed it from the record's own (E.164) value, so it is compared as stored; a row
    queued before numbers were stored as E.164 is compared in that form."""
    listed = [p for p in points if p.get("value") == address]
    if not listed:
        number = to_e164(address)
        listed = [p for p in points if number is not None and p.get("value") == number]
    return any(rule(p) for p in listed)
