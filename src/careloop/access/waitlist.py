"""Waitlist back-fill: a slot freed by a cancellation goes to the patients waiting for one.

Waiting patients are ranked by clinical priority (higher first), then by no-show risk (lower
first: a freed slot is scarce, give it to who will come), then by how long they have waited.
The top :data:`FANOUT` who fit the slot (the finder's rules: their day, their caregiver, their
transport) get a one-choice offer by text; the first to answer books it (the booking's unique
slot lock decides), and :func:`tell_the_others` tells the rest it went.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.access.finder import rank_offers
from careloop.access.offers import drop_unsent
from careloop.access.patientday import patient_day
from careloop.access.sending import queue_offer, request_about
from careloop.access.slots import free_slots
from careloop.clock import Clock
from careloop.errors import InvalidInput, NotFound
from careloop.fhirdata import dates
from careloop.models import AccessOffer, WaitlistEntry
from careloop.records.resources import get_resource
from careloop.records.service import get_patient
from careloop.settings import Settings

FANOUT = 3


def add_to_waitlist(
    session: Session,
    *,
    patient_id: str,
    now: datetime,
    service: str | None = None,
    priority: int = 0,
    noshow_risk: float | None = None,
) -> WaitlistEntry:
    """Put a patient on the waitlist (``priority`` 0-9, higher is more urgent)."""
    get_patient(session, patient_id)
    if not 0 <= priority <= 9:
        raise InvalidInput("priority must be between 0 and 9", field="priority")
    if noshow_risk is not None and not 0 <= noshow_risk <= 1:
        raise InvalidInput("no-show risk must be between 0 and 1", field="noshow_risk")
    entry = WaitlistEntry(
        patient_id=patient_id,
        service=service,
        priority=priority,
        noshow_risk=noshow_risk,
        state="waiting",
        created_at=now,
        updated_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def _ranked(session: Session) -> list[WaitlistEntry]:
    entries = session.scalars(select(WaitlistEntry).where(WaitlistEntry.state == "waiting"))
    return sorted(
        entries,
        key=lambda e: (
            -e.priority,
            e.noshow_risk if e.noshow_risk is not None else 0.5,
            e.created_at,
            e.id,
        ),
    )


def backfill(session: Session, *, slot_id: str, clock: Clock, settings: Settings) -> list[str]:
    """Offer the freed slot to the best-ranked waiting patients who fit it; their ids."""
    now = clock.now()
    slot = get_resource(session, resource_type="Slot", fhir_id=slot_id)
    if slot is None:
        raise NotFound("no such slot")
    start = dates.start(slot["start"])
    candidates = [
        s
        for s in free_slots(session, start=start, end=start.replace(microsecond=1))
        if s.slot_id == slot_id
    ]
    if not candidates:
        return []
    offered = []
    for entry in _ranked(session):
        if entry.service is not None and entry.service not in candidates[0].services:
            continue
        day = patient_day(session, patient_id=entry.patient_id, now=now)
        fits = rank_offers(candidates, day, now=now, limit=1)
        if not fits:
            continue
        # The one path of a texted offer: the offer remembers its message (the console shows
        # it sent, a later offer drops it unsent) and counts in the report's conversion.
        sent = queue_offer(
            session,
            offers=fits,
            patient_id=entry.patient_id,
            message="slot_offer",
            now=now,
            clock=clock,
            settings=settings,
            kind="backfill",
        )
        entry.state, entry.offer_id, entry.updated_at = "offered", sent.offer_id, now
        offered.append(entry.patient_id)
        if len(offered) == FANOUT:
            break
    return offered


def tell_the_others(session: Session, *, clock: Clock, settings: Settings) -> list[str]:
    """Back-fill offers whose slot was booked by someone else: closed, and the patient told."""
    now = clock.now()
    told = []
    for entry in session.scalars(select(WaitlistEntry).where(WaitlistEntry.state == "offered")):
        offer = session.get(AccessOffer, entry.offer_id) if entry.offer_id else None
        if offer is None:
            continue
        if offer.state == "booked":
            entry.state, entry.updated_at = "booked", now
            continue
        slot_id = offer.choices[0]["slot"] if offer.choices else None
        still_free = bool(slot_id) and any(
            s.slot_id == slot_id
            for s in free_slots(
                session,
                start=datetime.fromisoformat(offer.choices[0]["start"]),
                end=datetime.fromisoformat(offer.choices[0]["end"]),
            )
        )
        if still_free and offer.state == "open" and offer.expires_at > now:
            continue
        offer.state = "gone" if offer.state == "open" else offer.state
        entry.state, entry.offer_id, entry.updated_at = "waiting", None, now
        if drop_unsent(session, [offer.outbox_id], now=now):
            continue  # the offer never reached the patient: nothing was taken from them
        request_about(
            session,
            patient_id=entry.patient_id,
            message="slot_gone",
            subject_id=offer.id,
            now=now,
            clock=clock,
            settings=settings,
        )
        told.append(entry.patient_id)
    session.flush()
    return told
