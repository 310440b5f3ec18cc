"""Figures of medications and exam preparation for ``careloop report`` (aggregates only).

Dose answers (taken / later / skipped and the share taken), PDC from dispenses of patients
with a medication plan (PQA method, ``insights.adherence``), refill gaps (a refill collected
after the previous supply ran out), exam preparation (understood, nurse tasks, prep adequate
among recorded outcomes) and adverse-event cases (serious, overdue, median hours to triage).
None of these programs has a holdout arm yet, so no uplift is claimed (``holdout: null``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from statistics import mean, median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.insights.adherence import Fill, fills_from_dispenses, pdc_by_patient
from careloop.models import AdverseEventCase, DoseConfirmation, MedicationSlot, PrepJourney
from careloop.records.service import resources_of_type


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _doses(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    answers = Counter(
        session.scalars(
            select(DoseConfirmation.answer).where(
                DoseConfirmation.confirmed_at >= start, DoseConfirmation.confirmed_at < end
            )
        )
    )
    decided = answers["taken"] + answers["skipped"]
    return {
        "taken": answers["taken"],
        "later": answers["later"],
        "skipped": answers["skipped"],
        "confirmation_rate": _rate(answers["taken"], decided),
    }


def _refills(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    planned = set(session.scalars(select(MedicationSlot.patient_id).distinct()))
    dispenses = [
        r
        for pid, r in resources_of_type(session, resource_type="MedicationDispense")
        if pid in planned
    ]
    fills = fills_from_dispenses(dispenses).fills
    pdcs = [
        p
        for p in pdc_by_patient(fills, period_start=start.date(), period_end=end.date())
        if p.eligible
    ]
    by_drug: dict[tuple[str, str], list[Fill]] = defaultdict(list)
    for fill in fills:
        by_drug[(fill.patient, fill.drug)].append(fill)
    gaps = 0
    for group in by_drug.values():
        ends = None
        for fill in sorted(group, key=lambda f: f.handed_over):
            if ends is not None and fill.handed_over > ends and start.date() <= fill.handed_over:
                gaps += 1
            begin = fill.handed_over if ends is None else max(fill.handed_over, ends)
            ends = begin + timedelta(days=fill.days_supply)
    return {
        "patients_with_pdc": len(pdcs),
        "mean_pdc": round(mean(p.pdc for p in pdcs), 3) if pdcs else None,
        "adherent_rate": _rate(sum(p.adherent for p in pdcs), len(pdcs)),
        "refill_gaps": gaps,
    }


def _prep(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    rows = list(
        session.scalars(
            select(PrepJourney).where(
                PrepJourney.appointment_at >= start,
                PrepJourney.appointment_at < end + timedelta(days=30),
            )
        )
    )
    outcomes = Counter(r.outcome for r in rows if r.outcome)
    return {
        "journeys": len(rows),
        "understood": sum(r.status == "understood" for r in rows),
        "nurse_tasks": sum(r.status == "task" for r in rows),
        "prep_adequate_rate": _rate(outcomes["adequate"], sum(outcomes.values())),
        "rescheduled_for_prep": outcomes["rescheduled-for-prep"],
    }


def _ae(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    rows = list(
        session.scalars(
            select(AdverseEventCase).where(
                AdverseEventCase.received_at >= start, AdverseEventCase.received_at < end
            )
        )
    )
    hours = [(r.triaged_at - r.received_at).total_seconds() / 3600 for r in rows if r.triaged_at]
    return {
        "cases": len(rows),
        "serious": sum(r.serious for r in rows),
        "untriaged_overdue": sum(r.status == "new" and r.due_at < end for r in rows),
        "median_hours_to_triage": round(median(hours), 1) if hours else None,
    }


def medication_figures(session: Session, *, start: datetime, end: datetime) -> dict[str, Any]:
    """The ``medications`` section of the report."""
    return {
        "doses": _doses(session, start, end),
        "adherence": _refills(session, start, end),
        "exam_prep": _prep(session, start, end),
        "adverse_events": _ae(session, start, end),
        "holdout": None,
    }
