"""Access figures for a period: booking conversion per offer, days to the booked visit, no-shows.

Computed from the offers and bookings at the time of asking (nothing stored). The no-show rate
reads the record: a booking's Appointment marked ``noshow`` by the EHR's next export.
"""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.models import AccessBooking, AccessOffer, FhirResource


def access_metrics(session: Session, *, since: datetime, until: datetime) -> dict[str, Any]:
    """Offers made in ``[since, until)`` and what became of them."""
    offers = list(
        session.scalars(
            select(AccessOffer).where(
                AccessOffer.created_at >= since, AccessOffer.created_at < until
            )
        )
    )
    booked_ids = [o.booking_id for o in offers if o.booking_id]
    bookings = {
        b.id: b
        for b in session.scalars(select(AccessBooking).where(AccessBooking.id.in_(booked_ids)))
    }
    days = [
        (bookings[o.booking_id].start - o.created_at).total_seconds() / 86400
        for o in offers
        if o.booking_id in bookings
    ]
    statuses: dict[str, str | None] = {}
    for found in session.execute(
        select(FhirResource.fhir_id, FhirResource.status).where(
            FhirResource.resource_type == "Appointment", FhirResource.fhir_id.in_(booked_ids)
        )
    ):
        statuses[found.fhir_id] = found.status
    past = [b for b in bookings.values() if b.start < until and b.state == "booked"]
    noshows = len([b for b in past if statuses.get(b.id) == "noshow"])
    by_kind: dict[str, dict[str, int]] = {}
    for o in offers:
        row = by_kind.setdefault(o.kind, {"offers": 0, "booked": 0})
        row["offers"] += 1
        row["booked"] += int(o.booking_id is not None)
    return {
        "offers": len(offers),
        "booked": len(bookings),
        "conversion": round(len(bookings) / len(offers), 4) if offers else None,
        "by_kind": by_kind,
        "median_days_offer_to_visit": round(median(days), 2) if days else None,
        "visits_past": len(past),
        "noshow_rate": round(noshows / len(past), 4) if past else None,
    }
