"""The import's write of one batch of prepared units, in the caller's transaction.

``records.importer`` reads and batches the units; this writes them: patients linked,
resources and their facts stored (``records.store``), records and caregivers refreshed, one
audit entry per unit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from careloop.audit import AuditAction, AuditEntry, Purpose, audit_entries
from careloop.clock import Clock
from careloop.models import Caregiver
from careloop.records.availability import from_extension
from careloop.records.caregivers import caregiver_row
from careloop.records.contacts import index_contacts
from careloop.records.contacts_phone import DEFAULT_REGION
from careloop.records.extract import IndexedResource
from careloop.records.identity import PatientIndex, link_patients, refresh_demographics
from careloop.records.store import UnitBlock, upsert_rows, write_resources
from careloop.records.store_copy import Stamp
from careloop.security.principal import Principal

if TYPE_CHECKING:
    from careloop.records.importer import PreparedUnit

_TYPE = attrgetter("resource_type")
_ID = attrgetter("fhir_id")
_REF = attrgetter("patient_ref")


def write_units(
    session: Session,
    units: Sequence[PreparedUnit],
    *,
    clock: Clock,
    principal: Principal,
    index: PatientIndex,
    default_timezone: str,
    default_region: str = DEFAULT_REGION,
    written: set[tuple[str, str]] | None = None,
) -> tuple[set[str], int, int, Collection[tuple[str, str]]]:
    """Write prepared units in the caller's transaction; returns (patients touched, identity
    links made, phone numbers that could not be read, the keys (type, FHIR id) written).

    ``written``: all that can be stored (an import begun on an empty table): not looked up.
    The units are written as if one after the other (a resource in two of them ends as the
    later one has it, each keeps its own source and import time, one audit entry each), but
    patients are linked, resources copied and records refreshed once for all of them: the
    per-statement cost is paid per batch, not per file.
    """
    latest: dict[tuple[str, str], tuple[IndexedResource, Stamp]] = {}
    blocks: list[UnitBlock] = []
    for unit in units:
        stamp = (Path(unit.file).name, clock.now())
        # The later unit's version, in the place where it was first read. (Per-resource
        # passes here are C's map/zip: this is the import's chain with the server.)
        keys = zip(map(_TYPE, unit.resources), map(_ID, unit.resources), strict=True)
        latest.update(zip(keys, zip(unit.resources, repeat(stamp), strict=False), strict=True))
        if unit.rows is not None:
            blocks.append((unit.resources, unit.rows, stamp))
    resources: list[IndexedResource] = [res for res, _ in latest.values()]
    stamps: list[Stamp] = [stamp for _, stamp in latest.values()]
    now = stamps[0][1] if stamps else clock.now()
    patients = [r for r in resources if r.resource_type == "Patient"]
    links = link_patients(session, patients=patients, now=now)
    for fhir_id, patient_id in links.patient_ids.items():
        index.remember(fhir_id, patient_id)
    refs = index.resolve(session, set(filter(None, map(_REF, resources))))

    owners: list[str | None] = list(map(refs.get, map(_REF, resources)))
    whole = len(blocks) == len(units)
    write_resources(
        session, resources, owners, source="", now=now, stamps=stamps, stored=written,
        blocks=blocks if whole else None,
    )  # fmt: skip

    undialable = refresh_demographics(
        session,
        patient_ids=set(links.patient_ids.values()),
        now=now,
        default_timezone=default_timezone,
        default_region=default_region,
    )
    _write_caregivers(session, resources, refs, now=now, default_region=default_region)
    entries = []
    touched: set[str] = set()
    for unit in units:
        # Its rows' groups are its patient references, one each.
        unit_refs = (
            (ref for ref, _ in unit.rows.groups)
            if unit.rows is not None
            else map(_REF, unit.resources)
        )
        owned = {refs[ref] for ref in unit_refs if ref in refs}
        if owned:
            touched.update(owned)
            entries.append(
                AuditEntry(
                    principal,
                    AuditAction.UPDATE,
                    "fhir-import",
                    Purpose.IMPORT,
                    patient_ids=tuple(sorted(owned)),
                    detail={"source": Path(unit.file).name},
                )
            )
    audit_entries(session, clock=clock, entries=entries)
    return touched, links.linked_by_identifier, undialable, latest.keys()


def _write_caregivers(
    session: Session,
    resources: list[IndexedResource],
    refs: dict[str, str],
    *,
    now: Any,
    default_region: str,
) -> None:
    rows = []
    for res in resources:
        if res.resource_type != "RelatedPerson" or not res.patient_ref:
            continue
        patient_id = refs.get(res.patient_ref)
        if patient_id is None:
            continue
        rows.append(
            caregiver_row(
                res.resource,
                patient_id=patient_id,
                now=now,
                windows=from_extension(res.resource),
                default_region=default_region,
            )
        )
    upsert_rows(session, Caregiver, rows, ("id",))
    for row in rows:
        index_contacts(
            session,
            patient_id=row["patient_id"],
            points=row["contact_points"],
            caregiver_id=row["id"],
        )
