"""What the console's appointments page shows: upcoming bookings, offers in flight, rides and
the waitlist, each a list of plain dicts (ids and times only; the page links to the patient)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.models import AccessBooking, AccessOffer, AccessRide, WaitlistEntry

LIMIT = 200


@dataclass(frozen=True)
class Board:
    appointments: list[dict[str, Any]] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)
    rides: list[dict[str, Any]] = field(default_factory=list)
    waitlist: list[dict[str, Any]] = field(default_factory=list)

    @property
    def patient_ids(self) -> list[str]:
        rows = [*self.appointments, *self.offers, *self.rides, *self.waitlist]
        return sorted({str(r["patient_id"]) for r in rows})


def board(session: Session, *, now: datetime) -> Board:
    """The four lists, soonest first."""
    appointments = [
        {
            "booking": b.id,
            "patient_id": b.patient_id,
            "slot": b.slot_id,
            "start": b.start,
            "state": b.state,
            "mode": b.mode,
            "ride": b.ride,
            "channel": b.channel,
            "held_until": b.held_until,
        }
        for b in session.scalars(
            select(AccessBooking)
            .where(AccessBooking.state.in_(("held", "booked")), AccessBooking.start >= now)
            .order_by(AccessBooking.start)
            .limit(LIMIT)
        )
    ]
    offers = [
        {
            "offer": o.id,
            "patient_id": o.patient_id,
            "kind": o.kind,
            "choices": len(o.choices),
            "first": o.choices[0]["start"] if o.choices else None,
            "created_at": o.created_at,
            "expires_at": o.expires_at,
            "sent": o.outbox_id is not None,
        }
        for o in session.scalars(
            select(AccessOffer)
            .where(AccessOffer.state == "open", AccessOffer.expires_at > now)
            .order_by(AccessOffer.expires_at)
            .limit(LIMIT)
        )
    ]
    rides = [
        {
            "ride": r.id,
            "patient_id": r.patient_id,
            "booking": r.booking_id,
            "status": r.status,
            "provider": r.provider,
            "pickup_at": r.pickup_at,
        }
        for r in session.scalars(
            select(AccessRide)
            .where(AccessRide.status.not_in(("completed", "cancelled")))
            .order_by(AccessRide.pickup_at)
            .limit(LIMIT)
        )
    ]
    waitlist = [
        {
            "entry": w.id,
            "patient_id": w.patient_id,
            "service": w.service,
            "priority": w.priority,
            "noshow_risk": w.noshow_risk,
            "state": w.state,
            "since": w.created_at,
        }
        for w in session.scalars(
            select(WaitlistEntry)
            .where(WaitlistEntry.state.in_(("waiting", "offered")))
            .order_by(WaitlistEntry.priority.desc(), WaitlistEntry.created_at)
            .limit(LIMIT)
        )
    ]
    return Board(appointments, offers, rides, waitlist)
