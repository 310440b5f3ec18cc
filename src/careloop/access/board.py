"""What the console's appointments page shows: upcoming bookings, offers in flight, rides and
the waitlist, each a list of plain dicts, with the patients' names and time zones (the page
links to each and shows times in the patient's zone too) and each visit's service and place
(``directory.where_label``), never a bare slot id. Each list is paged (:data:`PAGE_SIZE` rows
a page, with its total): a page of 200 rows per list, each audited, rendered and labelled,
was over a second at population scale."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from careloop.access.directory import visit_labels
from careloop.models import AccessBooking, AccessOffer, AccessRide, Patient, WaitlistEntry

PAGE_SIZE = 50


@dataclass(frozen=True)
class Board:
    appointments: list[dict[str, Any]] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)
    rides: list[dict[str, Any]] = field(default_factory=list)
    waitlist: list[dict[str, Any]] = field(default_factory=list)

    names: dict[str, str] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)
    """Booking or offer id → "service · place" of the visit or the offer's first choice."""
    totals: dict[str, int] = field(default_factory=dict)
    """List name → its rows on every page."""
    page: int = 0

    @property
    def more(self) -> bool:
        """Whether any list goes on past this page."""
        return any((self.page + 1) * PAGE_SIZE < total for total in self.totals.values())

    @property
    def patient_ids(self) -> list[str]:
        rows = [*self.appointments, *self.offers, *self.rides, *self.waitlist]
        return sorted({str(r["patient_id"]) for r in rows})


# A list's column → the row's attribute it shows.
_BOOKING_COLUMNS = {
    "booking": "id", "patient_id": "patient_id", "slot": "slot_id", "start": "start",
    "state": "state", "mode": "mode", "ride": "ride", "channel": "channel",
    "held_until": "held_until",
}  # fmt: skip
_OFFER_COLUMNS = {
    "offer": "id", "patient_id": "patient_id", "kind": "kind", "choices": "choices",
    "created_at": "created_at", "expires_at": "expires_at", "outbox_id": "outbox_id",
}  # fmt: skip
_RIDE_COLUMNS = {
    "ride": "id", "patient_id": "patient_id", "booking": "booking_id", "status": "status",
    "provider": "provider", "pickup_at": "pickup_at",
}  # fmt: skip
_WAITLIST_COLUMNS = {
    "entry": "id", "patient_id": "patient_id", "service": "service", "priority": "priority",
    "noshow_risk": "noshow_risk", "state": "state", "since": "created_at",
}  # fmt: skip


def _rows(
    session: Session, query: Select[Any], columns: dict[str, str], *, page: int
) -> tuple[list[dict[str, Any]], int]:
    """Page ``page`` of ``query``'s rows as dicts of ``columns``, and the rows on all pages
    (counted in the same statement, by a subquery the database runs once: a window count
    made it read and sort every row, offers' JSON choices included, before the page's 50,
    while the partial indexes below give the page in order)."""
    total = select(func.count()).select_from(query.order_by(None).subquery()).scalar_subquery()
    found = session.execute(
        query.add_columns(total).limit(PAGE_SIZE).offset(page * PAGE_SIZE)
    ).all()
    rows = [{column: getattr(row, attribute) for column, attribute in columns.items()}
            for row, _ in found]  # fmt: skip
    return rows, int(found[0][1]) if found else 0


def _lists(now: datetime) -> dict[str, tuple[Select[Any], dict[str, str]]]:
    """List name → its query (soonest first) and its columns; the board pages each alike."""
    return {
        "appointments": (
            select(AccessBooking)
            .where(AccessBooking.state.in_(("held", "booked")), AccessBooking.start >= now)
            .order_by(AccessBooking.start, AccessBooking.id),
            _BOOKING_COLUMNS,
        ),
        "offers": (
            select(AccessOffer)
            .where(AccessOffer.state == "open", AccessOffer.expires_at > now)
            .order_by(AccessOffer.expires_at, AccessOffer.id),
            _OFFER_COLUMNS,
        ),
        "rides": (
            select(AccessRide)
            .where(AccessRide.status.not_in(("completed", "cancelled")))
            .order_by(AccessRide.pickup_at, AccessRide.id),
            _RIDE_COLUMNS,
        ),
        "waitlist": (
            select(WaitlistEntry)
            .where(WaitlistEntry.state.in_(("waiting", "offered")))
            .order_by(WaitlistEntry.priority.desc(), WaitlistEntry.created_at, WaitlistEntry.id),
            _WAITLIST_COLUMNS,
        ),
    }


def board(session: Session, *, now: datetime, page: int = 0) -> Board:
    """Page ``page`` of the four lists, soonest first."""
    paged = {
        name: _rows(session, query, columns, page=page)
        for name, (query, columns) in _lists(now).items()
    }
    rows = {name: found for name, (found, _) in paged.items()}
    offers = [
        {
            "offer": o["offer"],
            "patient_id": o["patient_id"],
            "kind": o["kind"],
            "choices": len(o["choices"]),
            "first": _moment(o["choices"][0].get("start")) if o["choices"] else None,
            "first_slot": str(o["choices"][0].get("slot")) if o["choices"] else None,
            "first_mode": str(o["choices"][0].get("mode")) if o["choices"] else None,
            "created_at": o["created_at"],
            "expires_at": o["expires_at"],
            "sent": o["outbox_id"] is not None,
        }
        for o in rows["offers"]
    ]
    totals = {name: total for name, (_, total) in paged.items()}
    appointments = rows["appointments"]
    shown = Board(appointments, offers, rows["rides"], rows["waitlist"], totals=totals, page=page)
    visits = [(str(a["booking"]), str(a["slot"]), str(a["mode"])) for a in appointments]
    visits += [
        (str(o["offer"]), str(o["first_slot"]), str(o["first_mode"]))
        for o in offers
        if o["first_slot"]
    ]
    names, zones = _names(session, shown.patient_ids)
    return replace(shown, names=names, zones=zones, places=visit_labels(session, visits))


def booking_places(session: Session, appointment_ids: list[str]) -> dict[str, str]:
    """Appointment id → "service · place" for the appointments careloop booked (a booking's
    Appointment has the booking's id), for pages that list a patient's appointments."""
    if not appointment_ids:
        return {}
    rows = session.execute(
        select(AccessBooking.id, AccessBooking.slot_id, AccessBooking.mode).where(
            AccessBooking.id.in_(appointment_ids)
        )
    ).all()
    return visit_labels(session, [(booking, slot, mode) for booking, slot, mode in rows])


def _moment(value: object) -> datetime | None:
    """An offer choice's start (stored as ISO text) as a time the page can label."""
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _names(session: Session, patient_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """ "Given Family" per patient (a nurse knows patients by name, not by id) and their zone."""
    rows = session.execute(
        select(Patient.id, Patient.given_name, Patient.family_name, Patient.timezone).where(
            Patient.id.in_(patient_ids)
        )
    ).all()
    names = {
        pid: " ".join(p for p in (given, family) if p) or pid for pid, given, family, _ in rows
    }
    return names, {pid: zone for pid, _, _, zone in rows if zone}
