"""Closing the loop: an input arrives, is stored, the rules run, the care team hears.

One function per way in (a reading, a check-in, a FHIR batch, one SMS reply), each doing
the same four steps inside the caller's transaction: validate and store (feedback), load
the patient's recent record, evaluate the rules (pure), then put findings on the worklist
and record any proposed plan adjustment (careteam). Because it is one transaction, an alert
is visible on the worklist the moment the input is acknowledged, and a failure leaves
neither a reading without its alert nor an alert without its reading.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.careteam import alerts as worklist_alerts
from careloop.careteam import plans
from careloop.clock import Clock, FrozenClock
from careloop.errors import InvalidInput, NotFound
from careloop.events import EventKind, record_event
from careloop.feedback import conversation
from careloop.feedback.catalog import Catalog, default_catalog
from careloop.feedback.evaluate import Finding, NewInput, evaluate, missing_data_actions
from careloop.feedback.ruleset import Rule, Severity, default_rules
from careloop.feedback.service import (
    check_observation,
    check_questionnaire_response,
    store_checkin,
    store_observation,
)
from careloop.feedback.snapshot import load_snapshot
from careloop.models import CheckinConversation, Event
from careloop.security.principal import Principal
from careloop.security.roles import Role

INGEST = Principal(actor="system:feedback", role=Role.CLINICIAN, source="feedback")


@dataclass
class IntakeResult:
    status: str  # "accepted" | "duplicate"
    resource_type: str
    resource_id: str
    patient_id: str
    alerts: list[int] = field(default_factory=list)
    new_alerts: list[int] = field(default_factory=list)
    proposals: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def act_on_findings(
    session: Session, findings: Sequence[Finding], *, clock: Clock, actor: str
) -> tuple[list[int], list[int], list[int]]:
    """Worklist items for findings (deduplicated) and proposals for their adjustments."""
    items, created, proposals = [], [], []
    for finding in findings:
        raised = worklist_alerts.raise_finding(session, finding, clock=clock, actor=actor)
        items.append(raised.item_id)
        if raised.created:
            created.append(raised.item_id)
        if finding.proposal is not None and not raised.suppressed:
            row = plans.propose(
                session,
                patient_id=finding.patient_id,
                rule_id=finding.rule_id,
                proposal=finding.proposal,
                item_id=raised.item_id,
                clock=clock,
                actor=actor,
            )
            if row is not None:
                proposals.append(row.id)
    return items, created, proposals


def receive_observation(
    session: Session,
    observation: dict[str, Any],
    *,
    clock: Clock,
    principal: Principal,
    source: str,
    rules: Sequence[Rule] | None = None,
    catalog: Catalog | None = None,
) -> IntakeResult:
    """A device reading: check it, run the rules on the record, store it, raise findings."""
    now = clock.now()
    checked = check_observation(session, observation, now=now)
    result = IntakeResult(
        "duplicate" if checked.duplicate else "accepted",
        "Observation",
        checked.resource_id,
        checked.patient_id,
    )
    if checked.duplicate:
        return result
    snapshot = load_snapshot(
        session,
        patient_id=checked.patient_id,
        now=now,
        catalog=catalog or default_catalog(),
        checkins=False,
    )
    new = NewInput(
        patient_id=checked.patient_id,
        readings=checked.readings,
        source=f"Observation/{checked.resource_id}",
    )
    findings = evaluate(rules or default_rules(), snapshot=snapshot, new_input=new, now=now)
    # Writes last: from here to commit the audit chain's head row is locked.
    store_observation(session, checked, clock=clock, principal=principal, source=source)
    result.alerts, result.new_alerts, result.proposals = act_on_findings(
        session, findings, clock=clock, actor=principal.actor
    )
    return result


def receive_questionnaire_response(
    session: Session,
    response: dict[str, Any],
    *,
    clock: Clock,
    principal: Principal,
    source: str,
    channel: str = "api",
    rules: Sequence[Rule] | None = None,
    catalog: Catalog | None = None,
) -> IntakeResult:
    """A check-in: validate against its Questionnaire, run the rules, store, raise findings."""
    catalog = catalog or default_catalog()
    now = clock.now()
    checked = check_questionnaire_response(session, response, now=now, catalog=catalog)
    snapshot = load_snapshot(
        session, patient_id=checked.patient_id, now=now, catalog=catalog, readings=False
    )
    snapshot = replace(
        snapshot,
        checkins=tuple(c for c in snapshot.checkins if c.response_id != checked.resource_id),
    )
    new = NewInput(
        patient_id=checked.patient_id,
        checkin=checked.checkin,
        source=f"QuestionnaireResponse/{checked.resource_id}",
    )
    findings = evaluate(rules or default_rules(), snapshot=snapshot, new_input=new, now=now)
    store_checkin(
        session, checked, clock=clock, principal=principal, source=source, channel=channel
    )
    result = IntakeResult(
        "accepted", "QuestionnaireResponse", checked.resource_id, checked.patient_id
    )
    result.alerts, result.new_alerts, result.proposals = act_on_findings(
        session, findings, clock=clock, actor=principal.actor
    )
    return result


def receive_resource(
    session: Session,
    resource: dict[str, Any],
    *,
    clock: Clock,
    principal: Principal,
    source: str,
    rules: Sequence[Rule] | None = None,
    catalog: Catalog | None = None,
) -> IntakeResult:
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if rtype == "Observation":
        return receive_observation(
            session,
            resource,
            clock=clock,
            principal=principal,
            source=source,
            rules=rules,
            catalog=catalog,
        )
    if rtype == "QuestionnaireResponse":
        return receive_questionnaire_response(
            session,
            resource,
            clock=clock,
            principal=principal,
            source=source,
            rules=rules,
            catalog=catalog,
        )
    raise InvalidInput(
        "resourceType: only Observation and QuestionnaireResponse are accepted here",
        field="resourceType",
    )


def _outcome(status: str, message: str, field_name: str | None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": "invalid", "diagnostics": message}
    if field_name:
        issue["expression"] = [field_name]
    return {"status": status, "outcome": {"resourceType": "OperationOutcome", "issue": [issue]}}


def receive_bundle(
    session: Session,
    bundle: dict[str, Any],
    *,
    clock: Clock,
    principal: Principal,
    source: str,
    patient_guard: Any = None,
) -> tuple[dict[str, Any], list[IntakeResult]]:
    """A FHIR batch (each entry on its own) or transaction (all or nothing) Bundle.

    ``patient_guard(resource)`` may refuse an entry (e.g. a patient posting for another).
    """
    kind = bundle.get("type")
    if bundle.get("resourceType") != "Bundle" or kind not in ("batch", "transaction"):
        raise InvalidInput("type: a batch or transaction Bundle is required", field="type")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or not entries:
        raise InvalidInput("entry: the Bundle has no entries", field="entry")
    responses: list[dict[str, Any]] = []
    results: list[IntakeResult] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            problem = InvalidInput(f"entry[{index}].resource is missing", field="resource")
            if kind == "transaction":
                raise InvalidInput(str(problem), field=f"entry[{index}].resource")
            responses.append({"response": _outcome("400 Bad Request", str(problem), "resource")})
            continue
        try:
            if kind == "batch":
                with session.begin_nested():
                    if patient_guard is not None:
                        patient_guard(resource)
                    result = receive_resource(
                        session, resource, clock=clock, principal=principal, source=source
                    )
            else:
                if patient_guard is not None:
                    patient_guard(resource)
                result = receive_resource(
                    session, resource, clock=clock, principal=principal, source=source
                )
        except InvalidInput as exc:
            if kind == "transaction":
                raise InvalidInput(
                    f"entry[{index}]: {exc}", field=f"entry[{index}].resource.{exc.field or ''}"
                ) from None
            responses.append(
                {"response": _outcome("422 Unprocessable Entity", str(exc), exc.field)}
            )
            continue
        except NotFound as exc:
            if kind == "transaction":
                raise
            responses.append({"response": _outcome("404 Not Found", str(exc), None)})
            continue
        results.append(result)
        status = "200 OK" if result.status == "duplicate" else "201 Created"
        responses.append(
            {
                "response": {
                    "status": status,
                    "location": f"{result.resource_type}/{result.resource_id}",
                }
            }
        )
    reply = {"resourceType": "Bundle", "type": f"{kind}-response", "entry": responses}
    return reply, results


# -- check-ins one question per message ---------------------------------------------------


@dataclass(frozen=True)
class CheckinReply:
    """What the SMS webhook should send back, and what happened."""

    message: str | None
    step: str | None
    status: str | None
    conversation_id: int | None
    result: IntakeResult | None = None


def _active_conversation(session: Session, patient_id: str) -> CheckinConversation | None:
    return session.scalar(
        select(CheckinConversation)
        .where(
            CheckinConversation.patient_id == patient_id,
            CheckinConversation.status == conversation.ConversationStatus.ASKING,
        )
        .order_by(CheckinConversation.started_at.desc(), CheckinConversation.id.desc())
        .limit(1)
        .with_for_update()
    )


def start_checkin(
    session: Session,
    *,
    patient_id: str,
    questionnaire: str,
    now: datetime,
    channel: str = "sms",
    catalog: Catalog | None = None,
) -> tuple[int, str]:
    """Open a conversation for a patient; returns (conversation id, first message).

    A conversation still in progress is closed as abandoned: the newest check-in wins.
    """
    from careloop.records.service import get_patient

    get_patient(session, patient_id)
    q = (catalog or default_catalog()).get(questionnaire)
    previous = _active_conversation(session, patient_id)
    if previous is not None:
        previous.status = "abandoned"
        previous.updated_at = now
    state = conversation.start(q, channel=channel)
    row = CheckinConversation(
        patient_id=patient_id,
        questionnaire_id=str(q["id"]),
        channel=channel,
        status=str(state.status),
        state=state.to_dict(),
        started_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    prompt = conversation.next_prompt(state)
    assert prompt is not None
    return row.id, prompt


def handle_checkin_reply(
    session: Session,
    *,
    patient_id: str,
    text: str,
    now: datetime,
    keypad: bool = False,
    catalog: Catalog | None = None,
) -> CheckinReply:
    """One inbound SMS (or keypad entry) for a patient's check-in in progress.

    Returns the message to send back; ``message`` is None when no check-in is in progress
    (the webhook then treats the text as an ordinary reply).
    """
    row = _active_conversation(session, patient_id)
    if row is None:
        return CheckinReply(None, None, None, None)
    clock = FrozenClock(now)
    state = conversation.ConversationState.from_dict(row.state)
    accept = conversation.accept_keypad if keypad else conversation.accept_reply
    state, step = accept(state, text, now)
    row.state, row.status, row.updated_at = state.to_dict(), str(state.status), now
    record_event(
        session,
        kind=EventKind.REPLIED,
        clock=clock,
        actor=f"patient:{patient_id}",
        patient_id=patient_id,
        subject_type="checkin_conversation",
        subject_id=str(row.id),
        payload={
            "channel": row.channel,
            "understood": step is not conversation.Step.REPROMPT,
            "step": str(step),
        },
    )
    if step is conversation.Step.REPROMPT:
        return CheckinReply(
            conversation.reprompt_message(state), str(step), str(state.status), row.id
        )
    if step is conversation.Step.NEXT:
        return CheckinReply(conversation.next_prompt(state), str(step), str(state.status), row.id)
    result = None
    if state.answers:
        response = conversation.to_response(
            state,
            questionnaire=(catalog or default_catalog()).get(state.questionnaire),
            response_id=f"qr-{uuid.uuid4().hex}",
            patient_ref=f"Patient/{_patient_fhir_id(session, patient_id)}",
            authored=now,
        )
        result = receive_questionnaire_response(
            session,
            response,
            clock=clock,
            principal=INGEST,
            source=f"checkin:{row.channel}",
            channel=row.channel,
            catalog=catalog,
        )
        row.response_id = result.resource_id
    if state.status is conversation.ConversationStatus.NEEDS_STAFF:
        worklist_alerts.create_task(
            session,
            patient_id=patient_id,
            rule_id="checkin-needs-staff",
            title="Check-in replies not understood: please call",
            severity=Severity.HIGH,
            summary=f"{len(state.unparsed)} replies could not be read; "
            f"{len(state.answers)} of {len(state.questions)} questions answered.",
            clock=clock,
            actor="system:feedback",
            team="care-coordination",
            values={"conversation": row.id},
            evidence=("careloop check-in policy: after 2 re-asks a person takes over",),
        )
    session.flush()
    return CheckinReply(
        conversation.closing_message(state), str(step), str(state.status), row.id, result
    )


def _patient_fhir_id(session: Session, patient_id: str) -> str:
    """The FHIR id of one of the patient's Patient resources (the subject of new resources)."""
    from careloop.models import FhirResource

    fhir_id = session.scalar(
        select(FhirResource.fhir_id)
        .where(FhirResource.resource_type == "Patient", FhirResource.patient_id == patient_id)
        .order_by(FhirResource.imported_at)
        .limit(1)
    )
    if fhir_id is None:
        raise NotFound("no such patient")
    return str(fhir_id)


# -- scheduled: readings that stopped --------------------------------------------------------


def evaluate_missing_data(
    session: Session, now: datetime, *, rules: Sequence[Rule] | None = None
) -> dict[str, list[str]]:
    """Nudge patients whose readings stopped (through outreach), then give staff a task.

    Run on a schedule. A patient is nudged at most once per gap; the task is raised once
    per gap too (an open task absorbs repeats, a task resolved after the last reading is
    not raised again).
    """
    rules = rules or default_rules()
    clock = FrozenClock(now)
    horizon = now - timedelta(
        days=max((getattr(r, "active_within_days", 0) for r in rules), default=30)
    )
    last_readings = {
        pid: at
        for pid, at in session.execute(
            select(Event.patient_id, func.max(Event.occurred_at))
            .where(Event.kind == EventKind.READING_RECEIVED, Event.occurred_at >= horizon)
            .group_by(Event.patient_id)
        )
        if pid is not None
    }
    nudged: set[str] = set()
    for pid, at, payload in session.execute(
        select(Event.patient_id, Event.occurred_at, Event.payload).where(
            Event.kind == EventKind.OUTREACH_REQUESTED, Event.occurred_at >= horizon
        )
    ):
        if (
            payload.get("message") == "no_readings_3d"
            and pid in last_readings
            and at > last_readings[pid]
        ):
            nudged.add(pid)
    done: dict[str, list[str]] = {"nudged": [], "tasks": []}
    for action in missing_data_actions(
        rules, last_readings=last_readings, nudged_since_last=nudged, now=now
    ):
        if action.action == "nudge":
            record_event(
                session,
                kind=EventKind.OUTREACH_REQUESTED,
                clock=clock,
                actor="system:feedback",
                patient_id=action.patient_id,
                program=action.rule.program,
                payload={
                    "message": "no_readings_3d",
                    "patient": action.patient_id,
                    "reason": f"no readings for {action.days_without:.0f} days",
                    "rule": action.rule.id,
                    "recipients": ["patient"],
                },
            )
            done["nudged"].append(action.patient_id)
            continue
        resolved = worklist_alerts.last_resolved_at(
            session, patient_id=action.patient_id, rule_id=action.rule.id
        )
        if resolved is not None and resolved > action.last_reading_at:
            continue
        worklist_alerts.create_task(
            session,
            patient_id=action.patient_id,
            rule_id=action.rule.id,
            title="No readings after a reminder: call the patient",
            severity=action.rule.severity,
            summary=f"No device readings for {action.days_without:.0f} days; a reminder was sent.",
            clock=clock,
            actor="system:feedback",
            program=action.rule.program,
            team=action.rule.team,
            evidence=tuple(action.rule.evidence),
            values={"last_reading_at": action.last_reading_at.isoformat()},
        )
        done["tasks"].append(action.patient_id)
    session.flush()
    return done
