"""The access figures of a program, against its randomized holdout (issue 17 item 7).

A program whose enrolled patients were offered slots (``slots_offered`` events) is an access
program. Its holdout got no offers, so "conversion per offer" has no holdout counterpart; the
randomized comparisons are per patient, from the care gap (the program's first ``eligible``
or ``enrolled`` event of the patient in the period) onwards:

- *booked*: the patient has a visit (an ``Appointment`` booked or settled, not cancelled) that
  starts at or after the gap, booked by careloop or by the practice (the EHR's export);
- *days from gap to visit*: from the gap to the first such visit's start (median per arm);
- *no-show*: of those visits that have an outcome (``fulfilled``, ``arrived``, ``checked-in``,
  ``noshow``), the share marked ``noshow``.

Conversion per offer is read in the treated arm: offers made in the period, and how many of
them a ``slot_booked`` event names.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from careloop.fhirdata.dates import instant
from careloop.insights.kpis.appointments import SETTLED
from careloop.insights.stats import difference_of_proportions, power_note, too_few
from careloop.models import Event

OFFERED = "slots_offered"
BOOKED = "slot_booked"
VISIT_STATUSES = SETTLED | {"booked"}


def _comparison(treated: tuple[int, int], holdout: tuple[int, int]) -> dict[str, Any]:
    """Rates per arm and, when both arms have someone, the difference with its 95 % interval."""
    result: dict[str, Any] = {
        "treated": {"n": treated[1], "count": treated[0], "rate": _rate(*treated)},
        "holdout": {"n": holdout[1], "count": holdout[0], "rate": _rate(*holdout)},
    }
    if treated[1] and holdout[1]:
        diff = difference_of_proportions(
            treated_successes=treated[0],
            treated_n=treated[1],
            control_successes=holdout[0],
            control_n=holdout[1],
        )
        result["difference"] = round(diff.difference, 4)
        result["ci95"] = [round(diff.low, 4), round(diff.high, 4)]
        result["excludes_zero"] = diff.excludes_zero
        result["too_few"] = too_few(treated_n=treated[1], control_n=holdout[1])
        result["power_note"] = power_note(diff, treated_n=treated[1], control_n=holdout[1])
    return result


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def access_section(
    *,
    program: str,
    arms: Mapping[str, str],
    first_seen: Mapping[str, datetime],
    access_events: Sequence[Event],
    appointments: Iterable[tuple[str | None, Mapping[str, Any]]],
    end: datetime,
) -> dict[str, Any] | None:
    """The access figures of one program, or ``None`` when none of its patients was offered slots.

    ``first_seen`` is when each patient was first eligible or enrolled in the program in the
    period (the gap a visit closes), ``access_events`` the period's
    ``slots_offered`` / ``slot_booked`` events (they carry no program), ``appointments`` the
    enrolled patients' ``Appointment`` resources as (patient id, resource).
    """
    offers = {
        e.subject_id: e.patient_id
        for e in access_events
        if e.kind == OFFERED and e.patient_id in arms and e.subject_id
    }
    if not offers:
        return None
    gap_at = {patient: at for patient, at in first_seen.items() if patient in arms}
    booked_offers = {
        str((e.payload or {}).get("offer"))
        for e in access_events
        if e.kind == BOOKED and (e.payload or {}).get("offer") in offers
    }
    first_visit: dict[str, datetime] = {}
    settled: dict[str, list[bool]] = {}
    for patient, resource in appointments:
        start = instant(resource.get("start"))
        gap = gap_at.get(patient or "")
        if patient is None or start is None or gap is None or start < gap:
            continue
        status = resource.get("status")
        if status not in VISIT_STATUSES:
            continue
        if patient not in first_visit or start < first_visit[patient]:
            first_visit[patient] = start
        if status in SETTLED and start < end:
            settled.setdefault(patient, []).append(status == "noshow")

    def arm_of(name: str) -> list[str]:
        return [p for p, arm in arms.items() if (arm == "holdout") == (name == "holdout")]

    figures: dict[str, Any] = {}
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for name in ("treated", "holdout"):
        patients = arm_of(name)
        outcomes = [missed for p in patients for missed in settled.get(p, [])]
        days = [
            (first_visit[p] - gap_at[p]).total_seconds() / 86400
            for p in patients
            if p in first_visit
        ]
        figures[name] = _median(days)
        counts[name] = {
            "booked": (sum(1 for p in patients if p in first_visit), len(patients)),
            "noshow": (sum(outcomes), len(outcomes)),
        }
    days_difference = (
        round(figures["treated"] - figures["holdout"], 2)
        if figures["treated"] is not None and figures["holdout"] is not None
        else None
    )
    return {
        "offers": len(offers),
        "offers_booked": len(booked_offers),
        "conversion_per_offer": _rate(len(booked_offers), len(offers)),
        "booked": _comparison(counts["treated"]["booked"], counts["holdout"]["booked"]),
        "days_gap_to_visit": {
            "treated_median": figures["treated"],
            "holdout_median": figures["holdout"],
            "difference": days_difference,
        },
        "noshow": _comparison(counts["treated"]["noshow"], counts["holdout"]["noshow"]),
    }
