"""What careloop learned, as FHIR resources an EHR can read: alerts as ``Flag`` plus a
``Task`` for the work, worklist tasks as ``Task``, plan changes as ``CarePlan`` (and their
review ``Task``), conversations as ``Communication``, program results as ``MeasureReport``
(``fhir.measure_reports``).

These resources are projections of careloop's own rows, built when asked: they are always
current, never a second copy to keep in step, and their version id changes when the row
does. Ids are prefixed by kind (``alert-7``, ``worklist-7``, ``plan-adjustment-3``,
``out-12``, ``in-4``) so a read finds its row without a lookup table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.careteam.alerts import ItemKind, ItemStatus
from careloop.careteam.plans import PlanStatus
from careloop.careteam.worklist import adjustments_of, items_of
from careloop.fhir.measure_reports import measure_reports
from careloop.models import PlanAdjustment, WorklistItem
from careloop.outreach.messages import conversation
from careloop.outreach.states import OutboxState
from careloop.records.fhir_query import StoredResource
from careloop.records.service import patient_ids as all_patient_ids

RULES = "https://careloop.dev/fhir/CodeSystem/rule"
WORK = "https://careloop.dev/fhir/CodeSystem/worklist-kind"
PLAN_KINDS = "https://careloop.dev/fhir/CodeSystem/plan-adjustment"
MEDIUM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
COMM_CATEGORY = "https://careloop.dev/fhir/CodeSystem/communication-category"
_TASK_STATUS = {
    ItemStatus.OPEN: "requested",
    ItemStatus.ACKNOWLEDGED: "in-progress",
    ItemStatus.RESOLVED: "completed",
}
_PRIORITY = {"urgent": "stat", "high": "urgent"}
_MODE = {"sms": "SMSWRIT", "email": "EMAILWRIT", "voice": "PHONE", "portal": "ELECTRONIC"}
_CARE_PLAN_STATUS = {
    PlanStatus.PROPOSED: "draft",
    PlanStatus.APPROVED: "active",
    PlanStatus.REJECTED: "revoked",
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _patient(patient_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def flag_of(item: WorklistItem) -> dict[str, Any]:
    if item.patient_id is None:  # only tasks from unknown senders lack a patient; never alerts
        raise ValueError(f"worklist item {item.id} has no patient: not an alert Flag")
    period = {"start": _iso(item.raised_at)}
    if item.resolved_at is not None:
        period["end"] = _iso(item.resolved_at)
    return {
        "resourceType": "Flag",
        "id": f"alert-{item.id}",
        "status": "inactive" if item.status == ItemStatus.RESOLVED else "active",
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical"}]}],
        "code": {
            "coding": [{"system": RULES, "code": item.rule_id, "display": item.title}],
            "text": item.title,
        },
        "subject": _patient(item.patient_id),
        "period": period,
    }


def task_of(item: WorklistItem) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"worklist-{item.id}",
        "status": _TASK_STATUS.get(ItemStatus(item.status), "requested"),
        "intent": "order",
        "priority": _PRIORITY.get(item.severity, "routine"),
        "code": {"coding": [{"system": WORK, "code": item.kind}], "text": item.title},
        "description": item.title,
        "authoredOn": _iso(item.raised_at),
        "lastModified": _iso(item.resolved_at or item.acknowledged_at or item.last_seen_at),
        "restriction": {"period": {"end": _iso(item.due_at)}},
    }
    if item.patient_id is not None:  # a task about an unknown sender is for nobody yet
        task["for"] = _patient(item.patient_id)
    if item.kind == ItemKind.ALERT:
        task["focus"] = {"reference": f"Flag/alert-{item.id}"}
    if item.assignee:
        task["owner"] = {"display": item.assignee}
    if item.outcome:
        task["output"] = [{"type": {"text": "outcome"}, "valueString": item.outcome}]
    return task


def care_plan_of(row: PlanAdjustment) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": f"plan-adjustment-{row.id}",
        "status": _CARE_PLAN_STATUS.get(PlanStatus(row.status), "unknown"),
        "intent": "plan",
        "subject": _patient(row.patient_id),
        "created": _iso(row.proposed_at),
        "period": {"start": _iso(row.decided_at or row.proposed_at)},
        "description": row.reason,
        "activity": [
            {
                "detail": {
                    "code": {"coding": [{"system": PLAN_KINDS, "code": row.kind}]},
                    "status": "scheduled" if row.status == PlanStatus.APPROVED else "not-started",
                    "description": row.reason,
                }
            }
        ],
    }


def review_task_of(row: PlanAdjustment) -> dict[str, Any]:
    task = dict(row.task)
    task["focus"] = {"reference": f"CarePlan/plan-adjustment-{row.id}"}
    return task


_SENT_STATUS: dict[str, str] = {
    OutboxState.QUEUED: "preparation",
    OutboxState.FAILED_TRANSIENT: "preparation",  # to be tried again
    OutboxState.SENDING: "in-progress",
    OutboxState.SENT: "completed",
    OutboxState.DELIVERED: "completed",
    OutboxState.IN_DOUBT: "unknown",
    OutboxState.DEAD: "not-done",
}
"""An outbox state as a Communication status: only a message that left is ``completed``
and has a ``sent`` time (a dead one, or one queued for tonight, was never sent)."""


def communications_of(session: Session, patient_id: str) -> list[StoredResource]:
    """The patient's conversation: messages out, replies in (``inResponseTo`` the last
    message sent before the reply)."""
    items = sorted(conversation(session, patient_id=patient_id, limit=10_000), key=lambda i: i.at)
    found: list[StoredResource] = []
    last_out: str | None = None
    for item in items:
        comm_id = f"{item.direction}-{item.id}"
        resource: dict[str, Any] = {
            "resourceType": "Communication",
            "id": comm_id,
            "status": "completed"
            if item.direction == "in"
            else _SENT_STATUS.get(item.state, "unknown"),
            "category": [
                {
                    "coding": [
                        {
                            "system": COMM_CATEGORY,
                            "code": "outreach" if item.direction == "out" else "reply",
                        }
                    ]
                }
            ],
            "medium": [
                {"coding": [{"system": MEDIUM, "code": _MODE.get(item.channel, "ELECTRONIC")}]}
            ],
            "subject": _patient(patient_id),
            "payload": [{"contentString": item.body}],
        }
        if item.direction == "out":
            if resource["status"] == "completed":  # a queued or dead one has not been sent
                resource["sent"] = _iso(item.at)
                last_out = comm_id
            resource["recipient"] = [_patient(patient_id)]
        else:
            resource["received"] = _iso(item.at)
            # A caregiver's portal message is the caregiver's (RelatedPerson), not the patient's.
            resource["sender"] = (
                {"reference": f"RelatedPerson/{item.caregiver_id}"}
                if item.caregiver_id
                else _patient(patient_id)
            )
            if last_out is not None:
                resource["inResponseTo"] = [{"reference": f"Communication/{last_out}"}]
        # lastUpdated is when the row changed: ``at`` of a queued message is its future due
        # time, and an EHR syncing by _lastUpdated would skip it until then.
        found.append(StoredResource(resource, patient_id, item.changed_at or item.at))
    return found


Projector = Callable[[Session, list[str] | None], list[StoredResource]]


def _flags(session: Session, patients: list[str] | None) -> list[StoredResource]:
    return [
        StoredResource(flag_of(i), i.patient_id, i.resolved_at or i.last_seen_at)
        for i in items_of(session, patient_ids=patients)
        if i.kind == ItemKind.ALERT and i.patient_id is not None
    ]


def _tasks(session: Session, patients: list[str] | None) -> list[StoredResource]:
    work = [
        StoredResource(
            task_of(i), i.patient_id, i.resolved_at or i.acknowledged_at or i.last_seen_at
        )
        for i in items_of(session, patient_ids=patients)
    ]
    reviews = [
        StoredResource(review_task_of(r), r.patient_id, r.decided_at or r.proposed_at)
        for r in adjustments_of(session, patient_ids=patients)
    ]
    return work + reviews


def _care_plans(session: Session, patients: list[str] | None) -> list[StoredResource]:
    return [
        StoredResource(care_plan_of(r), r.patient_id, r.decided_at or r.proposed_at)
        for r in adjustments_of(session, patient_ids=patients)
    ]


def _communications(session: Session, patients: list[str] | None) -> list[StoredResource]:
    found: list[StoredResource] = []
    for patient_id in patients if patients is not None else all_patient_ids(session):
        found.extend(communications_of(session, patient_id))
    return found


PROJECTED: dict[str, Projector] = {
    "Flag": _flags,
    "Task": _tasks,
    "CarePlan": _care_plans,
    "Communication": _communications,
    "MeasureReport": measure_reports,
}
"""Types careloop writes back, each built from the rows of the domain that learned it."""

PROJECTION_IDS: dict[str, re.Pattern[str]] = {
    "Flag": re.compile(r"alert-\d+"),
    "Task": re.compile(r"(worklist|plan-adjustment)-\d+"),
    "CarePlan": re.compile(r"plan-adjustment-\d+"),
    "Communication": re.compile(r"(out|in)-\d+"),
    "MeasureReport": re.compile(r"gap-\d+|summary-[0-9a-f]+"),
}
"""The ids of the projections above, by type; a stored resource of these types (a CarePlan
from the EHR) has an id of its source's."""


def is_projection(reference: str) -> bool:
    """Whether ``Type/id`` names one of careloop's projections, not a stored resource."""
    rtype, _, rid = reference.partition("/")
    pattern = PROJECTION_IDS.get(rtype)
    return pattern is not None and pattern.fullmatch(rid) is not None
