"""The contact budget and the named reasons an option is removed: what the outbox worker
needs of the engine's constraints, without NumPy (a worker starts without it; the
vectorized constraints in :mod:`careloop.personalize.constraints` re-export these)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from careloop.clock import ensure_utc
from careloop.fielddicts import field_dict


class RemovalReason(StrEnum):
    """Why an option (or the whole patient) was taken out before learning."""

    DECEASED = "deceased"
    OPTED_OUT = "opted_out"
    LANGUAGE_UNSUPPORTED = "language_unsupported"
    CONTACT_BUDGET = "contact_budget"
    NO_CONSENT = "no_consent"
    NO_CONTACT_POINT = "no_contact_point"
    QUIET_HOURS = "quiet_hours"
    CLIPPED_BY_QUIET_HOURS = "clipped_by_quiet_hours"


@dataclass(frozen=True, slots=True)
class Removal:
    """One option taken out (or adjusted) by a hard constraint, with its reason."""

    factor: str
    value: str | None
    reason: RemovalReason
    detail: str = ""

    def as_dict(self) -> dict[str, str | None]:
        return field_dict(self, reason=str(self.reason))


@dataclass(frozen=True, slots=True)
class ContactBudget:
    """At most ``per_day`` contacts in any 24 hours and ``per_week`` in any 7 days, counted
    per patient across every program and channel (sliding windows: a calendar week would let
    three texts on Saturday night follow three on Sunday morning)."""

    per_day: int
    per_week: int
    min_gap: timedelta = timedelta(0)
    """Least time between two contacts to the patient, whatever programs and channels sent
    them: two programs must not text (or call) the same patient in the same minute."""

    def __post_init__(self) -> None:
        if self.per_day < 0 or self.per_week < 0 or self.min_gap < timedelta(0):
            raise ValueError("contact budgets are >= 0")

    @property
    def limits(self) -> tuple[tuple[int, timedelta], ...]:
        return ((self.per_day, timedelta(days=1)), (self.per_week, timedelta(days=7)))


def budget_allows(contacts: Sequence[datetime], *, at: datetime, budget: ContactBudget) -> bool:
    """True when one more contact at ``at`` keeps every window within its limit.

    Exact, not conservative: the new contact breaks a limit ``n`` over a period ``p`` only
    when, with it, some ``n + 1`` consecutive contacts (it among them) span less than ``p``.
    ``contacts`` may lie before and after ``at`` (scheduled ones count at their due time).
    """
    at = ensure_utc(at)
    moments = sorted([*(ensure_utc(c) for c in contacts), at])
    index = moments.index(at)
    for limit, period in budget.limits:
        for first in range(max(0, index - limit), min(index, len(moments) - limit - 1) + 1):
            if moments[first + limit] - moments[first] < period:
                return False
    return True


def spaced_from(contacts: Sequence[datetime], *, at: datetime, gap: timedelta) -> datetime | None:
    """``None`` when a contact at ``at`` is at least ``gap`` from every one of ``contacts``
    (before or after it), else the earliest later moment that is, past the contacts already
    made (at or before ``at``): the end of the gap the latest of them opened. Contacts
    scheduled after ``at`` are checked at their own dispatch, so they do not move it."""
    if gap <= timedelta(0):
        return None
    at = ensure_utc(at)
    moments = [ensure_utc(c) for c in contacts]
    if all(abs(at - c) >= gap for c in moments):
        return None
    made = [c for c in moments if c <= at]
    return max(made) + gap if made else at + gap


__all__ = ["ContactBudget", "Removal", "RemovalReason", "budget_allows", "spaced_from"]
