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
from careloop.careteam.intake_many import (
    Act,
    Outcome,
    Submitted,
    Taken,
    finish,
    patients_of,
    take_observations,
)
from careloop.clock import Clock, ensure_utc
from careloop.errors import InvalidInput
from careloop.events import EventKind
from careloop.feedback.catalog import Catalog, default_catalog
from careloop.feedback.evaluate import TEMPERATURE_WITHIN, evaluate
from careloop.feedback.readings import Reading
from careloop.feedback.ruleset import Rule, default_rules
from careloop.feedback.service import (
    CheckedCheckin,
    check_questionnaire_response,
    remember_patients,
)
from careloop.feedback.snapshot import CHECKINS_LOOKBACK, TEMPERATURE, load_checkin_snapshots
from careloop.models import Event
from careloop.programs.motivation import is_motivation_response
from careloop.records.extract import IndexedResource, ResourceProblem, index_resource
from careloop.records.fhir_query import stored_resources


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
    now = clock.now()
    taken = take_checkins(
        session,
        inputs,
        now=now,
        rules=rules,
        catalog=catalog,
        patients=patients_of(session, inputs),
    )
    finish(session, [taken], clock=clock, now=now)
    return taken.outcomes


def receive_inputs(session: Session, inputs: Sequence[Submitted], *, clock: Clock) -> list[Outcome]:
    """A group-commit batch of readings and check-ins together, one outcome per input in
    order: one patient look-up, and one store write, audit append and events insert for
    both kinds. The check-ins see the batch's new readings (the day's temperatures), as
    when the readings were written first."""
    now = clock.now()
    patients = patients_of(session, inputs)
    readings = [i for i, s in enumerate(inputs) if s.resource.get("resourceType") == "Observation"]
    checkins = [i for i in range(len(inputs)) if i not in set(readings)]
    observed = take_observations(session, [inputs[i] for i in readings], now=now, patients=patients)
    answered = take_checkins(
        session,
        [inputs[i] for i in checkins],
        now=now,
        patients=patients,
        recent=observed.recent,
    )
    finish(session, [observed, answered], clock=clock, now=now)
    outcomes: list[Outcome] = [None] * len(inputs)
    for indexes, taken in ((readings, observed), (checkins, answered)):
        for index, outcome in zip(indexes, taken.outcomes, strict=True):
            outcomes[index] = outcome
    return outcomes


def take_checkins(
    session: Session,
    inputs: Sequence[Submitted],
    *,
    now: datetime,
    patients: dict[str, str],
    rules: Sequence[Rule] | None = None,
    catalog: Catalog | None = None,
    recent: dict[str, list[tuple[datetime | None, tuple[Reading, ...]]]] | None = None,
) -> Taken:
    """Check, de-duplicate and judge check-ins (``patients``: ``intake_many.patients_of``;
    ``recent``: the batch's new readings, not yet written); reads only."""
    catalog = catalog or default_catalog()
    taken = Taken([None] * len(inputs))
    outcomes = taken.outcomes
    remember_patients(session, patients)
    checked_in: list[tuple[int, Submitted, CheckedCheckin, IndexedResource]] = []
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
            checked_in.append((index, submitted, checked, indexed))
    ids = Counter(i.fhir_id for _, _, _, i in checked_in)
    stored = {
        s.resource["id"]
        for s in stored_resources(
            session, resource_type="QuestionnaireResponse", fhir_ids=list(ids)
        )
    }
    checked_in = [t for t in checked_in if ids[t[3].fhir_id] == 1 and t[3].fhir_id not in stored]
    if not checked_in:
        return taken
    snapshots = load_checkin_snapshots(
        session, patient_ids={c.patient_id for _, _, c, _ in checked_in}, now=now, catalog=catalog
    )
    for pid, snapshot in snapshots.items():
        temperatures = _temperatures((recent or {}).get(pid, []), since=now - TEMPERATURE_WITHIN)
        if temperatures:
            snapshots[pid] = replace(snapshot, readings=snapshot.readings + temperatures)
    since = now - CHECKINS_LOOKBACK
    for index, submitted, checked, indexed in checked_in:
        snapshot = snapshots[checked.patient_id]
        new = checked.rules_input()
        found = evaluate(rules or default_rules(), snapshot=snapshot, new_input=new, now=now)
        authored = checked.checkin.authored
        if authored is not None and ensure_utc(authored) >= since:
            snapshots[checked.patient_id] = replace(
                snapshot, checkins=(*snapshot.checkins, checked.checkin)
            )
        taken.written.append((submitted, indexed, checked.patient_id))
        taken.events.append(_checkin_event(submitted, checked, now=now))
        result = IntakeResult(
            "accepted", "QuestionnaireResponse", checked.resource_id, checked.patient_id
        )
        actor = submitted.principal.actor
        taken.acts.append(Act(index, result, found, indexed.resource, actor))
    return taken


def _temperatures(
    recent: list[tuple[datetime | None, tuple[Reading, ...]]], *, since: datetime
) -> tuple[Reading, ...]:
    """The temperatures among a batch's new readings that ``load_checkin_snapshots`` would
    have read had they been stored (effective within ``TEMPERATURE_WITHIN``)."""
    return tuple(
        r
        for start, readings in recent
        if start is not None and start >= since
        for r in readings
        if r.measure == TEMPERATURE
    )


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
