"""Closing the loop: an input arrives, is stored, the rules run, the care team hears.

One function per way in (a reading, a check-in, a FHIR batch, one SMS reply), each doing
the same four steps inside the caller's transaction: validate and store (feedback), load
the patient's recent record, evaluate the rules (pure), then put findings on the worklist
and record any proposed plan adjustment (careteam). Because it is one transaction, an alert
is visible on the worklist the moment the input is acknowledged, and a failure leaves
neither a reading without its alert nor an alert without its reading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.careteam import alerts as worklist_alerts
from careloop.careteam import plans
from careloop.careteam.safety import advice_for, ask_missing_items
from careloop.clock import Clock, FrozenClock
from careloop.errors import InvalidInput, NotFound
from careloop.events import EventKind
from careloop.feedback import dialogue
from careloop.feedback.catalog import Catalog, default_catalog
from careloop.feedback.evaluate import Finding, evaluate, missing_data_actions
from careloop.feedback.ruleset import Rule, Severity, default_rules
from careloop.feedback.service import (
    check_observation,
    check_questionnaire_response,
    store_checkin,
    store_observation,
)
from careloop.feedback.snapshot import load_snapshot
from careloop.fielddicts import field_dict
from careloop.governance.consent import ConsentPurpose
from careloop.models import Event
from careloop.outreach.requests import request_message, requested_since
from careloop.personalize.service import set_stated_preferences
from careloop.programs.motivation import FRAMING_OF, is_motivation_response, motivation_of
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.settings import Settings

NUDGE = "no_readings_3d"
MONITORING = str(ConsentPurpose.CLINICAL_MONITORING)
"""The content library's message for a patient whose readings stopped."""

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
    advice: list[str] = field(default_factory=list)
    """Patient messages (``content/advice``) to send now, on the channel the input came by."""

    def as_dict(self) -> dict[str, Any]:
        return field_dict(self)

    def act_on(
        self, session: Session, findings: Sequence[Finding], *, clock: Clock, actor: str
    ) -> None:
        """Raise the findings (alerts, plan proposals) and keep the advice to send now."""
        self.alerts, self.new_alerts, self.proposals = act_on_findings(
            session, findings, clock=clock, actor=actor
        )
        self.advice = advice_for(findings)


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
                # The rule proposes, not whoever entered the reading: a nurse who typed in a
                # glucose value may still approve what the trend rule then proposed.
                actor=f"rule:{finding.rule_id}",
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
    new = checked.rules_input()
    findings = evaluate(rules or default_rules(), snapshot=snapshot, new_input=new, now=now)
    # Writes last: from here to commit the audit chain's head row is locked.
    store_observation(session, checked, clock=clock, principal=principal, source=source)
    result.act_on(session, findings, clock=clock, actor=principal.actor)
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
    self_harm_only: bool = False,
) -> IntakeResult:
    """A check-in: validate against its Questionnaire, run the rules, store, raise findings.

    Required items left unanswered become a task to ask them; ``self_harm_only`` when a
    person is already asked to call (a conversation handed to staff) keeps only PHQ-9 item 9.
    """
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
    new = checked.rules_input()
    findings = evaluate(rules or default_rules(), snapshot=snapshot, new_input=new, now=now)
    store_checkin(
        session, checked, clock=clock, principal=principal, source=source, channel=channel
    )
    _remember_motivation(session, checked.resource, checked.patient_id, clock=clock)
    result = IntakeResult(
        "accepted", "QuestionnaireResponse", checked.resource_id, checked.patient_id
    )
    result.act_on(session, findings, clock=clock, actor=principal.actor)
    if checked.missing_required:
        asked = ask_missing_items(session, checked, clock=clock, self_harm_only=self_harm_only)
        if asked is not None:
            result.alerts.append(asked)
    return result


def _remember_motivation(
    session: Session, response: dict[str, Any], patient_id: str, *, clock: Clock
) -> None:
    """A completed motivation check-in becomes the patient's stated framing: the prior the
    engine starts from when it words their messages (docs/personalize.md, Framing)."""
    if not is_motivation_response(response) or response.get("status") != "completed":
        return
    motivation = motivation_of(response)
    if motivation is None:
        return
    set_stated_preferences(
        session,
        clock=clock,
        patient_id=patient_id,
        changes={"framing": FRAMING_OF[motivation]},
        actor="motivation-checkin",
    )


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
    """A reading or a check-in, by its resourceType; anything else is refused."""
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    receiver = _RECEIVERS.get(rtype) if isinstance(rtype, str) else None
    if receiver is None:
        raise InvalidInput(
            "resourceType: only Observation and QuestionnaireResponse are accepted here",
            field="resourceType",
        )
    return receiver(
        session,
        resource,
        clock=clock,
        principal=principal,
        source=source,
        rules=rules,
        catalog=catalog,
    )


_RECEIVERS: dict[str, Callable[..., IntakeResult]] = {
    "Observation": receive_observation,
    "QuestionnaireResponse": receive_questionnaire_response,
}


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
            # A batch entry that fails leaves nothing behind; a transaction fails as a whole.
            with session.begin_nested() if kind == "batch" else nullcontext():
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
    """What to send back to the patient, and what happened."""

    message: str | None
    step: str | None
    status: str | None
    conversation_id: int | None
    result: IntakeResult | None = None


def handle_checkin_reply(
    session: Session,
    *,
    patient_id: str,
    text: str,
    now: datetime,
    keypad: bool = False,
    catalog: Catalog | None = None,
) -> CheckinReply:
    """One reply to a patient's check-in in progress, and what the answers call for.

    The conversation is feedback's (:func:`careloop.feedback.dialogue.advance_checkin`); once
    it is over the response runs through the rules like any other, and a conversation the
    machine could not follow becomes a task for a person. ``message`` is None when no
    check-in is in progress (the reply is then an ordinary reply).
    """
    step = dialogue.advance_checkin(
        session, patient_id=patient_id, text=text, now=now, keypad=keypad, catalog=catalog
    )
    if step.conversation_id is None:
        return CheckinReply(None, None, None, None)
    clock = FrozenClock(now)
    result = None
    if step.response is not None:
        result = receive_questionnaire_response(
            session,
            step.response,
            clock=clock,
            principal=INGEST,
            source=f"checkin:{step.channel}",
            channel=step.channel,
            catalog=catalog,
            self_harm_only=step.needs_staff,
        )
        dialogue.note_response(
            session, conversation_id=step.conversation_id, response_id=result.resource_id
        )
    if step.needs_staff:
        worklist_alerts.create_task(
            session,
            patient_id=patient_id,
            rule_id="checkin-needs-staff",
            title="Check-in replies not understood: please call",
            severity=Severity.HIGH,
            summary=f"{step.unparsed} replies could not be read; "
            f"{step.answered} of {step.asked} questions answered.",
            clock=clock,
            actor="system:feedback",
            team="care-coordination",
            values={"conversation": step.conversation_id},
            evidence=("careloop check-in policy: after 2 re-asks a person takes over",),
        )
    session.flush()
    return CheckinReply(step.message, step.step, step.status, step.conversation_id, result)


# -- scheduled: readings that stopped --------------------------------------------------------


def evaluate_missing_data(
    session: Session, now: datetime, *, settings: Settings, rules: Sequence[Rule] | None = None
) -> dict[str, list[str]]:
    """Nudge patients whose readings stopped (through outreach), then give staff a task.

    Run on a schedule. A patient is nudged at most once per gap; the task is raised once
    per gap too (an open task absorbs repeats, a task resolved after the last reading is
    not raised again). A patient outreach cannot reach (no consent, no address) gets the
    task at once: nobody is left waiting on a reminder that was never sent.
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
    nudged = {
        pid
        for pid, at in requested_since(session, message=NUDGE, since=horizon).items()
        if pid in last_readings and at > last_readings[pid]
    }
    done: dict[str, list[str]] = {"nudged": [], "tasks": []}
    for action in missing_data_actions(
        rules, last_readings=last_readings, nudged_since_last=nudged, now=now
    ):
        summary = f"No device readings for {action.days_without:.0f} days; a reminder was sent."
        if action.action == "nudge":
            asked = request_message(
                session,
                patient_id=action.patient_id,
                message=NUDGE,
                purpose=MONITORING,
                key=f"nudge:{action.rule.id}:{action.patient_id}:"
                f"{action.last_reading_at.isoformat()}",
                now=now,
                clock=clock,
                settings=settings,
                fields={"days_without_readings": int(action.days_without)},
                program=action.rule.program,
            )
            if asked.outbox_id is not None:
                done["nudged"].append(action.patient_id)
                continue
            summary = (
                f"No device readings for {action.days_without:.0f} days; the patient could not "
                f"be reminded ({asked.not_queued})."
            )
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
            summary=summary,
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
