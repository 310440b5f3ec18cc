"""Identity: which FHIR Patient resources describe the same person.

The rule (also in docs/architecture.md):

1. A Patient resource whose FHIR id was imported before belongs to the same record.
2. Otherwise, if any of its identifiers (``system|value``, both present) is already held by a
   record whose birth date and administrative sex agree (where both sides record them), it
   joins that record. Identifiers are assumed to be issued to one person per system (MRN,
   SSN, driver's licence, ...); an identifier without a system is ignored. The demographic
   check keeps a recycled or placeholder identifier (test data often gives every patient
   the same MRN) from merging two people.
3. Otherwise it starts a new record whose id is its FHIR id (or a fresh id if taken).

When identifiers point at two different records, the resource joins the oldest one that
agrees; when a shared identifier belongs to a record that disagrees on birth date or sex, a
new record is started. Both cases are recorded as a ``patient_linked`` event for a human to
review; records are never merged automatically.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, bindparam, insert, null, select, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from careloop.fhirdata import dates
from careloop.models import Event, FhirResource, Patient, PatientIdentifier
from careloop.records.contacts import reindex_patients_contacts
from careloop.records.contacts_phone import DEFAULT_REGION, undialable
from careloop.records.demographics import Demographics, demographics_from
from careloop.records.extract import IndexedResource
from careloop.records.store import CHUNK


@dataclass
class LinkResult:
    patient_ids: dict[str, str] = field(default_factory=dict)  # FHIR id → record id
    linked_by_identifier: int = 0


def identifiers_of(resource: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict):
            system, value = ident.get("system"), ident.get("value")
            if isinstance(system, str) and system and isinstance(value, str) and value:
                found.append((system[:255], value[:255]))
    return list(dict.fromkeys(found))


def _birth_date(value: Any) -> date | None:
    try:
        return dates.day(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _agrees(resource: dict[str, Any], born: date | None, sex: str | None) -> bool:
    """Birth date and sex agree wherever both sides record them."""
    birth = resource.get("birthDate")
    if (
        born is not None
        and isinstance(birth, str)
        and birth[:10] != born.isoformat()[: len(birth[:10])]
    ):
        return False
    gender = resource.get("gender")
    return not (sex and isinstance(gender, str) and gender != sex)


Holder = tuple[datetime, str, date | None, str | None]
"""A record holding an identifier: (created at, id, birth date, sex)."""


def link_patients(
    session: Session, *, patients: list[IndexedResource], now: datetime
) -> LinkResult:
    """Assign each Patient resource to a record, creating records where needed.

    Set-wise: three look-ups for the whole list (known FHIR ids, identifier holders, ids
    taken), then the rule is applied in order in memory, each new record and identifier
    visible to the resources after it, as if each had been written alone.
    """
    result = LinkResult()
    if not patients:
        return result
    fhir_ids = list(dict.fromkeys(p.fhir_id for p in patients))
    known: dict[str, str | None] = {}
    taken: set[str] = set()
    holders: dict[tuple[str, str], Holder] = {}
    idents_of = {id(p): identifiers_of(p.resource) for p in patients}
    wanted = list(dict.fromkeys(i for idents in idents_of.values() for i in idents))
    for ids in _chunks(fhir_ids):
        # Known FHIR ids and record ids taken, in one round trip (the import's writer waits
        # on each): a taken id comes back as (None, id).
        for fhir_id, patient_id in session.execute(
            select(FhirResource.fhir_id, FhirResource.patient_id)
            .where(FhirResource.resource_type == "Patient", FhirResource.fhir_id.in_(ids))
            .union_all(select(null(), Patient.id).where(Patient.id.in_(ids)))
        ):
            if fhir_id is None:
                taken.add(patient_id)
            else:
                known[fhir_id] = patient_id
    for idents in _chunks(wanted):
        for system, value, created, pid, born, sex in session.execute(
            select(
                PatientIdentifier.system,
                PatientIdentifier.value,
                Patient.created_at,
                Patient.id,
                Patient.birth_date,
                Patient.gender,
            )
            .join(Patient, Patient.id == PatientIdentifier.patient_id)
            .where(tuple_(PatientIdentifier.system, PatientIdentifier.value).in_(idents))
        ):
            holders[(system, value)] = (created, pid, born, sex)
    records: dict[str, dict[str, Any]] = {}
    events: list[Event] = []
    idents_new: list[dict[str, str]] = []
    for res in patients:
        idents = idents_of[id(res)]
        patient_id = known.get(res.fhir_id)
        note: dict[str, Any] | None = None
        if patient_id is None and idents:
            owners = sorted({holders[i] for i in idents if i in holders}, key=lambda h: h[:2])
            agreeing = [pid for _, pid, born, sex in owners if _agrees(res.resource, born, sex)]
            refused = sorted({pid for _, pid, _, _ in owners} - set(agreeing))
            if agreeing:
                patient_id = agreeing[0]
                result.linked_by_identifier += 1
            if agreeing or refused:
                note = {
                    "rule": "shared identifier",
                    "linked": bool(agreeing),
                    "conflicting_records": agreeing[1:],
                    "demographics_disagree": refused,
                }
        if patient_id is None:
            patient_id = res.fhir_id[:64]
            if patient_id in taken:
                patient_id = uuid.uuid4().hex
            taken.add(patient_id)
            records[patient_id] = {
                "id": patient_id,
                "birth_date": _birth_date(res.resource.get("birthDate")),
                "gender": res.resource.get("gender"),
                "timezone": "UTC",
                "timezone_source": "default",
                "deceased": False,
                "contact_points": [],
                "created_at": now,
                "updated_at": now,
            }
        if note is not None:
            events.append(
                Event(
                    kind="patient_linked",
                    patient_id=patient_id,
                    occurred_at=now,
                    recorded_at=now,
                    actor="system:import",
                    subject_type="Patient",
                    subject_id=res.fhir_id,
                    payload=note,
                )
            )
        result.patient_ids[res.fhir_id] = patient_id
        known[res.fhir_id] = patient_id
        for ident in idents:
            if ident not in holders:
                holders[ident] = _holder(session, patient_id, records, now=now)
                idents_new.append({"system": ident[0], "value": ident[1], "patient_id": patient_id})
    # Records first: identifiers and events point at them. Core inserts, one statement each:
    # the ORM's unit of work cost the import's writer ~0.1 s of its chain for 100 patients.
    connection = session.connection()
    if records:
        connection.execute(insert(Patient), list(records.values()))
    if idents_new:
        connection.execute(insert(PatientIdentifier), idents_new)
    if events:
        session.add_all(events)
        session.flush()
    return result


def _holder(
    session: Session, patient_id: str, created: dict[str, dict[str, Any]], *, now: datetime
) -> Holder:
    """What an identifier newly given to ``patient_id`` says of its holder, for the
    resources after it in the same list."""
    new = created.get(patient_id)
    if new is not None:
        return (new["created_at"], patient_id, new["birth_date"], new["gender"])
    stored = session.get(Patient, patient_id)
    if stored is None:
        return (now, patient_id, None, None)
    return (stored.created_at, stored.id, stored.birth_date, stored.gender)


_ADDRESS = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""The address column's type, None as SQL NULL (``JSON.NULL``: JSON null)."""
_UPDATE_DEMOGRAPHICS = (
    update(Patient)
    .where(Patient.id == bindparam("record"))
    .values(
        {
            f.name: bindparam(f"new_{f.name}", type_=_ADDRESS if f.name == "address" else None)
            for f in fields(Demographics)
        }
    )
    .values(updated_at=bindparam("updated"))
)
"""A record's demographic columns (``records.demographics.Demographics``) and update time."""


def _chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def refresh_demographics(
    session: Session,
    *,
    patient_ids: set[str],
    now: datetime,
    default_timezone: str,
    default_region: str = DEFAULT_REGION,
    zones: Mapping[str, tuple[str, str]] | None = None,
) -> int:
    """Re-derive each record's demographic columns from all its Patient resources; returns
    how many phone numbers could not be read (kept for display, never dialled)."""
    undialable_count = 0
    if not patient_ids:
        return 0
    # Joined to their records: a resource's owner is always one (its foreign key), so this
    # asks for nothing else; the records are then updated by Core, one statement for all
    # (loading them into the ORM and flushing their changes cost the import's writer ~0.1 s
    # of its chain for 100 patients).
    rows = session.execute(
        select(FhirResource.patient_id, FhirResource.resource, Patient.address.is_not(None))
        .join(Patient, Patient.id == FhirResource.patient_id)
        .where(FhirResource.resource_type == "Patient", FhirResource.patient_id.in_(patient_ids))
        .order_by(FhirResource.imported_at, FhirResource.fhir_id)
    ).all()
    by_patient: dict[str, list[dict[str, Any]]] = {}
    had_address: dict[str, bool] = {}
    for pid, resource, has_address in rows:
        by_patient.setdefault(pid, []).append(resource)
        had_address[pid] = has_address
    points: dict[str, list[dict[str, Any]]] = {}
    changes: list[dict[str, Any]] = []
    for pid, resources in by_patient.items():
        demo = demographics_from(
            resources,
            default_timezone=default_timezone,
            zones=zones,
            default_region=default_region,
        )
        change = {"record": pid, "updated": now, **{f"new_{k}": v for k, v in vars(demo).items()}}
        if demo.address is None and had_address[pid]:
            # As the ORM wrote it: an address dropped is JSON null, one never held SQL NULL.
            change["new_address"] = JSON.NULL
        changes.append(change)
        points[pid] = demo.contact_points
        undialable_count += undialable(demo.contact_points)
    if changes:
        session.connection().execute(_UPDATE_DEMOGRAPHICS, changes)
    # contact points are stored encrypted: their look-up digests are written beside them
    reindex_patients_contacts(session.connection(), points)
    return undialable_count


class PatientIndex:
    """FHIR Patient id → careloop patient id, cached for one import run."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def remember(self, fhir_id: str, patient_id: str) -> None:
        self._known[fhir_id] = patient_id

    def resolve(self, session: Session, refs: Iterable[str]) -> dict[str, str]:
        wanted = {r.split("/", 1)[1] for r in refs if r.startswith("Patient/")}
        missing = [fid for fid in wanted if fid not in self._known]
        for start in range(0, len(missing), CHUNK):
            rows = session.execute(
                select(FhirResource.fhir_id, FhirResource.patient_id).where(
                    FhirResource.resource_type == "Patient",
                    FhirResource.fhir_id.in_(missing[start : start + CHUNK]),
                )
            )
            for fid, pid in rows:
                if pid:
                    self._known[fid] = pid
        return {f"Patient/{fid}": self._known[fid] for fid in wanted if fid in self._known}
