"""Medication adherence as PDC (proportion of days covered) and a PDC-trajectory risk.

PDC follows the Pharmacy Quality Alliance method:

* per patient and drug class (default: per ingredient code), fills are dispenses with a
  hand-over date and a days' supply;
* the treatment period runs from the first fill in the measurement period (the index date) to
  the end of the period;
* a refill of the *same* drug collected before the previous supply ran out is shifted forward
  to start the day after it ends (early refills are stockpiling, not double coverage);
* a day is covered when any drug of the class covers it; supply beyond the period end is cut;
* PDC = covered days / days in the treatment period (never above 1); a patient is in the
  denominator only with at least two fills on different days; ≥ 0.8 counts as adherent.

The trajectory risk slides windows over the same shifted coverage: a patient whose latest
window is below 0.8 is high risk; one still above it whose coverage fell by 10 points or more
since the previous window is medium risk. Rules, not a trained model: the sample data holds no
dispenses to train on (see docs/model-card-nonadherence.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import numpy as np

from careloop.errors import InvalidInput
from careloop.fhirdata.bundles import resources_of
from careloop.fhirdata.codings import codings
from careloop.fhirdata.dates import instant
from careloop.fhirdata.references import target_id

ADHERENT_PDC = 0.8
FALLING_DROP = 0.10
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_DAYS_PER_UNIT = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30}


@dataclass(frozen=True, slots=True)
class Fill:
    """One dispense: who, which drug (and its class), when handed over, for how many days."""

    patient: str
    drug: str
    drug_class: str
    handed_over: date
    days_supply: int


@dataclass(frozen=True, slots=True)
class ParsedDispenses:
    """Usable fills and why other MedicationDispense resources were left out."""

    fills: list[Fill]
    skipped: Counter[str] = field(default_factory=Counter)


def _drug_code(resource: Mapping[str, Any]) -> str | None:
    pairs = list(codings(resource.get("medicationCodeableConcept")))
    for system, code in pairs:
        if system == RXNORM:
            return code
    if pairs:
        return pairs[0][1]
    return target_id(resource.get("medicationReference"))


def _days_supply(resource: Mapping[str, Any]) -> int | None:
    quantity = resource.get("daysSupply")
    if not isinstance(quantity, Mapping):
        return None
    value = quantity.get("value")
    unit = str(quantity.get("code") or quantity.get("unit") or "d").lower()
    if not isinstance(value, int | float) or value <= 0 or unit not in _DAYS_PER_UNIT:
        return None
    return round(value * _DAYS_PER_UNIT[unit])


def fills_from_dispenses(
    resources: Iterable[Mapping[str, Any]], *, drug_class: Mapping[str, str] | None = None
) -> ParsedDispenses:
    """Fills from FHIR R4 ``MedicationDispense`` resources (bundles are searched too).

    Only ``completed`` dispenses count. ``drug_class`` maps a drug code to its class (e.g. all
    statins to one class); a code not in it is its own class.
    """
    classes = drug_class or {}
    parsed = ParsedDispenses(fills=[])
    for resource in resources_of(resources, "MedicationDispense"):
        status = resource.get("status")
        if status != "completed":
            parsed.skipped[f"status {status}"] += 1
            continue
        patient = target_id(resource.get("subject"))
        handed_over = instant(resource.get("whenHandedOver"))
        drug = _drug_code(resource)
        supply = _days_supply(resource)
        if patient is None:
            parsed.skipped["no subject"] += 1
        elif handed_over is None:
            parsed.skipped["no whenHandedOver"] += 1
        elif drug is None:
            parsed.skipped["no medication code"] += 1
        elif supply is None:
            parsed.skipped["no usable daysSupply"] += 1
        else:
            parsed.fills.append(
                Fill(
                    patient=patient,
                    drug=drug,
                    drug_class=classes.get(drug, drug),
                    handed_over=handed_over.date(),
                    days_supply=supply,
                )
            )
    return parsed


def _handed_over_within(fills: Iterable[Fill], *, start: date, end: date) -> list[Fill]:
    """The fills handed over from ``start`` to ``end`` inclusive; a reversed period is refused."""
    if end < start:
        raise InvalidInput("the period ends before it starts", field="period")
    return [fill for fill in fills if start <= fill.handed_over <= end]


def covered_days(fills: Sequence[Fill], *, start: date, end: date) -> np.ndarray[Any, Any]:
    """Boolean per day from ``start`` to ``end`` inclusive: covered by any fill, with early
    refills of the same drug shifted forward. Fills outside the range are ignored."""
    length = (end - start).days + 1
    covered = np.zeros(length, dtype=bool)
    by_drug: dict[str, list[Fill]] = defaultdict(list)
    for fill in _handed_over_within(fills, start=start, end=end):
        by_drug[fill.drug].append(fill)
    for drug_fills in by_drug.values():
        next_free = 0
        for fill in sorted(drug_fills, key=lambda f: f.handed_over):
            first = max((fill.handed_over - start).days, next_free)
            last = first + fill.days_supply
            covered[first : min(last, length)] = True
            next_free = last
    return covered


@dataclass(frozen=True, slots=True)
class Pdc:
    """PDC of one patient for one drug class over one measurement period."""

    patient: str
    drug_class: str
    index_date: date
    days_in_period: int
    days_covered: int
    fills: int
    eligible: bool

    @property
    def pdc(self) -> float:
        return self.days_covered / self.days_in_period

    @property
    def adherent(self) -> bool:
        return self.pdc >= ADHERENT_PDC


def pdc_by_patient(fills: Iterable[Fill], *, period_start: date, period_end: date) -> list[Pdc]:
    """PDC per (patient, drug class) with at least one fill in the period."""
    groups: dict[tuple[str, str], list[Fill]] = defaultdict(list)
    for fill in _handed_over_within(fills, start=period_start, end=period_end):
        groups[(fill.patient, fill.drug_class)].append(fill)
    results = []
    for (patient, drug_class), group in sorted(groups.items()):
        index_date = min(f.handed_over for f in group)
        covered = covered_days(group, start=index_date, end=period_end)
        results.append(
            Pdc(
                patient=patient,
                drug_class=drug_class,
                index_date=index_date,
                days_in_period=len(covered),
                days_covered=int(covered.sum()),
                fills=len(group),
                eligible=len({f.handed_over for f in group}) >= 2,
            )
        )
    return results


@dataclass(frozen=True, slots=True)
class WindowPdc:
    """PDC over one window of a trajectory."""

    start: date
    end: date
    pdc: float


def pdc_trajectory(fills: Sequence[Fill], *, end: date, window_days: int = 90) -> list[WindowPdc]:
    """PDC over successive full windows from the first fill up to ``end``.

    Coverage carries across windows (a 90-day fill collected late in one window covers the
    start of the next), so the trajectory is the same shifted coverage cut into pieces.
    """
    if window_days < 7:
        raise InvalidInput("windows must be at least 7 days", field="window_days")
    if not fills:
        return []
    start = min(f.handed_over for f in fills)
    if end < start:
        return []
    covered = covered_days(fills, start=start, end=end)
    windows = []
    for offset in range(0, len(covered) - window_days + 1, window_days):
        piece = covered[offset : offset + window_days]
        windows.append(
            WindowPdc(
                start=start + timedelta(days=offset),
                end=start + timedelta(days=offset + window_days - 1),
                pdc=float(piece.mean()),
            )
        )
    return windows


class AdherenceBand(StrEnum):
    """Non-adherence risk from the PDC trajectory."""

    UNKNOWN = "unknown"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class AdherenceRisk:
    """A band, the figures behind it, and the reasons in words."""

    band: AdherenceBand
    latest_pdc: float | None
    change: float | None
    reasons: list[str]


def adherence_risk(trajectory: Sequence[WindowPdc]) -> AdherenceRisk:
    """Band a PDC trajectory (see the module docstring for the rules)."""
    if len(trajectory) < 2:
        return AdherenceRisk(
            band=AdherenceBand.UNKNOWN,
            latest_pdc=trajectory[-1].pdc if trajectory else None,
            change=None,
            reasons=["fewer than two full windows of refill history"],
        )
    latest, previous = trajectory[-1], trajectory[-2]
    days = (latest.end - latest.start).days + 1
    change = latest.pdc - previous.pdc
    reasons = [f"covered {latest.pdc:.0%} of days in the last {days} days"]
    if change <= -FALLING_DROP:
        reasons.append(f"coverage fell from {previous.pdc:.0%} to {latest.pdc:.0%}")
    if latest.pdc < ADHERENT_PDC:
        band = AdherenceBand.HIGH
    elif change <= -FALLING_DROP:
        band = AdherenceBand.MEDIUM
    else:
        band = AdherenceBand.LOW
    return AdherenceRisk(band=band, latest_pdc=latest.pdc, change=change, reasons=reasons)
