"""Return rate and lapsed patients from FHIR R4 ``Encounter`` resources, overall and by segment.

Definitions (each figure names its denominator; also in docs/retention.md):

* a **visit** is an Encounter that took place (``finished``, ``arrived``, ``triaged``,
  ``in-progress``, ``onleave``) and is not an emergency or inpatient stay (class ``EMER``,
  ``IMP``, ``ACUTE``, ``NONAC``, ``PRENC``, ``SS``): a patient "coming back" comes back to the
  practice, not to the emergency department;
* **return rate** = patients with a visit in the period before the report's period (of the
  same length) who had another visit in the report's period / patients with a visit in that
  earlier period;
* **lapsed** = patients with at least one visit (the *panel*) whose last visit is more than
  their lapse interval before the end of the period. The interval is the shortest of those of
  the segments the patient is in (``diabetes``: 180 days ...), else the default: a patient
  living with a condition that needs regular care lapses sooner.

Segments come from the caller (``programs.segments``; insights does not evaluate them), so
this module stays a pure function of resources, membership and dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from careloop.errors import InvalidInput
from careloop.fhirdata.bundles import resources_of
from careloop.fhirdata.dates import instant
from careloop.fhirdata.references import target_id

PERFORMED = frozenset({"finished", "arrived", "triaged", "in-progress", "onleave"})
NOT_VISITS = frozenset({"EMER", "IMP", "ACUTE", "NONAC", "PRENC", "SS"})


@dataclass(frozen=True, slots=True)
class LapsePolicy:
    """How long without a visit a patient may go, by segment (the shortest applies)."""

    default_days: int
    by_segment: Mapping[str, int]

    def days_for(self, segments: Iterable[str]) -> int:
        found = [self.by_segment[s] for s in segments if s in self.by_segment]
        return min([*found, self.default_days])


@dataclass(frozen=True, slots=True)
class RetentionFigures:
    """Counts for one group; a rate is ``None`` when its denominator is zero."""

    seen_before: int
    returned: int
    panel: int
    lapsed: int

    @property
    def return_rate(self) -> float | None:
        return round(self.returned / self.seen_before, 4) if self.seen_before else None

    @property
    def lapsed_rate(self) -> float | None:
        return round(self.lapsed / self.panel, 4) if self.panel else None

    def export(self, *, small_cell: int) -> dict[str, Any]:
        """JSON-ready; a count below ``small_cell`` (other than 0) and its rate are hidden."""

        def shown(count: int) -> int | None:
            return count if count == 0 or count >= small_cell else None

        hide_return = 0 < self.seen_before < small_cell or shown(self.returned) is None
        hide_lapsed = 0 < self.panel < small_cell or shown(self.lapsed) is None
        return {
            "seen_before": shown(self.seen_before),
            "returned": shown(self.returned),
            "return_rate": None if hide_return else self.return_rate,
            "panel": shown(self.panel),
            "lapsed": shown(self.lapsed),
            "lapsed_rate": None if hide_lapsed else self.lapsed_rate,
            "suppressed": hide_return or hide_lapsed,
        }


def _patient(encounter: Mapping[str, Any]) -> str | None:
    subject = encounter.get("subject")
    return target_id(subject) if isinstance(subject, Mapping) else None


def is_visit(encounter: Mapping[str, Any]) -> bool:
    """A visit that took place (not an emergency or inpatient stay): the docs' definition."""
    if encounter.get("status") not in PERFORMED:
        return False
    klass = encounter.get("class")
    code = klass.get("code") if isinstance(klass, Mapping) else None
    return code not in NOT_VISITS


def _start(encounter: Mapping[str, Any]) -> datetime | None:
    period = encounter.get("period")
    return instant(period.get("start")) if isinstance(period, Mapping) else None


def visits_by_patient(
    encounters: Iterable[tuple[str | None, Mapping[str, Any]]],
) -> dict[str, list[datetime]]:
    """Patient id -> start of each visit, sorted (the patient id of the stored row wins)."""
    found: dict[str, list[datetime]] = {}
    for stored_patient, resource in encounters:
        for encounter in resources_of([resource], "Encounter"):
            pid = stored_patient or _patient(encounter)
            start = _start(encounter)
            if pid is None or start is None or not is_visit(encounter):
                continue
            found.setdefault(pid, []).append(start)
    return {pid: sorted(days) for pid, days in found.items()}


def _figures(
    patients: Iterable[str],
    visits: Mapping[str, list[datetime]],
    lapse_days: Mapping[str, int],
    *,
    start: datetime,
    end: datetime,
) -> RetentionFigures:
    before = start - (end - start)
    seen_before = returned = panel = lapsed = 0
    for pid in patients:
        days = [d for d in visits.get(pid, []) if d < end]
        if not days:
            continue
        panel += 1
        if days[-1] < end - timedelta(days=lapse_days[pid]):
            lapsed += 1
        if any(before <= d < start for d in days):
            seen_before += 1
            returned += any(start <= d < end for d in days)
    return RetentionFigures(seen_before=seen_before, returned=returned, panel=panel, lapsed=lapsed)


def retention_kpis(
    visits: Mapping[str, list[datetime]],
    *,
    segments: Mapping[str, set[str]],
    policy: LapsePolicy,
    start: datetime,
    end: datetime,
    small_cell: int,
) -> dict[str, Any]:
    """Return rate and lapsed patients, overall and per segment (module docstring)."""
    if end <= start:
        raise InvalidInput("the period must end after it starts", field="period")
    if policy.default_days <= 0 or any(d <= 0 for d in policy.by_segment.values()):
        raise InvalidInput("lapse intervals must be positive days", field="lapse_days")
    patients = set(visits) | set(segments)
    lapse_days = {pid: policy.days_for(segments.get(pid, ())) for pid in patients}
    overall = _figures(patients, visits, lapse_days, start=start, end=end)
    names = sorted({name for found in segments.values() for name in found})
    by_segment = []
    for name in names:
        members = [pid for pid in patients if name in segments.get(pid, ())]
        figures = _figures(members, visits, lapse_days, start=start, end=end)
        by_segment.append({"segment": name, **figures.export(small_cell=small_cell)})
    return {
        "definition": {
            "lapse_days": policy.default_days,
            "lapse_days_by_segment": dict(sorted(policy.by_segment.items())),
            "return_window_start": (start - (end - start)).date().isoformat(),
        },
        "overall": overall.export(small_cell=small_cell),
        "by_segment": by_segment,
    }
