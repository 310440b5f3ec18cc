"""Accepting check-ins and readings into the record, and recording refusals.

Each accepted input is stored as FHIR in the patient record and written to the event log
(``reading_received`` / ``checkin_submitted``): the learning engine reads its rewards and
the KPIs their counts from there. A refused input is an event too (``reading_rejected`` /
``checkin_rejected``, with the reason and field, never the payload), so nothing a patient
or device sends disappears without a trace.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.errors import InvalidInput, NotFound
from careloop.events import EventKind, record_event
from careloop.feedback.catalog import Catalog
from careloop.feedback.checkins import Checkin, missing_required, read_checkin, with_total
from careloop.feedback.evaluate import NewInput
from careloop.feedback.readings import Reading, observation_id, read_observation
from careloop.fhirdata.references import reference_of
from careloop.records.resources import (
    get_resource,
    resolve_patient_reference,
    store_resources,
)
from careloop.security.principal import Principal


@dataclass(frozen=True)
class _Checked:
    """A FHIR resource that passed validation, with its patient; not stored yet."""

    patient_id: str
    resource: dict[str, Any]

    @property
    def resource_id(self) -> str:
        return str(self.resource["id"])


@dataclass(frozen=True)
class CheckedReading(_Checked):
    """A reading that passed validation, with its patient; not stored yet."""

    readings: tuple[Reading, ...]
    duplicate: bool

    def rules_input(self) -> NewInput:
        """What the rules see of this reading: its values, named by the Observation."""
        return NewInput(
            self.patient_id, readings=self.readings, source=f"Observation/{self.resource_id}"
        )


@dataclass(frozen=True)
class CheckedCheckin(_Checked):
    """A check-in that passed validation (score filled in), with its patient; not stored yet."""

    checkin: Checkin
    missing_required: tuple[str, ...] = ()
    """Required items an in-progress response left out (a completed one is refused)."""

    def rules_input(self) -> NewInput:
        """What the rules see of this check-in: its answers, named by the response."""
        return NewInput(
            self.patient_id,
            checkin=self.checkin,
            source=f"QuestionnaireResponse/{self.resource_id}",
        )


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k != "meta"} == {
        k: v for k, v in b.items() if k != "meta"
    }


def _patient(session: Session, resource: dict[str, Any]) -> str:
    """The subject's patient; found ones are remembered for the transaction, because a batch
    of readings (group commit, MQTT) names the same patients again and again."""
    ref = reference_of(resource.get("subject"))
    found: dict[str, str] = session.info.setdefault("intake_patients", {})
    patient_id = found.get(ref) if ref is not None else None
    if patient_id is None and ref is not None:
        patient_id = resolve_patient_reference(session, ref)
        if patient_id is not None:
            found[ref] = patient_id
    if patient_id is None:
        raise InvalidInput("subject: no such patient", field="subject")
    return patient_id


def remember_patients(session: Session, found: dict[str, str]) -> None:
    """Patients a batch looked up at once (``Patient/<id>`` → patient id), for ``_patient``."""
    session.info.setdefault("intake_patients", {}).update(found)


def check_observation(
    session: Session, observation: dict[str, Any], *, now: datetime
) -> CheckedReading:
    """Validate a device reading and find its patient; a re-sent identical one is a duplicate.

    Reads only: the caller evaluates rules before :func:`store_observation` writes, so the
    write (and the audit chain's lock) is held for as short a time as possible.
    """
    readings = tuple(read_observation(observation, now=now))
    resource = {**observation, "id": observation_id(observation)}
    patient_id = _patient(session, resource)
    stored = get_resource(session, resource_type="Observation", fhir_id=resource["id"])
    duplicate = stored is not None and _same(stored, resource)
    return CheckedReading(patient_id, resource, readings, duplicate)


def store_observation(
    session: Session, checked: CheckedReading, *, clock: Clock, principal: Principal, source: str
) -> None:
    """Write a checked reading to the record and the event log (``reading_received``)."""
    _store(
        session,
        checked,
        kind=EventKind.READING_RECEIVED,
        occurred_at=max(r.at for r in checked.readings),
        clock=clock,
        principal=principal,
        source=source,
        payload={
            "values": {r.measure: round(r.value, 2) for r in checked.readings},
            "source": source,
            "received_at": clock.now().isoformat(),
        },
    )


def check_questionnaire_response(
    session: Session, response: dict[str, Any], *, now: datetime, catalog: Catalog
) -> CheckedCheckin:
    """Validate a check-in against its Questionnaire, recompute and fill in its score."""
    reference = response.get("questionnaire")
    if not isinstance(reference, str) or not reference:
        raise InvalidInput("questionnaire: the Questionnaire must be named", field="questionnaire")
    try:
        questionnaire = catalog.get(reference)
    except NotFound as exc:
        raise InvalidInput(f"questionnaire: {exc}", field="questionnaire") from None
    checkin = read_checkin(questionnaire, response, now=now)
    resource = with_total(questionnaire, response, checkin.total)
    resource = {**resource, "id": resource.get("id") or f"qr-{uuid.uuid4().hex}"}
    missing = tuple(missing_required(questionnaire, checkin))
    return CheckedCheckin(_patient(session, resource), resource, checkin, missing)


def store_checkin(
    session: Session,
    checked: CheckedCheckin,
    *,
    clock: Clock,
    principal: Principal,
    source: str,
    channel: str = "api",
) -> None:
    """Write a checked check-in to the record and the event log (``checkin_submitted``)."""
    checkin = checked.checkin
    _store(
        session,
        checked,
        kind=EventKind.CHECKIN_SUBMITTED,
        occurred_at=checkin.authored,
        clock=clock,
        principal=principal,
        source=source,
        payload={
            "instrument": checkin.instrument,
            "status": checkin.status,
            "channel": channel,
            "answered": len(checkin.answers),
            "total": checkin.total,
        },
    )


def _store(
    session: Session,
    checked: _Checked,
    *,
    kind: EventKind,
    occurred_at: datetime | None,
    payload: dict[str, Any],
    clock: Clock,
    principal: Principal,
    source: str,
) -> None:
    """The resource into the record and its event into the log, about the resource."""
    store_resources(session, [checked.resource], clock=clock, principal=principal, source=source)
    record_event(
        session,
        kind=kind,
        clock=clock,
        actor=principal.actor,
        patient_id=checked.patient_id,
        occurred_at=occurred_at,
        subject_type=str(checked.resource["resourceType"]),
        subject_id=checked.resource_id,
        payload=payload,
    )


def record_rejection(
    session: Session,
    *,
    kind: EventKind,
    reason: str,
    field: str | None,
    clock: Clock,
    actor: str,
    patient_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write a refusal to the event log: the reason and field, never the payload."""
    record_event(
        session,
        kind=kind,
        clock=clock,
        actor=actor,
        patient_id=patient_id,
        payload={"reason": reason[:500], "field": field, **(details or {})},
    )
