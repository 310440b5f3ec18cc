"""Many device readings in one transaction, set-wise: the feedback loop at 200 events/s.

``intake.receive_observation`` costs a dozen database round trips per reading (patient
look-up, duplicate check, three snapshot queries, the store's own existence check, COPY,
audit head lock and append, event insert, savepoints). A group-commit batch (HTTP
``IntakeBatcher``, MQTT ``run_ingest``) pays them per reading on one thread, so the batch
thread, not the database, set the ceiling. Here a batch pays them once:

* patients: one look-up for every ``subject`` in the batch;
* duplicates: one read of the stored copies, which is also what the store is told is new
  (the duplicate check folded into the write: no second existence check);
* the rules' view of the record: two queries for every patient in the batch; a patient's
  earlier reading in the same batch is added to the view of their later one, so the
  rules see what they would have seen reading by reading;
* writes: one COPY per table, one audit row per (submitter, patient) under one lock of
  the chain's head (every PHI write is still audited: docs/security.md), one insert of
  all ``reading_received`` events.

What this path does not decide, it leaves to the per-reading path (the result is None):
a stored Observation sent again with other content (an update), or the same id twice in
one batch. Findings (about one reading in ten) go through ``act_on_findings`` as before,
so an alert is raised once per open (patient, rule) pair whichever path ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.audit import AuditAction, AuditEntry, Purpose, audit_entries
from careloop.careteam.intake import IntakeResult
from careloop.clock import Clock, ensure_utc
from careloop.errors import InvalidInput
from careloop.events import EventKind
from careloop.feedback.evaluate import Finding, NewInput, evaluate
from careloop.feedback.readings import Reading, observation_id, read_observation
from careloop.feedback.ruleset import Rule, default_rules
from careloop.feedback.snapshot import READINGS_LOOKBACK, load_reading_snapshots
from careloop.fhirdata.references import reference_of
from careloop.models import Event
from careloop.records.extract import IndexedResource, ResourceProblem, index_resource
from careloop.records.fhir_query import stored_resources
from careloop.records.identity import PatientIndex
from careloop.records.store import write_resources
from careloop.security.principal import Principal


@dataclass(frozen=True)
class Submitted:
    """One Observation (or QuestionnaireResponse) handed in, and by whom."""

    resource: dict[str, Any]
    principal: Principal
    source: str


@dataclass(frozen=True)
class Received:
    """A reading taken (stored now, or already stored: a duplicate), ready to answer."""

    result: IntakeResult
    resource: dict[str, Any]
    last_updated: datetime | None


Outcome = Received | InvalidInput | None
"""Per input: taken, refused (nothing written for it), or None: run it on its own."""


@dataclass
class _Item:
    index: int
    submitted: Submitted
    indexed: IndexedResource
    readings: tuple[Reading, ...]
    patient_id: str = ""


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k != "meta"} == {
        k: v for k, v in b.items() if k != "meta"
    }


def _checked(submitted: Submitted, now: datetime) -> tuple[IndexedResource, tuple[Reading, ...]]:
    """Validate as the store and the rules do (the store's message for a store's refusal)."""
    observation = submitted.resource
    readings = tuple(read_observation(observation, now=now))
    resource = {**observation, "id": observation_id(observation)}
    try:
        return index_resource(resource), readings
    except ResourceProblem as exc:
        field = str(exc).split(":", 1)[0]
        raise InvalidInput(f"Observation.{exc}", field=field) from None


@dataclass(frozen=True)
class Act:
    """A new input's answer-to-be and the findings :func:`finish` raises for it."""

    index: int
    result: IntakeResult
    findings: list[Finding]
    resource: dict[str, Any]
    actor: str


@dataclass
class Taken:
    """Inputs of one kind checked and judged, nothing written yet: what :func:`finish`
    writes (with the other kinds of the same batch) and answers."""

    outcomes: list[Outcome]
    written: list[Written] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    acts: list[Act] = field(default_factory=list)
    recent: dict[str, list[tuple[datetime | None, tuple[Reading, ...]]]] = field(
        default_factory=dict
    )
    """New readings by patient, with their effective start: a check-in judged in the same
    batch sees them, as if they had been stored first."""


def patients_of(session: Session, inputs: Sequence[Submitted]) -> dict[str, str]:
    """Every ``subject`` reference of ``inputs`` that names a patient: one look-up."""
    refs = {reference_of(i.resource.get("subject")) for i in inputs}
    return PatientIndex().resolve(session, {r for r in refs if r})


def receive_observations(
    session: Session,
    inputs: Sequence[Submitted],
    *,
    clock: Clock,
    rules: Sequence[Rule] | None = None,
) -> list[Outcome]:
    """Take ``inputs`` in the caller's transaction; one outcome per input, in order."""
    now = clock.now()
    taken = take_observations(
        session, inputs, now=now, rules=rules, patients=patients_of(session, inputs)
    )
    finish(session, [taken], clock=clock, now=now)
    return taken.outcomes


def take_observations(
    session: Session,
    inputs: Sequence[Submitted],
    *,
    now: datetime,
    patients: dict[str, str],
    rules: Sequence[Rule] | None = None,
) -> Taken:
    """Check, de-duplicate and judge readings (``patients``: :func:`patients_of`); reads
    only, so a batch's readings and check-ins are written together by :func:`finish`."""
    taken = Taken([None] * len(inputs))
    outcomes = taken.outcomes
    items: list[_Item] = []
    for index, submitted in enumerate(inputs):
        try:
            indexed, readings = _checked(submitted, now)
        except InvalidInput as exc:
            outcomes[index] = exc
            continue
        items.append(_Item(index, submitted, indexed, readings))
    ids: dict[str, int] = {}
    for item in items:
        ids[item.indexed.fhir_id] = ids.get(item.indexed.fhir_id, 0) + 1
        owner = patients.get(reference_of(item.indexed.resource.get("subject")) or "")
        if owner is None:
            outcomes[item.index] = InvalidInput("subject: no such patient", field="subject")
        item.patient_id = owner or ""
    items = [i for i in items if i.patient_id and ids[i.indexed.fhir_id] == 1]
    stored = {
        s.resource["id"]: s
        for s in stored_resources(
            session, resource_type="Observation", fhir_ids=[i.indexed.fhir_id for i in items]
        )
    }
    new: list[_Item] = []
    for item in items:
        before = stored.get(item.indexed.fhir_id)
        if before is None:
            new.append(item)
        elif _same(before.resource, item.indexed.resource):
            result = IntakeResult("duplicate", "Observation", item.indexed.fhir_id, item.patient_id)
            outcomes[item.index] = Received(result, before.resource, before.last_updated)
        # else: an update of a stored reading: left to the per-reading path
    if not new:
        return taken
    findings = _evaluate(session, new, now=now, rules=rules or default_rules())
    for item, found in zip(new, findings, strict=True):
        taken.written.append((item.submitted, item.indexed, item.patient_id))
        taken.events.append(_reading_event(item, now))
        result = IntakeResult("accepted", "Observation", item.indexed.fhir_id, item.patient_id)
        actor = item.submitted.principal.actor
        taken.acts.append(Act(item.index, result, found, item.indexed.resource, actor))
        taken.recent.setdefault(item.patient_id, []).append(
            (item.indexed.effective_start, item.readings)
        )
    return taken


def finish(session: Session, taken: Sequence[Taken], *, clock: Clock, now: datetime) -> None:
    """Write what ``taken`` judged new (one store write, one audit append, one insert of
    the events for all of it), then raise its findings, kind by kind, input by input."""
    written = [w for t in taken for w in t.written]
    if written:
        write_batch(session, written, [e for t in taken for e in t.events], clock=clock, now=now)
    for kind in taken:
        for act in kind.acts:
            act.result.act_on(session, act.findings, clock=clock, actor=act.actor)
            kind.outcomes[act.index] = Received(act.result, act.resource, now)


def _evaluate(
    session: Session, items: Sequence[_Item], *, now: datetime, rules: Sequence[Rule]
) -> list[list[Finding]]:
    """The rules on each reading, each seeing the batch's earlier readings of its patient."""
    snapshots = load_reading_snapshots(session, patient_ids={i.patient_id for i in items}, now=now)
    since = now - READINGS_LOOKBACK
    findings = []
    for item in items:
        snapshot = snapshots[item.patient_id]
        new = NewInput(
            patient_id=item.patient_id,
            readings=item.readings,
            source=f"Observation/{item.indexed.fhir_id}",
        )
        findings.append(evaluate(rules, snapshot=snapshot, new_input=new, now=now))
        start = item.indexed.effective_start
        if start is not None and start >= since:
            snapshots[item.patient_id] = replace(
                snapshot, readings=snapshot.readings + item.readings
            )
    return findings


def _reading_event(item: _Item, now: datetime) -> Event:
    """``store_observation``'s ``reading_received`` event."""
    return Event(
        kind=str(EventKind.READING_RECEIVED),
        patient_id=item.patient_id,
        occurred_at=ensure_utc(max(r.at for r in item.readings)),
        recorded_at=now,
        actor=item.submitted.principal.actor,
        subject_type="Observation",
        subject_id=item.indexed.fhir_id,
        program=None,
        payload={
            "values": {r.measure: round(r.value, 2) for r in item.readings},
            "source": item.submitted.source,
            "received_at": now.isoformat(),
        },
    )


Written = tuple[Submitted, IndexedResource, str]
"""What was handed in, as indexed for the store, and its patient."""


def write_batch(
    session: Session,
    written: Sequence[Written],
    events: Sequence[Event],
    *,
    clock: Clock,
    now: datetime,
) -> None:
    """Store, audit and log a batch's new resources: one write per source, one audit row
    per (submitter, source, patient), one insert of the events."""
    by_source: dict[str, list[Written]] = {}
    for item in written:
        by_source.setdefault(item[0].source, []).append(item)
    for source, group in by_source.items():
        write_resources(
            session,
            [i for _, i, _ in group],
            [p for _, _, p in group],
            source=source,
            now=now,
            new=True,
        )
    entries: dict[tuple[str, str, str | None, str], tuple[Principal, set[str], set[str]]] = {}
    for submitted, indexed, patient_id in written:
        who, source = submitted.principal, submitted.source
        key = (who.actor, str(who.role), who.source, source)
        entry = entries.setdefault(key, (who, set(), set()))
        entry[1].add(patient_id)
        entry[2].add(indexed.resource_type)
    audit_entries(
        session,
        clock=clock,
        entries=[
            AuditEntry(
                principal=principal,
                action=AuditAction.CREATE,
                resource="fhir-resource",
                purpose=Purpose.TREATMENT,
                patient_ids=tuple(sorted(patients)),
                detail={"source": source[:100], "types": sorted(types)},
            )
            for (_, _, _, source), (principal, patients, types) in entries.items()
        ],
    )
    session.add_all(events)
    session.flush()
