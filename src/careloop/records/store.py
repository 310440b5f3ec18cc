"""The one writer of FHIR resource rows: ``fhir_resources`` (codes in its ``codes`` column,
see ``records.code_filter``) and their ``resource_facts`` with the facts' JSON in
``resource_fact_bodies`` (the identification projection, see ``records.projection``).

The file importer (thousands of rows a unit) and ``records.resources.store_resources`` (a few
rows in the caller's transaction) both write through :func:`write_resources`, so the indexed
columns, the facts and their replacement on update have one definition. On PostgreSQL rows
go in by COPY through a temporary table: the server parses them in bulk instead of the driver
binding a dozen parameters per resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import compress
from operator import attrgetter, not_
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import Table, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.db import copy_then_insert
from careloop.models import FhirResource, ResourceFact, ResourceFactBody
from careloop.records.code_filter import column_text
from careloop.records.copy_block import UnitRows, copy_units
from careloop.records.extract import IndexedResource
from careloop.records.fact_columns import FACT_COLUMNS
from careloop.records.owner_check import owners_checked_once
from careloop.records.projection import fact_rows, forget_shared_facts, has_fact
from careloop.records.store_copy import Stamp, copy_new, existing_keys

CHUNK = 500
UnitBlock = tuple[Sequence[IndexedResource], UnitRows, Stamp]
"""A unit's resources, its parser's COPY lines of them, and its stamp."""
JSON_COLUMNS = ("resource", "fact")  # jsonb: written as JSON text by COPY


def write_resources(
    session: Session,
    resources: Sequence[IndexedResource],
    owners: Sequence[str | None],
    *,
    source: str,
    now: datetime,
    new: bool = False,
    stamps: Sequence[Stamp] | None = None,
    stored: set[tuple[str, str]] | None = None,
    blocks: Sequence[UnitBlock] | None = None,
) -> None:
    """Upsert ``resources`` (same type and FHIR id = update) and replace their facts.

    ``owners`` are the careloop patient ids, one per resource (None: not yet known).
    ``stamps``: each resource's own (source, import time) when they differ (the importer
    writes several files in one transaction); otherwise ``source`` and ``now`` for all.
    On PostgreSQL the resources not stored yet are COPYed straight into their tables
    (``records.store_copy``); only the others take the upsert below. ``new``: the caller
    has just looked them up and found none stored (the feedback batch's duplicate check),
    so the look-up is not made twice; one written meanwhile still falls back to the upsert.
    ``stored``: keys (type, FHIR id) holding every one of them that is stored (an import
    begun on an empty table keeps what it committed), so none is looked up; the same
    fallback covers one written meanwhile by someone else.
    ``blocks``: the units ``resources`` were taken from, each with its parser's COPY lines
    (``records.copy_block``) and stamp; on PostgreSQL, the lines copied are cut from these.
    """
    stamped = list(stamps) if stamps is not None else [(source, now)] * len(resources)
    if resources and session.get_bind().dialect.name == "postgresql":
        resources, owners, stamped = _copy_new_resources(
            session, resources, owners, stamped, new=new, stored=stored, blocks=blocks
        )
    _upsert(session, resources, owners, stamped)


def _copy_new_resources(
    session: Session,
    resources: Sequence[IndexedResource],
    owners: Sequence[str | None],
    stamps: Sequence[Stamp],
    *,
    new: bool = False,
    stored: set[tuple[str, str]] | None = None,
    blocks: Sequence[UnitBlock] | None = None,
) -> tuple[list[IndexedResource], list[str | None], list[Stamp]]:
    """COPY the resources not stored yet; returns the rest (stored already) to upsert.

    The passes over the resources are ``map``/``compress`` over attribute getters, not
    Python loops: this runs in the import's writer, whose every CPU second between
    statements is a second of the import's wall time (25,000 resources a run)."""
    forget_shared_facts(
        session, zip(map(_TYPE, resources), map(_ID, resources), owners, strict=True)
    )
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        if stored is None:
            stored = set() if new else existing_keys(cursor, resources)
        keys = zip(map(_TYPE, resources), map(_ID, resources), strict=True)
        known = list(map(stored.__contains__, keys))
        if all(known):
            return list(resources), list(owners), list(stamps)
        fresh = list(map(not_, known))
        cursor.execute("SAVEPOINT careloop_copy_new")
        fresh_owners = list(compress(owners, fresh))
        try:
            with owners_checked_once(cursor, fresh_owners, rows=len(fresh_owners)):
                if blocks is None:
                    copy_new(
                        cursor,
                        list(compress(resources, fresh)),
                        fresh_owners,
                        list(compress(stamps, fresh)),
                    )
                else:
                    _copy_blocks(cursor, blocks, resources, owners, fresh)
        except UniqueViolation:
            # Written by someone else since the look-up: upsert everything instead.
            cursor.execute("ROLLBACK TO SAVEPOINT careloop_copy_new")
            return list(resources), list(owners), list(stamps)
        cursor.execute("RELEASE SAVEPOINT careloop_copy_new")
    if not any(known):
        return [], [], []
    return (
        list(compress(resources, known)),
        list(compress(owners, known)),
        list(compress(stamps, known)),
    )


def _copy_blocks(
    cursor: Any,
    blocks: Sequence[UnitBlock],
    resources: Sequence[IndexedResource],
    owners: Sequence[str | None],
    fresh: Sequence[bool],
) -> None:
    """COPY the lines of ``resources`` (the batch's latest versions) marked ``fresh`` (not
    stored) from their units' blocks: a unit's line is dropped when stored or when a later
    one replaced it."""
    copied = set(map(id, compress(resources, fresh)))
    plan = [(unit, rows, stamp, _dropped(unit, copied)) for unit, rows, stamp in blocks]
    copy_units(cursor, plan, dict(zip(map(_REF, resources), owners, strict=True)))


def _dropped(unit: Sequence[IndexedResource], copied: set[int]) -> set[int]:
    """The positions in ``unit`` of resources not among ``copied`` (their ids)."""
    kept = map(copied.__contains__, map(id, unit))
    return set(compress(range(len(unit)), map(not_, kept)))


_TYPE = attrgetter("resource_type")
_ID = attrgetter("fhir_id")
_REF = attrgetter("patient_ref")


def _upsert(
    session: Session,
    resources: Sequence[IndexedResource],
    owners: Sequence[str | None],
    stamps: Sequence[Stamp],
) -> None:
    """Insert or update ``resources`` through the upsert (staging table on PostgreSQL)."""
    rows = [
        {
            "resource_type": res.resource_type,
            "fhir_id": res.fhir_id,
            "patient_id": owner,
            "patient_ref": res.patient_ref,
            "status": res.status,
            "effective_start": res.effective_start,
            "effective_end": res.effective_end,
            "codes": column_text(res.codes),
            "supported": res.supported,
            "resource": res.resource,
            "source": source[:500],
            "imported_at": now,
        }
        for res, owner, (source, now) in zip(resources, owners, stamps, strict=True)
    ]
    if not rows:
        return
    existed = _upsert_resources(session, rows)
    _write_facts(session, resources, owners, existed)


def _write_facts(
    session: Session,
    resources: Sequence[IndexedResource],
    owners: Sequence[str | None],
    existed: set[tuple[str, str]] | None,
) -> None:
    """Upsert the resources' facts; drop the fact of an updated resource that lost its patient."""
    forget_shared_facts(
        session,
        [
            (res.resource_type, res.fhir_id, owner)
            for res, owner in zip(resources, owners, strict=True)
        ],
    )
    rows = fact_rows(resources, owners)
    bodies = [
        {"resource_type": row["resource_type"], "fhir_id": row["fhir_id"], "fact": row.pop("fact")}
        for row in rows
    ]
    if rows and session.get_bind().dialect.name == "postgresql":
        copy_then_insert(
            session,
            table="resource_facts",
            rows=rows,
            conflict="ON CONFLICT (resource_type, fhir_id) DO UPDATE SET "
            "patient_id = EXCLUDED.patient_id, codes = EXCLUDED.codes, "
            + ", ".join(f"{column} = EXCLUDED.{column}" for column in FACT_COLUMNS),
            json_columns=JSON_COLUMNS,
        )
        copy_then_insert(
            session,
            table="resource_fact_bodies",
            rows=bodies,
            conflict="ON CONFLICT (resource_type, fhir_id) DO UPDATE SET fact = EXCLUDED.fact",
            json_columns=JSON_COLUMNS,
        )
    elif rows:
        upsert_rows(session, ResourceFact, rows, ("resource_type", "fhir_id"))
        upsert_rows(session, ResourceFactBody, bodies, ("resource_type", "fhir_id"))
    orphaned: dict[str, list[str]] = {}
    for res in resources:
        known = existed is None or (res.resource_type, res.fhir_id) in existed
        if known and not has_fact(res.resource_type, res.patient_ref):
            orphaned.setdefault(res.resource_type, []).append(res.fhir_id)
    _delete_rows(session, ResourceFact, orphaned)
    _delete_rows(session, ResourceFactBody, orphaned)


def _delete_rows(session: Session, model: Any, ids_by_type: dict[str, list[str]]) -> None:
    """Delete ``model``'s rows of these resources (ids by type), CHUNK ids a statement so a
    large import stays under the database's limit of bound parameters."""
    table = _table(model)
    for rtype, ids in ids_by_type.items():
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            session.connection().execute(
                delete(table).where(table.c.resource_type == rtype, table.c.fhir_id.in_(chunk))
            )


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _insert(session: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT (PostgreSQL's or SQLite's)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def upsert_rows(
    session: Session, model: Any, rows: list[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Insert ``rows`` of ``model``, updating those whose ``keys`` exist (in chunks).

    Core statements on the Table (not the ORM entity): bulk rows skip the unit of work.
    """
    connection = session.connection()
    for start in range(0, len(rows), CHUNK):
        batch = rows[start : start + CHUNK]
        stmt = _insert(session)(_table(model))
        updates = {c: stmt.excluded[c] for c in batch[0] if c not in keys}
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
        connection.execute(stmt, batch)


def _upsert_resources(session: Session, rows: list[dict[str, Any]]) -> set[tuple[str, str]] | None:
    """Upsert resource rows; on PostgreSQL also say which already existed (None = unknown).

    Knowing which rows are new lets a first import skip deleting facts that cannot exist,
    which saves a round trip per resource type and chunk.
    """
    if session.get_bind().dialect.name != "postgresql":
        upsert_rows(session, FhirResource, rows, ("resource_type", "fhir_id"))
        return None
    updates = ", ".join(
        f"{c} = EXCLUDED.{c}" for c in rows[0] if c not in ("resource_type", "fhir_id")
    )
    done = copy_then_insert(
        session,
        table="fhir_resources",
        rows=rows,
        conflict=f"ON CONFLICT (resource_type, fhir_id) DO UPDATE SET {updates} "
        "RETURNING resource_type, fhir_id, (xmax <> 0)",
        json_columns=JSON_COLUMNS,
    )
    return {(rtype, fid) for rtype, fid, updated in done if updated}
