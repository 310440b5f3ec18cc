"""Refill-due outreach before the supply runs out, and call tasks for non-adherence.

The supply of a medicine runs out the day after its last dispense's coverage ends, with early
refills shifted forward as PDC counts them (``insights.adherence``). When that day is within
``REFILL_LEAD_DAYS`` (or already past, up to ``GAP_FOLLOW_DAYS``) and the medicine is still
active in the plan, the patient gets ``refill_due`` through ``request_message`` (once per
supply period: the key is the run-out date). A patient whose refill trajectory bands high
non-adherence risk gets one pharmacist call task on the worklist instead of more messages.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.careteam.alerts import create_task
from careloop.clock import Clock
from careloop.feedback.ruleset import Severity
from careloop.insights.adherence import (
    AdherenceBand,
    Fill,
    adherence_risk,
    fills_from_dispenses,
    pdc_trajectory,
)
from careloop.medications.reminders import ReminderReport
from careloop.medications.service import patient_of, sync_plan
from careloop.outreach.requests import request_message
from careloop.records.service import resources_of_type
from careloop.settings import Settings

REFILL_LEAD_DAYS = 7
GAP_FOLLOW_DAYS = 14
REFILL_MESSAGE = "refill_due"
NONADHERENCE_RULE = "medication-nonadherence"


@dataclass
class RefillReport(ReminderReport):
    """What one refill pass queued or could not queue, and the call tasks it raised."""

    call_tasks: list[int] = field(default_factory=list)


def runs_out(fills: list[Fill]) -> date | None:
    """The first day without supply, early refills shifted forward."""
    end: date | None = None
    for fill in sorted(fills, key=lambda f: f.handed_over):
        start = fill.handed_over if end is None else max(fill.handed_over, end)
        end = start + timedelta(days=fill.days_supply)
    return end


def refill_pass(
    session: Session, *, now: datetime, clock: Clock, settings: Settings
) -> RefillReport:
    """Queue refill reminders that are due and raise call tasks for high non-adherence risk."""
    report = RefillReport()
    dispenses: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for patient_id, resource in resources_of_type(session, resource_type="MedicationDispense"):
        if patient_id is not None:
            dispenses[patient_id].append(resource)
    for patient_id, own in sorted(dispenses.items()):
        drugs: dict[str, list[Fill]] = defaultdict(list)
        for fill in fills_from_dispenses(own).fills:
            drugs[fill.drug].append(fill)
        keys = {
            s.medication_key
            for s in sync_plan(session, patient_id=patient_id, now=now)
            if s.status == "active"
        }
        today = now.astimezone(ZoneInfo(patient_of(session, patient_id).timezone)).date()
        for drug, fills in sorted(drugs.items()):
            if drug not in keys:
                continue
            _refill(
                session,
                patient_id,
                drug,
                fills,
                today=today,
                now=now,
                clock=clock,
                settings=settings,
                report=report,
            )
    session.flush()
    return report


def _refill(
    session: Session,
    patient_id: str,
    drug: str,
    fills: list[Fill],
    *,
    today: date,
    now: datetime,
    clock: Clock,
    settings: Settings,
    report: RefillReport,
) -> None:
    end = runs_out(fills)
    if end is None or not -GAP_FOLLOW_DAYS <= (end - today).days <= REFILL_LEAD_DAYS:
        return
    risk = adherence_risk(pdc_trajectory(fills, end=today, window_days=30))
    if risk.band == AdherenceBand.HIGH:
        raised = create_task(
            session,
            patient_id=patient_id,
            rule_id=NONADHERENCE_RULE,
            title="Pharmacist call: refills show low adherence",
            summary="; ".join(risk.reasons) + f"; supply of {drug} ends {end.isoformat()}.",
            severity=Severity.ROUTINE,
            clock=clock,
            actor="medications",
            program="medications",
            evidence=("PQA PDC < 0.8 (insights.adherence)",),
        )
        if raised.created:
            report.call_tasks.append(raised.item_id)
    days_left = max((end - today).days, 0)
    sent = request_message(
        session,
        patient_id=patient_id,
        message=REFILL_MESSAGE,
        purpose="care-reminders",
        key=f"refill:{patient_id}:{drug}:{end.isoformat()}",
        now=now,
        clock=clock,
        settings=settings,
        fields={"days_left": days_left},
        program="medications-refill",
    )
    report.count(sent)
