"""A caregiver's STOP, kept per phone number: :func:`record_number_opt_out`,
:func:`stopped_numbers`.

A patient's STOP denies the patient's own consent (:mod:`careloop.governance.consent`). A
caregiver's STOP is the caregiver's choice about their own phone, not the patient's: texts
and automated calls to that number stop, for every patient the caregiver cares for, while
the patient is still texted. CTIA's handbook has a STOP stop messages *to the number that
sent it* from the program; the FCC's 2024 TCPA order has a revocation cover robocalls and
robotexts alike, so calls to the number stop too. careloop's SMS senders are one program
(one clinic), so a STOP to any of them stops all of them. Rows are never updated: the
latest row of a number decides, and the history says who and when.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.clock import ensure_utc
from careloop.db import any_of
from careloop.governance.consent import ConsentSource, ConsentStatus
from careloop.models import ConsentRecord, NumberOptOut
from careloop.records.contacts_phone import PHONE_SYSTEMS, to_e164


def canonical_number(address: str) -> str:
    """The number as the outbox addresses it (E.164); an unreadable one as it came."""
    return to_e164(address) or address.strip()


def record_number_opt_out(
    session: Session,
    *,
    address: str,
    stopped: bool,
    sender: str | None,
    actor: str,
    now: datetime,
    source: str = str(ConsentSource.SMS_KEYWORD),
) -> NumberOptOut:
    """Append a STOP (``stopped``) or a START for the number ``address``."""
    row = NumberOptOut(
        address=canonical_number(address),
        status=str(ConsentStatus.DENIED if stopped else ConsentStatus.GRANTED),
        source=str(ConsentSource(source)),
        sender=sender,
        recorded_at=ensure_utc(now),
        recorded_by=actor[:200],
    )
    session.add(row)
    session.flush()
    return row


def latest_changes(session: Session, addresses: Collection[str]) -> dict[str, NumberOptOut]:
    """The latest STOP or START of each of ``addresses`` that has one."""
    if not addresses:
        return {}
    latest: dict[str, NumberOptOut] = {}
    rows = session.scalars(
        select(NumberOptOut)
        .where(any_of(session, NumberOptOut.address, sorted(set(addresses))))
        .order_by(NumberOptOut.recorded_at, NumberOptOut.id)
    )
    for row in rows:
        latest[row.address] = row
    return latest


def stopped_numbers(session: Session, addresses: Collection[str]) -> set[str]:
    """Of ``addresses`` (E.164, as the outbox holds them), those whose latest word was STOP."""
    return set(stops_of(session, addresses))


def stops_of(session: Session, addresses: Collection[str]) -> dict[str, datetime]:
    """Of ``addresses``, those whose latest word was STOP, with when it was said."""
    return {
        address: ensure_utc(row.recorded_at)
        for address, row in latest_changes(session, addresses).items()
        if row.status == ConsentStatus.DENIED
    }


def latest_grants(
    session: Session, wanted: Collection[tuple[str, str]]
) -> dict[tuple[str, str], datetime]:
    """Per ``(patient id, channel)`` of ``wanted``, the latest consent the patient granted that
    covers the channel (any purpose): a patient's own word, given after a STOP from their
    number, is what their own messages follow."""
    if not wanted:
        return {}
    rows = session.execute(
        select(ConsentRecord.patient_id, ConsentRecord.channel, func.max(ConsentRecord.recorded_at))
        .where(
            any_of(session, ConsentRecord.patient_id, sorted({p for p, _ in wanted})),
            ConsentRecord.status == str(ConsentStatus.GRANTED),
        )
        .group_by(ConsentRecord.patient_id, ConsentRecord.channel)
    ).all()
    latest: dict[tuple[str, str], datetime] = {}
    for patient_id, channel, at in rows:
        for pid, wanted_channel in wanted:
            if pid == patient_id and channel in (wanted_channel, "*"):
                key = (pid, wanted_channel)
                latest[key] = max(ensure_utc(at), latest.get(key, ensure_utc(at)))
    return latest


def caregiver_stops(
    session: Session, caregivers: Iterable[tuple[str, Iterable[Mapping[str, Any]]]]
) -> dict[str, datetime]:
    """Per caregiver id (with its contact points), when a number of theirs replied STOP, for
    those whose latest word on it still is STOP."""
    phones = {
        cid: [
            canonical_number(str(p.get("value") or ""))
            for p in points
            if p.get("system") in PHONE_SYSTEMS
        ]
        for cid, points in caregivers
    }
    latest = latest_changes(session, {n for numbers in phones.values() for n in numbers})
    stops: dict[str, datetime] = {}
    for cid, numbers in phones.items():
        when = [
            latest[n].recorded_at
            for n in numbers
            if n in latest and latest[n].status == ConsentStatus.DENIED
        ]
        if when:
            stops[cid] = max(when)
    return stops
