"""Many check-ins (QuestionnaireResponses) in one transaction, set-wise: ``intake_many`` for
the symptom diaries and questionnaires posted to ``/fhir`` in a group-commit batch.

One patient look-up, one read of stored copies, three queries for the rules' view of every
patient in the batch (a patient's earlier check-in in the batch joins the view of their
later one), one write and one audit append for the lot. What needs more than the rules
(a motivation check-in sets preferences; an in-progress one with required items missing
becomes a task; one already stored is an update; the same id twice) is left to the
per-check-in path: the outcome is None.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.careteam.intake import IntakeResult
from careloop.careteam.intake_many import Outcome, Received, Submitted, subject, write_batch
from careloop.clock import Clock, ensure_utc
from careloop.errors import InvalidInput
from careloop.events import EventKind
from careloop.feedback.catalog import Catalog, default_catalog
from careloop.feedback.evaluate import NewInput, evaluate
from careloop.feedback.ruleset import Rule, default_rules
from careloop.feedback.service import (
    CheckedCheckin,
    check_questionnaire_response,
    remember_patients,
)
from careloop.feedback.snapshot import CHECKINS_LOOKBACK, load_checkin_snapshots
from careloop.models import Event
from careloop.programs.motivation import is_motivation_response
from careloop.records.extract import IndexedResource, ResourceProblem, index_resource
from careloop.records.fhir_query import stored_resources
from careloop.records.importer import PatientIndex


def _indexed(checked: CheckedCheckin) -> IndexedResource:
    try:
        return index_resource(checked.resource)
    except ResourceProblem as exc:
        field = str(exc).split(":", 1)[0]
        raise InvalidInput(f"QuestionnaireResponse.{exc}", field=field) from None


def receive_checkins(
    session: Session,
    inputs: Sequence[Submitted],
    *,
    clock: Clock,
    rules: Sequence[Rule] | None = None,
    catalog: Catalog | None = None,
) -> list[Outcome]:
    """Take ``inputs`` in the caller's transaction; one outcome per input, in order."""
    catalog = catalog or default_catalog()
    now = clock.now()
    outcomes: list[Outcome] = [None] * len(inputs)
    refs = {r for s in inputs if (r := subject(s.resource))}
    remember_patients(session, PatientIndex().resolve(session, refs))
    taken: list[tuple[int, Submitted, CheckedCheckin, IndexedResource]] = []
    for index, submitted in enumerate(inputs):
        if is_motivation_response(submitted.resource):
            continue
        try:
            checked = check_questionnaire_response(
                session, submitted.resource, now=now, catalog=catalog
            )
            indexed = _indexed(checked)
        except InvalidInput as exc:
            outcomes[index] = exc
            continue
        if not checked.missing_required:
            taken.append((index, submitted, checked, indexed))
    ids = Counter(i.fhir_id for _, _, _, i in taken)
    stored = {
        s.resource["id"]
        for s in stored_resources(
            session, resource_type="QuestionnaireResponse", fhir_ids=list(ids)
        )
    }
    taken = [t for t in taken if ids[t[3].fhir_id] == 1 and t[3].fhir_id not in stored]
    if not taken:
        return outcomes
    snapshots = load_checkin_snapshots(
        session, patient_ids={c.patient_id for _, _, c, _ in taken}, now=now, catalog=catalog
    )
    since = now - CHECKINS_LOOKBACK
    findings = []
    for _, _, checked, _ in taken:
        snapshot = snapshots[checked.patient_id]
        new = NewInput(
            patient_id=checked.patient_id,
            checkin=checked.checkin,
            source=f"QuestionnaireResponse/{checked.resource_id}",
        )
        findings.append(
            evaluate(rules or default_rules(), snapshot=snapshot, new_input=new, now=now)
        )
        authored = checked.checkin.authored
        if authored is not None and ensure_utc(authored) >= since:
            snapshots[checked.patient_id] = replace(
                snapshot, checkins=(*snapshot.checkins, checked.checkin)
            )
    write_batch(
        session,
        [(s, i, c.patient_id) for _, s, c, i in taken],
        [_checkin_event(s, c, now=now) for _, s, c, _ in taken],
        clock=clock,
        now=now,
    )
    for (index, submitted, checked, indexed), found in zip(taken, findings, strict=True):
        result = IntakeResult(
            "accepted", "QuestionnaireResponse", checked.resource_id, checked.patient_id
        )
        result.act_on(session, found, clock=clock, actor=submitted.principal.actor)
        outcomes[index] = Received(result, indexed.resource, now)
    return outcomes


def _checkin_event(submitted: Submitted, checked: CheckedCheckin, *, now: datetime) -> Event:
    """``store_checkin``'s ``checkin_submitted`` event (channel ``api``, as on ``/fhir``)."""
    checkin = checked.checkin
    return Event(
        kind=str(EventKind.CHECKIN_SUBMITTED),
        patient_id=checked.patient_id,
        occurred_at=ensure_utc(checkin.authored) if checkin.authored else now,
        recorded_at=now,
        actor=submitted.principal.actor,
        subject_type="QuestionnaireResponse",
        subject_id=checked.resource_id,
        program=None,
        payload={
            "instrument": checkin.instrument,
            "status": checkin.status,
            "channel": "api",
            "answered": len(checkin.answers),
            "total": checkin.total,
        },
    )
