"""The offers the faces ask for: ``careloop schedule offer``, the console and the portal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.access.finder import Offer, rank_offers
from careloop.access.patientday import noshow_risk_by_day, patient_day
from careloop.access.slots import free_slots
from careloop.errors import InvalidInput
from careloop.insights.risk.fhir_appointments import available_model
from careloop.insights.risk.model import NoshowModel

MAX_DAYS = 90
MAX_LIMIT = 20


def check_search(*, days: int, limit: int) -> None:
    """How far and how many: refused before anything is read."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_DAYS}", field="days")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")


def find_offers(
    session: Session,
    *,
    patient_id: str,
    now: datetime,
    service: str | None = None,
    services: frozenset[str] | None = None,
    from_day: date | None = None,
    days: int = 14,
    limit: int = 3,
    model: NoshowModel | None = None,
) -> list[Offer]:
    """Offers for the patient, best first, over ``days`` days from ``from_day`` (their zone).

    ``from_day`` defaults to today in the patient's zone; slots before ``now`` plus the
    minimum lead time are never offered, whatever the day. ``services``: only slots sharing
    one of these codes (:func:`careloop.access.slots.slot_services` of a visit being moved).
    ``model``: the no-show model whose risk of each day weighs in the ranking (default: the
    installation's trained model, if any).
    """
    check_search(days=days, limit=limit)
    day = patient_day(session, patient_id=patient_id, now=now)
    zone = ZoneInfo(day.timezone)
    first = from_day or now.astimezone(zone).date()
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(first + timedelta(days=days), time(0), tzinfo=zone)
    slots = free_slots(session, start=start, end=end, service=service, services=services)
    model = model or available_model()
    if model is not None and slots:
        days_of = {s.start.astimezone(UTC).date() for s in slots}
        risk = noshow_risk_by_day(
            session, patient_id=patient_id, now=now, days=days_of, model=model
        )
        day = replace(day, noshow_risk=risk)
    return rank_offers(slots, day, now=now, limit=limit)
