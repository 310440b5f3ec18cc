"""The slot finder: which free slots to offer a patient, best first, and why.

A pure function of the candidate slots and what the record says about the patient's day
(:class:`PatientDay`), so the CLI, the outbox offer, the portal and the waitlist rank the same
way and tests need no database. The rules, in order:

1. **Never a busy slot**: candidates are free slots nobody holds (the caller's query), and a
   slot that starts before ``now + min_lead`` is too late to reach the patient.
2. **The patient's own time**: a patient who works full time is not offered a weekday slot that
   overlaps 08:00-17:00 local; the patient's stated availability (the availability extension on
   their Patient resource) is a hard limit when recorded; the stated and learned send windows
   (when they answer messages) are a soft preference.
3. **Who comes along**: a caregiver with availability accompanies the patient unless marked
   otherwise. An in-person slot must fit inside one accompanying caregiver's window; outside
   it, the slot is offered only with a ride when the patient needs transport (nobody can drive
   them then), and not at all otherwise.
4. **Transport**: a patient who needs transport and has no accompanying caregiver is offered
   in-person visits with a ride; a telehealth slot, where the service has one, ranks first.
5. **Lead time and no-show risk**: sooner is better, and much better when the no-show risk is
   high (a long wait is the strongest no-show predictor); with a trained no-show model, each
   day's risk for a booking made now (``PatientDay.noshow_risk``) weighs too: 10 points of
   risk cost as much as :data:`RISK_WEIGHT` × 0.1 (four days' wait).

Every offer carries one sentence saying why it fits, without names (a relationship at most).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from careloop.records.availability import DAYS

Mode = Literal["in-person", "telehealth"]
WORKDAY = (time(8, 0), time(17, 0))
RISK_WEIGHT = 2.0
"""Score lost per unit of no-show probability (lead time costs 0.05 a day)."""


@dataclass(frozen=True, slots=True)
class SlotCandidate:
    """A free slot from the record, with what the finder needs to know about it."""

    slot_id: str
    start: datetime
    end: datetime
    telehealth: bool = False
    services: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Companion:
    """A caregiver who accompanies the patient, with their weekly windows (local time)."""

    relationship: str | None
    windows: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class PatientDay:
    """What the record says about when and how the patient can come."""

    timezone: str
    works_daytime: bool = False
    availability: tuple[dict[str, Any], ...] = ()
    preferred_windows: tuple[tuple[int, int], ...] = ()
    """Local minute ranges ``[start, end)`` the patient answers in (stated, then learned)."""
    companions: tuple[Companion, ...] = ()
    transport_need: bool = False
    high_noshow_risk: bool = False
    noshow_risk: Mapping[date, float] = field(default_factory=dict)
    """The no-show model's probability for a booking made now, by the slot's day (UTC, as the
    model reads an appointment's day); empty without a trained model."""


@dataclass(frozen=True, slots=True)
class Offer:
    slot: str
    start: datetime
    end: datetime
    mode: Mode
    ride: bool
    why: str
    score: float = field(default=0.0, compare=False)

    def as_json(self) -> dict[str, Any]:
        """The contract of ``careloop schedule offer --json`` (issue "Access")."""
        return {
            "slot": self.slot,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "mode": self.mode,
            "ride": self.ride,
            "why": self.why,
        }


def inside_windows(windows: Iterable[dict[str, Any]], start: datetime, end: datetime) -> bool:
    """True when ``[start, end]`` (local times, same day) lies inside one window."""
    day = DAYS[start.weekday()]
    return any(
        day in w["days"]
        and time.fromisoformat(w["start"]) <= start.time()
        and end.time() <= time.fromisoformat(w["end"])
        and end.date() == start.date()
        for w in windows
    )


def _overlaps_workday(start: datetime, end: datetime) -> bool:
    if start.weekday() >= 5:
        return False
    return start.time() < WORKDAY[1] and end.time() > WORKDAY[0]


def _when(start: datetime) -> str:
    hour = start.strftime("%I").lstrip("0")
    return f"{start.strftime('%a')} {hour}:{start.strftime('%M')} {start.strftime('%p').lower()}"


def _lead_words(days: int) -> str:
    """How far off a visit is, in days of the patient's calendar: Monday seen from Saturday
    afternoon is "in 2 days" although fewer than 48 hours away."""
    if days == 0:
        return "today"
    return "tomorrow" if days == 1 else f"in {days} days"


def _who(companion: Companion) -> str:
    return f"your {companion.relationship}" if companion.relationship else "your caregiver"


def _fit(
    day: PatientDay, slot: SlotCandidate, start: datetime, end: datetime
) -> tuple[bool, list[str], float] | None:
    """(ride, reasons, score bonus) for a slot the patient can take; None when they cannot."""
    if day.works_daytime and _overlaps_workday(start, end):
        return None
    if day.availability and not inside_windows(day.availability, start, end):
        return None
    if slot.telehealth:
        if day.transport_need:
            return False, ["a video visit, so no travel is needed"], 2.0
        return False, ["a video visit from home"], 0.0
    if day.companions:
        fitting = [c for c in day.companions if inside_windows(c.windows, start, end)]
        if fitting:
            return False, [f"{_who(fitting[0])} is free to come with you then"], 1.5
        if day.transport_need:
            return True, ["with a ride, because nobody who drives you is free then"], -1.0
        return None
    if day.transport_need:
        return True, ["with a ride, since you told us getting there is hard"], 0.0
    return False, [], 0.0


def _preferred(day: PatientDay, start: datetime) -> bool:
    minute = start.hour * 60 + start.minute
    return any(lo <= minute < hi for lo, hi in day.preferred_windows)


def rank_offers(
    slots: Sequence[SlotCandidate],
    day: PatientDay,
    *,
    now: datetime,
    limit: int,
    min_lead: timedelta = timedelta(hours=2),
) -> list[Offer]:
    """Offers for the patient, best first, at most ``limit``; ties go to the earlier slot."""
    zone = ZoneInfo(day.timezone)
    ranked: list[Offer] = []
    for slot in slots:
        if slot.start < now + min_lead or slot.end <= slot.start:
            continue
        start, end = slot.start.astimezone(zone), slot.end.astimezone(zone)
        fit = _fit(day, slot, start, end)
        if fit is None:
            continue
        ride, reasons, score = fit
        if _preferred(day, start):
            score += 0.5
            reasons.append("at a time of day that suits you")
        days_away = (slot.start - now).total_seconds() / 86400
        score -= days_away * (0.15 if day.high_noshow_risk else 0.05)
        score -= RISK_WEIGHT * day.noshow_risk.get(slot.start.astimezone(UTC).date(), 0.0)
        lead = _lead_words((start.date() - now.astimezone(zone).date()).days)
        if day.high_noshow_risk:
            lead += ", soon rather than later"
        why = f"{_when(start)}: " + "; ".join([*reasons, lead])
        ranked.append(
            Offer(
                slot=slot.slot_id,
                start=start,
                end=end,
                mode="telehealth" if slot.telehealth else "in-person",
                ride=ride,
                why=why[0].upper() + why[1:],
                score=round(score, 6),
            )
        )
    ranked.sort(key=lambda o: (-o.score, o.start, o.slot))
    return ranked[:limit]


def first_per_key(offers: Iterable[Offer], key: Callable[[Offer], Hashable]) -> list[Offer]:
    """The offers in order, each dropped when an earlier one had the same ``key``: the ranking
    already put the best of each kind first."""
    seen: set[Hashable] = set()
    out = []
    for offer in offers:
        if (k := key(offer)) not in seen:
            seen.add(k)
            out.append(offer)
    return out


def distinct_times(offers: Sequence[Offer]) -> list[Offer]:
    """The offers in order, without a later one a text would name alike: same start, same
    mode ("1 for Mon 9:00 AM, 2 for Mon 9:00 AM" at two clinics is no choice by reply)."""
    return first_per_key(offers, lambda offer: (offer.start, offer.mode))
