"""The typed columns of facts stored before they existed, filled in the background.

Migration 0550 adds the columns without filling them (a backfill inside the migration took
longer than any deployment window on millions of facts), and 0560 adds ``columns_version``:
NULL until a row's columns are computed. This fills them in **slices** in key order (keyset
on the primary key), each slice its own committed transaction, its place kept in
``fact_columns_backfill`` so it resumes where it stopped (after a crash, a deadline, the next
run of the job), and once it has passed the table's end it costs one row read a run.

Safe beside a running import and a running night:

- the slices of two backfills (the job and the CLI) take turns on the place row's lock;
- a fact an import is writing (its row locked) is skipped (``SKIP LOCKED``), never waited
  for, so the backfill never takes part in a deadlock: the import writes that fact's columns
  and version itself; a fact written since (``columns_version`` set) is left as it is;
- a night reads a row's columns only once its version is set (``records.fact_columns``), and
  before that the fact itself, which gives the same results.

The columns are those import writes (``records.projection.fact_rows``): status and timing
from the resource's ``fhir_resources`` row (``records.extract``, written by the same import),
the rest computed from the fact by ``records.fact_columns``. Both backends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, Text, and_, bindparam, cast, literal, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careloop.models import FactColumnsBackfill, FhirResource, ResourceFact, ResourceFactBody
from careloop.records.fact_columns import COLUMNS_VERSION, computed_columns

BATCH = 2000
"""Facts a slice looks at: a slice's transaction holds their row locks for ~0.1–0.5 s."""


@dataclass(frozen=True)
class SliceResult:
    looked_at: int
    """Facts the slice went past (filled in, or found computed or held by an import)."""
    filled: int
    """Facts whose columns this slice computed."""
    finished: bool
    """The backfill had passed the table's end (nothing left to fill)."""
    restarted: bool = False
    """Past the table's end a fact was still not computed (passed over while a transaction
    held it): the place went back to its type."""


@dataclass(frozen=True)
class BackfillResult:
    filled: int
    """Facts filled in by this run."""
    slices: int
    """Committed slices this run."""
    finished: bool
    """Every fact stored before the columns existed is filled in."""
    filled_in_all: int
    """Facts filled in by every run so far."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fill_slice(session: Session, *, batch: int = BATCH, now: datetime) -> SliceResult:
    """Fill in the next ``batch`` facts after the backfill's place and move the place on.
    Flushes only: the caller commits (one slice, one transaction)."""
    place = _place(session)
    if place.finished_at is not None:
        return SliceResult(0, 0, finished=True)
    after = (place.after_type, place.after_id)
    key = tuple_(ResourceFact.resource_type, ResourceFact.fhir_id)
    keys = session.execute(
        select(ResourceFact.resource_type, ResourceFact.fhir_id)
        .where(key > tuple_(literal(after[0]), literal(after[1])))
        .order_by(ResourceFact.resource_type, ResourceFact.fhir_id)
        .limit(batch)
    ).all()
    if not keys:
        # Past the end: a fact passed over because a transaction held it (one that rolled
        # back never wrote it) is still NULL; go back to its type rather than finish.
        left = _first_uncomputed(session)
        if left is not None:
            place.after_type, place.after_id = left, ""
            session.flush()
            return SliceResult(0, 0, finished=False, restarted=True)
        place.finished_at = now
        session.flush()
        return SliceResult(0, 0, finished=True)
    last = (keys[-1][0], keys[-1][1])
    filled = 0
    for rtype, ids in _by_type(keys).items():
        filled += _write(session, _uncomputed(session, rtype, first=ids[0], last=ids[-1]))
    place.after_type, place.after_id = last
    place.rows_done += filled
    session.flush()
    return SliceResult(len(keys), filled, finished=place.finished_at is not None)


def fill_facts(
    transaction: Callable[[], AbstractContextManager[Session]],
    *,
    now: datetime,
    batch: int = BATCH,
    slices: int | None = None,
    seconds: float | None = None,
    timer: Callable[[], float] = time.monotonic,
) -> BackfillResult:
    """Fill in slices, each in its own ``transaction()``, until none is left, or after
    ``slices`` slices, or once ``seconds`` have passed (a periodic job's share)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    started = timer()
    filled = done = 0
    finished = False
    while slices is None or done < slices:
        with transaction() as session:
            result = fill_slice(session, batch=batch, now=now)
        filled += result.filled
        done += result.looked_at > 0
        finished = result.finished
        if finished or result.restarted:
            break  # once restarted, the next run goes on (a fact may still be held)
        if seconds is not None and timer() - started >= seconds:
            break
    with transaction() as session:
        total = _place(session).rows_done
    return BackfillResult(filled=filled, slices=done, finished=finished, filled_in_all=total)


def _by_type(keys: Sequence[Any]) -> dict[str, list[str]]:
    """The slice's FHIR ids per type (a slice spans one type, at times two)."""
    ids: dict[str, list[str]] = {}
    for rtype, fhir_id in keys:
        ids.setdefault(rtype, []).append(fhir_id)
    return ids


def _uncomputed(session: Session, rtype: str, *, first: str, last: str) -> Sequence[Any]:
    """The facts of ``rtype`` from ``first`` to ``last`` whose columns are not computed, with
    their resource's status and timing and their body's JSON, locked; one an import holds is
    passed over. The three tables are read by a range of their own key (one type, an id
    range), so each read is an index range bounded by the slice whatever the planner thinks
    of the table's size."""
    return session.execute(
        select(
            ResourceFact.resource_type,
            ResourceFact.fhir_id,
            cast(ResourceFactBody.fact, Text),
            FhirResource.status,
            FhirResource.effective_start,
            FhirResource.effective_end,
        )
        .join(
            FhirResource,
            and_(
                FhirResource.resource_type == ResourceFact.resource_type,
                FhirResource.fhir_id == ResourceFact.fhir_id,
            ),
        )
        .join(
            ResourceFactBody,
            and_(
                ResourceFactBody.resource_type == ResourceFact.resource_type,
                ResourceFactBody.fhir_id == ResourceFact.fhir_id,
            ),
        )
        .where(
            ResourceFact.resource_type == rtype,
            ResourceFact.fhir_id.between(first, last),
            FhirResource.resource_type == rtype,
            FhirResource.fhir_id.between(first, last),
            ResourceFactBody.resource_type == rtype,
            ResourceFactBody.fhir_id.between(first, last),
            ResourceFact.columns_version.is_(None),
        )
        .with_for_update(of=ResourceFact, skip_locked=True)
    ).all()


def _first_uncomputed(session: Session) -> str | None:
    """The type of the first fact (key order) whose columns are not computed, if any."""
    return session.scalar(
        select(ResourceFact.resource_type)
        .join(
            FhirResource,
            and_(
                FhirResource.resource_type == ResourceFact.resource_type,
                FhirResource.fhir_id == ResourceFact.fhir_id,
            ),
        )
        .where(ResourceFact.columns_version.is_(None))
        .order_by(ResourceFact.resource_type, ResourceFact.fhir_id)
        .limit(1)
    )


def _place(session: Session) -> FactColumnsBackfill:
    """The backfill's place for this version of the rules, locked for this transaction."""
    place = session.get(FactColumnsBackfill, COLUMNS_VERSION, with_for_update=True)
    if place is not None:
        return place
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(FactColumnsBackfill)
        .values(version=COLUMNS_VERSION, after_type="", after_id="", rows_done=0)
        .on_conflict_do_nothing()
    )
    place = session.get(FactColumnsBackfill, COLUMNS_VERSION, with_for_update=True)
    assert place is not None
    return place


def _write(session: Session, rows: Sequence[Any]) -> int:
    """Write the columns of ``rows`` (key, fact text, status, start, end); a row written
    meanwhile by an import (its version set) is left as the import wrote it."""
    if not rows:
        return 0
    values = [
        {
            "key_type": rtype,
            "key_id": fhir_id,
            "status": status,
            "start_at": start,
            "end_at": end,
            **computed_columns(orjson.loads(fact)),
            "columns_version": COLUMNS_VERSION,
        }
        for rtype, fhir_id, fact, status, start, end in rows
    ]
    table: Table = ResourceFact.__table__  # type: ignore[assignment]
    statement = (
        update(table)
        .where(
            table.c.resource_type == bindparam("key_type"),
            table.c.fhir_id == bindparam("key_id"),
            table.c.columns_version.is_(None),
        )
        .values({name: bindparam(name) for name in values[0] if not name.startswith("key_")})
    )
    session.connection().execute(statement, values)
    return len(values)
