"""30-day all-cause readmissions from FHIR R4 ``Encounter`` resources.

Modelled on the CMS hospital-wide readmission logic, as far as the record can code it:

* **stays**: encounters of class ``IMP`` (inpatient), ``ACUTE`` or ``NONAC`` (v3 ActCode),
  status not ``cancelled``/``entered-in-error``/``planned``, with a start and an end;
* **transfers**: a stay discharged to another acute hospital (NUBC 02, 05, 66, 82, 85, 94 or
  HL7 ``other-hcf``) and followed by a stay starting within a day is one stay;
* **index stays**: discharged within the measurement period, excluding death in hospital
  (NUBC 20, 40, 41, 42 or HL7 ``exp``) and leaving against medical advice (NUBC 07 or HL7
  ``aadvice``);
* **readmission**: the patient's next stay admitted within ``window_days`` (default 30) after
  the index discharge, unless it was planned: ``Encounter.priority`` elective (v3 ``EL``), or
  an index discharge coded "with a planned readmission" (NUBC 81-95). The CMS planned-
  readmission algorithm (procedure categories) needs claims data and is not applied.

The caller passes all encounters (not only those in the period), so a readmission just after
the period end is seen; index discharges in the last ``window_days`` of the data have an
incomplete follow-up and should be left out by choosing the period accordingly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from careloop.errors import InvalidInput
from careloop.fhirdata.bundles import resources_of
from careloop.fhirdata.codings import has_code
from careloop.fhirdata.dates import instant
from careloop.fhirdata.references import target_id

INPATIENT_CLASSES = {"IMP", "ACUTE", "NONAC"}
EXCLUDED_STATUSES = {"cancelled", "entered-in-error", "planned"}
TRANSFER_DISPOSITIONS = {"02", "05", "66", "82", "85", "94", "other-hcf"}
DIED_DISPOSITIONS = {"20", "40", "41", "42", "exp"}
AGAINST_ADVICE_DISPOSITIONS = {"07", "aadvice"}
PLANNED_READMISSION_DISPOSITIONS = {str(code) for code in range(81, 96)}
ELECTIVE_PRIORITY = {"EL"}


@dataclass(frozen=True, slots=True)
class _Stay:
    patient: str
    admitted: datetime
    discharged: datetime
    disposition: Mapping[str, Any] | None
    elective: bool


@dataclass(frozen=True, slots=True)
class Readmissions:
    """Index stays, how many were followed by an unplanned readmission, and exclusions."""

    index_stays: int
    readmitted: int
    excluded: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float | None:
        return self.readmitted / self.index_stays if self.index_stays else None


def _disposition(stay: _Stay, codes: set[str]) -> bool:
    return stay.disposition is not None and has_code(stay.disposition, codes)


def _stays(resources: Iterable[Mapping[str, Any]], excluded: Counter[str]) -> list[_Stay]:
    stays = []
    for encounter in resources_of(resources, "Encounter"):
        klass = encounter.get("class")
        if not (isinstance(klass, Mapping) and klass.get("code") in INPATIENT_CLASSES):
            continue
        if encounter.get("status") in EXCLUDED_STATUSES:
            excluded[f"status {encounter.get('status')}"] += 1
            continue
        period = encounter.get("period")
        if not isinstance(period, Mapping):
            period = {}
        admitted = instant(period.get("start"))
        discharged = instant(period.get("end"))
        patient = target_id(encounter.get("subject"))
        if admitted is None or discharged is None or patient is None:
            excluded["no admission, discharge or patient"] += 1
            continue
        hospitalization = encounter.get("hospitalization")
        disposition = (
            hospitalization.get("dischargeDisposition")
            if isinstance(hospitalization, Mapping)
            else None
        )
        stays.append(
            _Stay(
                patient=patient,
                admitted=admitted,
                discharged=max(discharged, admitted),
                disposition=disposition,
                elective=has_code(encounter.get("priority"), ELECTIVE_PRIORITY),
            )
        )
    return stays


def _merge_transfers(stays: list[_Stay]) -> list[_Stay]:
    merged: list[_Stay] = []
    for stay in sorted(stays, key=lambda s: s.admitted):
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and _disposition(previous, TRANSFER_DISPOSITIONS)
            and stay.admitted - previous.discharged <= timedelta(days=1)
        ):
            merged[-1] = _Stay(
                patient=previous.patient,
                admitted=previous.admitted,
                discharged=max(previous.discharged, stay.discharged),
                disposition=stay.disposition,
                elective=previous.elective,
            )
        else:
            merged.append(stay)
    return merged


def thirty_day_readmissions(
    resources: Iterable[Mapping[str, Any]],
    *,
    period_start: date,
    period_end: date,
    window_days: int = 30,
) -> Readmissions:
    """Unplanned readmissions within ``window_days`` of discharges in the period."""
    if period_end < period_start:
        raise InvalidInput("the period ends before it starts", field="period")
    if window_days < 1:
        raise InvalidInput("the window must be at least one day", field="window_days")
    excluded: Counter[str] = Counter()
    by_patient: dict[str, list[_Stay]] = defaultdict(list)
    for stay in _stays(resources, excluded):
        by_patient[stay.patient].append(stay)
    window = timedelta(days=window_days)
    index_stays = readmitted = 0
    for stays in by_patient.values():
        ordered = _merge_transfers(stays)
        for position, stay in enumerate(ordered):
            if not period_start <= stay.discharged.date() <= period_end:
                continue
            if _disposition(stay, DIED_DISPOSITIONS):
                excluded["died in hospital"] += 1
                continue
            if _disposition(stay, AGAINST_ADVICE_DISPOSITIONS):
                excluded["left against medical advice"] += 1
                continue
            index_stays += 1
            following = ordered[position + 1] if position + 1 < len(ordered) else None
            if following is None or following.admitted - stay.discharged > window:
                continue
            if following.elective or _disposition(stay, PLANNED_READMISSION_DISPOSITIONS):
                excluded["planned readmission"] += 1
                continue
            readmitted += 1
    return Readmissions(index_stays=index_stays, readmitted=readmitted, excluded=excluded)
