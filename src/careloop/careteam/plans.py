"""Care-plan adjustments: proposed by a rule or a nurse, decided by a clinician, then watched.

Lifecycle::

    propose ──► PROPOSED ──approve──► APPROVED  (plan_adjusted event; the patient is told
                    │                            through outreach.request_message, or a
                    │                            person is asked to tell them)
                    └─────reject────► REJECTED

Each proposal is also a FHIR ``Task`` (status ``requested``, intent ``proposal``) kept in
the row, so it can be shown or exported as FHIR; the row is the state of record.
At most one proposal of a kind is pending per patient: repeats do not pile up. The row
keeps who proposed it (``proposed_by``); nobody approves their own proposal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import fmean
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import Purpose
from careloop.careteam.alerts import create_task
from careloop.changes import record_change
from careloop.clock import Clock
from careloop.db import get_or_missing
from careloop.errors import CareloopError, Conflict, NotFound, PermissionDenied
from careloop.events import EventKind, record_event
from careloop.feedback.catalog import Catalog
from careloop.feedback.checkins import read_checkin
from careloop.feedback.readings import read_observation
from careloop.feedback.ruleset import (
    AnswerRule,
    Proposal,
    RiseRule,
    Rule,
    Severity,
    SymptomRule,
    ThresholdRule,
    TrendRule,
    rule_by_id,
)
from careloop.fielddicts import field_dict
from careloop.governance.consent import ConsentPurpose
from careloop.models import Patient, PlanAdjustment
from careloop.outreach.requests import RequestedMessage, request_message, request_status
from careloop.queryfilters import where_given
from careloop.records.resources import patient_resources
from careloop.security.principal import Principal
from careloop.settings import Settings

PLAN_CHANGED = "plan_changed"
"""The content library's message explaining an approved plan change."""

TASK_CODES = "https://careloop.dev/fhir/CodeSystem/plan-adjustment"


class PlanStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


def _task(row: PlanAdjustment, *, status: str, intent: str) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": f"plan-adjustment-{row.id}",
        "status": status,
        "intent": intent,
        "code": {"coding": [{"system": TASK_CODES, "code": row.kind}]},
        "for": {"reference": f"Patient/{row.patient_id}"},
        "authoredOn": row.proposed_at.isoformat(),
        "description": row.reason,
        "reasonCode": {"text": row.reason},
        "input": [
            {"type": {"text": key}, "valueString": str(value)}
            for key, value in sorted(row.details.items())
        ],
    }


def propose(
    session: Session,
    *,
    patient_id: str,
    rule_id: str,
    proposal: Proposal,
    item_id: int | None,
    clock: Clock,
    actor: str,
) -> PlanAdjustment | None:
    """Record a proposal unless one of the same kind is already pending for the patient."""
    pending = session.scalar(
        select(PlanAdjustment.id).where(
            PlanAdjustment.patient_id == patient_id,
            PlanAdjustment.kind == str(proposal.kind),
            PlanAdjustment.status == PlanStatus.PROPOSED,
        )
    )
    if pending is not None:
        return None
    row = PlanAdjustment(
        patient_id=patient_id,
        item_id=item_id,
        rule_id=rule_id,
        kind=str(proposal.kind),
        status=str(PlanStatus.PROPOSED),
        reason=proposal.reason,
        details=dict(proposal.details),
        task={},
        proposed_at=clock.now(),
        proposed_by=actor,
    )
    session.add(row)
    session.flush()
    row.task = _task(row, status="requested", intent="proposal")
    session.flush()
    record_event(
        session,
        kind=EventKind.PLAN_PROPOSED,
        clock=clock,
        actor=actor,
        patient_id=patient_id,
        subject_type="plan_adjustment",
        subject_id=str(row.id),
        payload={"kind": row.kind, "rule": rule_id},
    )
    return row


def adjustments_by_id(session: Session, ids: list[int]) -> dict[int, PlanAdjustment]:
    """Plan adjustments by id, read without a lock (for pages showing them), in one query."""
    if not ids:
        return {}
    rows = session.scalars(select(PlanAdjustment).where(PlanAdjustment.id.in_(sorted(set(ids)))))
    return {row.id: row for row in rows}


def get_adjustment(session: Session, adjustment_id: int) -> PlanAdjustment:
    row = session.scalar(
        select(PlanAdjustment).where(PlanAdjustment.id == adjustment_id).with_for_update()
    )
    if row is None:
        raise NotFound("no such plan adjustment")
    return row


def _decide(
    session: Session,
    adjustment_id: int,
    *,
    status: PlanStatus,
    note: str | None,
    clock: Clock,
    principal: Principal,
) -> PlanAdjustment:
    row = get_adjustment(session, adjustment_id)
    if row.status != PlanStatus.PROPOSED:
        raise Conflict(f"the adjustment is already {row.status}")
    if status is PlanStatus.APPROVED and row.proposed_by == principal.actor:
        # Four eyes: a proposal is approved by a clinician other than who proposed it.
        raise PermissionDenied(
            "you proposed this plan change: another clinician (plans:approve) must approve it"
        )
    row.status = str(status)
    row.decided_at = clock.now()
    row.decided_by = principal.actor
    row.decision_note = (note or "").strip()[:2000] or None
    approved = status is PlanStatus.APPROVED
    row.task = _task(
        row,
        status="accepted" if approved else "rejected",
        intent="plan" if approved else "proposal",
    )
    payload: dict[str, Any] = {"kind": row.kind, "rule": row.rule_id}
    record_change(
        session,
        clock=clock,
        principal=principal,
        event=EventKind.PLAN_ADJUSTED if approved else EventKind.PLAN_REJECTED,
        subject=("plan_adjustment", row.id),
        patient_id=row.patient_id,
        payload=payload | {"details": row.details} if approved else payload,
        resource=f"plan-adjustment:{status}",
        purpose=Purpose.TREATMENT,
        detail={"adjustment": row.id},
    )
    return row


def approve(
    session: Session,
    adjustment_id: int,
    *,
    clock: Clock,
    principal: Principal,
    settings: Settings,
    note: str | None = None,
) -> PlanAdjustment:
    """PROPOSED → APPROVED, and the patient is told (see :func:`explain_change`)."""
    row = _decide(
        session,
        adjustment_id,
        status=PlanStatus.APPROVED,
        note=note,
        clock=clock,
        principal=principal,
    )
    explain_change(session, row, clock=clock, settings=settings)
    return row


def explain_change(
    session: Session, row: PlanAdjustment, *, clock: Clock, settings: Settings
) -> RequestedMessage:
    """Ask outreach to tell the patient their plan changed, in their language, on the channel
    the engine picks; when no message can reach them, a person is asked to call instead."""
    asked = request_message(
        session,
        patient_id=row.patient_id,
        message=PLAN_CHANGED,
        purpose=str(ConsentPurpose.CLINICAL_MONITORING),
        key=_explain_key(row.id),
        now=clock.now(),
        clock=clock,
        settings=settings,
    )
    if asked.outbox_id is None:
        create_task(
            session,
            patient_id=row.patient_id,
            rule_id=f"plan-explain:{row.id}",
            title="Tell the patient about the plan change",
            summary=f"An approved plan change could not be sent ({asked.not_queued}).",
            severity=Severity.ROUTINE,
            clock=clock,
            actor="system:careteam",
            team="care-coordination",
            values={"adjustment": row.id},
        )
    return asked


def _explain_key(adjustment_id: int) -> str:
    return f"plan-adjustment:{adjustment_id}"


@dataclass(frozen=True)
class ToldPatient:
    """How the patient hears of an approved change, for the clinician who approved it."""

    adjustment_id: int
    patient_id: str
    channel: str | None
    """None: no message could be queued, and a task asks a person to tell the patient."""
    due_at: datetime | None
    sent: bool
    patient_timezone: str | None = None


def told_patient(session: Session, adjustment_id: int) -> ToldPatient | None:
    """What became of :func:`explain_change` for an approved adjustment (None when the
    adjustment is unknown or not approved): a clinician approved and saw nothing of it."""
    row = session.get(PlanAdjustment, adjustment_id)
    if row is None or row.status != PlanStatus.APPROVED:
        return None
    status = request_status(session, key=_explain_key(row.id))
    if status is None:
        return ToldPatient(row.id, row.patient_id, None, None, sent=False)
    patient = session.get(Patient, row.patient_id)
    return ToldPatient(
        row.id,
        row.patient_id,
        status.channel,
        status.due_at,
        sent=status.sent,
        patient_timezone=patient.timezone if patient is not None else None,
    )


def reject(
    session: Session,
    adjustment_id: int,
    *,
    clock: Clock,
    principal: Principal,
    note: str | None = None,
) -> PlanAdjustment:
    """PROPOSED → REJECTED (the note says why, for the next reviewer)."""
    return _decide(
        session,
        adjustment_id,
        status=PlanStatus.REJECTED,
        note=note,
        clock=clock,
        principal=principal,
    )


@dataclass(frozen=True)
class AdjustmentOutcome:
    adjustment_id: int
    metric: str
    before_mean: float | None
    after_mean: float | None
    n_before: int
    n_after: int
    verdict: str  # "improved" | "not_improved" | "insufficient_data" | "pending"

    def as_dict(self) -> dict[str, Any]:
        return field_dict(self)


def _metric(rule: Rule) -> str:
    if isinstance(rule, TrendRule | RiseRule):
        return rule.measure
    if isinstance(rule, ThresholdRule):
        return rule.conditions[0].measure
    if isinstance(rule, SymptomRule):
        return "max_symptom_grade"
    if isinstance(rule, AnswerRule):
        return rule.item
    raise ValueError(f"rule {rule.id} has no metric to monitor")


def adjustment_outcome(
    session: Session,
    adjustment_id: int,
    *,
    now: datetime,
    rules: list[Rule],
    catalog: Catalog,
    window_days: int = 14,
    min_after: int = 3,
) -> AdjustmentOutcome:
    """Did the readings (or answers) that triggered the change go down after it was approved?

    Compares the mean in ``window_days`` before approval with the mean after it (lower is
    better for every metric our rules watch: blood pressure, glucose, weight, symptom
    grades, missed doses).
    """
    row = get_or_missing(session, PlanAdjustment, adjustment_id, "no such plan adjustment")
    metric = _metric(rule_by_id(rules, row.rule_id))
    if row.status != PlanStatus.APPROVED or row.decided_at is None:
        return AdjustmentOutcome(row.id, metric, None, None, 0, 0, "pending")
    start = row.decided_at - timedelta(days=window_days)
    end = min(now, row.decided_at + timedelta(days=window_days))
    points: list[tuple[datetime, float]] = []
    if metric in ("max_symptom_grade",) or "|" in metric:
        for response in patient_resources(
            session,
            patient_id=row.patient_id,
            resource_types=["QuestionnaireResponse"],
            since=start,
        ):
            try:
                checkin = read_checkin(
                    catalog.get(str(response.get("questionnaire"))), response, now=None
                )
            except CareloopError:  # an unknown questionnaire carries no metric
                continue
            if checkin.authored is None:
                continue
            if metric == "max_symptom_grade":
                grades = [
                    a.number
                    for k, a in checkin.answers.items()
                    if k.startswith("https://careloop.dev/fhir/CodeSystem/symptom|")
                    and a.number is not None
                ]
                if grades:
                    points.append((checkin.authored, max(grades)))
            elif metric in checkin.answers and checkin.answers[metric].number is not None:
                points.append((checkin.authored, float(checkin.answers[metric].number or 0)))
    else:
        for observation in patient_resources(
            session, patient_id=row.patient_id, resource_types=["Observation"], since=start
        ):
            points.extend(
                (r.at, r.value)
                for r in read_observation(observation, now=None)
                if r.measure == metric
            )
    before = [v for at, v in points if start <= at <= row.decided_at]
    after = [v for at, v in points if row.decided_at < at <= end]
    b = fmean(before) if before else None
    a = fmean(after) if after else None
    if b is None or a is None or len(after) < min_after:
        verdict = "insufficient_data"
    else:
        verdict = "improved" if a < b else "not_improved"
    return AdjustmentOutcome(
        row.id,
        metric,
        round(b, 2) if b is not None else None,
        round(a, 2) if a is not None else None,
        len(before),
        len(after),
        verdict,
    )


def list_adjustments(
    session: Session, *, status: str | None = None, patient_id: str | None = None, limit: int = 200
) -> list[PlanAdjustment]:
    query = where_given(
        select(PlanAdjustment),
        (PlanAdjustment.status, status),
        (PlanAdjustment.patient_id, patient_id),
    )
    return list(session.scalars(query.order_by(PlanAdjustment.proposed_at.desc()).limit(limit)))
