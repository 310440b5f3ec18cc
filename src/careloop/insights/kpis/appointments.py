"""No-show, cancellation and reschedule rates from FHIR R4 ``Appointment`` resources.

Definitions (each rate names its denominator, since vendors' "no-show rates" rarely do):

* **no-show rate** = ``noshow`` / appointments with a settled outcome (``fulfilled``,
  ``arrived``, ``checked-in``, ``noshow``). ``booked`` appointments are still open and count in
  neither; ``proposed``, ``pending``, ``waitlist`` and ``entered-in-error`` are not bookings.
* **cancellation rate** = ``cancelled`` / all bookings (settled + open + cancelled).
* **advance cancellation** = a cancellation made at least ``advance_hours`` (default 24 h)
  before the start. R4 has no cancellation time: it is read from the R5 cross-version
  extension ``cancellationDate`` when present, else ``meta.lastUpdated`` (the last change of a
  cancelled appointment is its cancellation); otherwise the timing is reported as unknown.
* **rescheduled** = a cancelled (or missed) appointment whose patient has another booking
  created at or after the cancellation (or the missed start) and within
  ``reschedule_within_days`` (default 14). R4 has no "replaced by" link; R5's ``replaces`` is
  honoured through its cross-version extension.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from careloop.errors import InvalidInput
from careloop.fhirdata.bundles import resources_of
from careloop.fhirdata.dates import instant
from careloop.fhirdata.references import target_id

SETTLED = {"fulfilled", "arrived", "checked-in", "noshow"}
OPEN = {"booked"}
NOT_BOOKINGS = {"proposed", "pending", "waitlist", "entered-in-error"}
CANCELLATION_DATE_EXT = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.cancellationDate"
)
REPLACES_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.replaces"


@dataclass(frozen=True, slots=True)
class _Booking:
    id: str | None
    patient: str | None
    status: str
    start: datetime | None
    created: datetime | None
    cancelled_at: datetime | None
    replaces: set[str]


@dataclass(frozen=True, slots=True)
class AppointmentKpis:
    """Counts and rates; a rate is ``None`` when its denominator is zero."""

    bookings: int
    settled: int
    open: int
    noshows: int
    cancelled: int
    advance_cancellations: int
    late_cancellations: int
    cancellation_timing_unknown: int
    rescheduled: int
    skipped: int

    @property
    def noshow_rate(self) -> float | None:
        return self.noshows / self.settled if self.settled else None

    @property
    def cancellation_rate(self) -> float | None:
        return self.cancelled / self.bookings if self.bookings else None

    @property
    def advance_cancellation_rate(self) -> float | None:
        return self.advance_cancellations / self.bookings if self.bookings else None

    @property
    def reschedule_rate(self) -> float | None:
        """Rescheduled among cancelled or missed bookings."""
        lost = self.cancelled + self.noshows
        return self.rescheduled / lost if lost else None


def _extension(resource: Mapping[str, Any], url: str) -> list[Mapping[str, Any]]:
    return [
        e for e in resource.get("extension") or [] if isinstance(e, Mapping) and e.get("url") == url
    ]


def _participant_patient(resource: Mapping[str, Any]) -> str | None:
    for participant in resource.get("participant") or []:
        actor = participant.get("actor") if isinstance(participant, Mapping) else None
        if isinstance(actor, Mapping):
            ref = actor.get("reference")
            if isinstance(ref, str) and ("Patient/" in ref or ref.startswith("urn:uuid:")):
                return target_id(actor)
    return None


def _booking(resource: Mapping[str, Any]) -> _Booking:
    cancelled_at = None
    for ext in _extension(resource, CANCELLATION_DATE_EXT):
        cancelled_at = instant(ext.get("valueDateTime"))
    if cancelled_at is None and resource.get("status") == "cancelled":
        meta = resource.get("meta")
        if isinstance(meta, Mapping):
            cancelled_at = instant(meta.get("lastUpdated"))
    replaces = {
        key
        for ext in _extension(resource, REPLACES_EXT)
        if (key := target_id(ext.get("valueReference"))) is not None
    }
    identifier = resource.get("id")
    return _Booking(
        id=identifier if isinstance(identifier, str) else None,
        patient=_participant_patient(resource),
        status=str(resource.get("status")),
        start=instant(resource.get("start")),
        created=instant(resource.get("created")),
        cancelled_at=cancelled_at,
        replaces=replaces,
    )


def _was_rescheduled(lost: _Booking, later: list[_Booking], window: timedelta) -> bool:
    for other in later:
        if other is lost:
            continue
        if lost.id is not None and lost.id in other.replaces:
            return True
        since = lost.cancelled_at if lost.status == "cancelled" else lost.start
        if since is None or other.created is None:
            continue
        if since <= other.created <= since + window:
            return True
    return False


def appointment_kpis(
    resources: Iterable[Mapping[str, Any]],
    *,
    advance_hours: float = 24,
    reschedule_within_days: int = 14,
) -> AppointmentKpis:
    """No-show, cancellation, advance-cancellation and reschedule figures (module docstring)."""
    if advance_hours < 0 or reschedule_within_days < 0:
        raise InvalidInput("windows must not be negative", field="advance_hours")
    bookings: list[_Booking] = []
    skipped = 0
    for resource in resources_of(resources, "Appointment"):
        status = resource.get("status")
        if status in NOT_BOOKINGS:
            continue
        if status not in SETTLED | OPEN | {"cancelled"}:
            skipped += 1
            continue
        bookings.append(_booking(resource))
    by_patient: dict[str | None, list[_Booking]] = defaultdict(list)
    for booking in bookings:
        by_patient[booking.patient].append(booking)

    advance = late = unknown = rescheduled = 0
    window = timedelta(days=reschedule_within_days)
    for booking in bookings:
        if booking.status == "cancelled":
            if booking.cancelled_at is None or booking.start is None:
                unknown += 1
            elif booking.start - booking.cancelled_at >= timedelta(hours=advance_hours):
                advance += 1
            else:
                late += 1
        if booking.status in ("cancelled", "noshow") and booking.patient is not None:
            rescheduled += _was_rescheduled(booking, by_patient[booking.patient], window)
    return AppointmentKpis(
        bookings=len(bookings),
        settled=sum(1 for b in bookings if b.status in SETTLED),
        open=sum(1 for b in bookings if b.status in OPEN),
        noshows=sum(1 for b in bookings if b.status == "noshow"),
        cancelled=sum(1 for b in bookings if b.status == "cancelled"),
        advance_cancellations=advance,
        late_cancellations=late,
        cancellation_timing_unknown=unknown,
        rescheduled=rescheduled,
        skipped=skipped,
    )
