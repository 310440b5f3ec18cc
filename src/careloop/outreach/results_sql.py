"""The SQL that writes a group's results on PostgreSQL in few round trips.

``UPDATE ... FROM jsonb_to_recordset(...)`` of the rows as one JSON document (one parameter
whatever the number of rows: the statement compiles once and is one round trip), and the
group commit's single statement (:func:`write_at_once`): results, ``calling`` mark and an
asynchronous commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import JSON, Table, bindparam, text
from sqlalchemy.orm import Session

from careloop.models import ContactBudgetLock, Event, OutboxMessage, SendAttempt
from careloop.outreach.states import AttemptOutcome, OutboxState

OUTBOX = cast(Table, OutboxMessage.__table__)
ATTEMPTS = cast(Table, SendAttempt.__table__)
OUTBOX_RESULT_COLUMNS = [
    "state",
    "sent_at",
    "provider_id",
    "last_error",
    "dead_reason",
    "next_attempt_at",
]
ATTEMPT_KEY: dict[str, Any] = {"b_message": ATTEMPTS.c.message_id, "b_number": ATTEMPTS.c.number}
ATTEMPT_RESULT_COLUMNS = ["outcome", "error", "slot_at"]


@dataclass(frozen=True, slots=True)
class ArrayUpdate:
    """``UPDATE table AS t SET column = v.column, ... FROM jsonb_to_recordset(...) AS v(...)
    WHERE ...``: the one shape of every many-rows update here. ``key`` maps parameter names to the
    columns that find a row; ``also`` (further assignments) and ``where`` (a further
    condition on ``t``) are SQL."""

    table: Table
    key: dict[str, Any]
    columns: list[str]
    also: list[str]
    where: str

    def sql(
        self, dialect: Any, rows: list[dict[str, Any]], *, prefix: str
    ) -> tuple[str, dict[str, Any]]:
        """The statement for ``rows`` and its parameters (named ``prefix_...``)."""
        table = self.table
        source, params = json_rows(
            dialect, {**self.key, **{c: table.c[c] for c in self.columns}}, rows, prefix
        )
        assignments = [*(f"{c} = v.{c}" for c in self.columns), *self.also]
        matches = [*(f"t.{col.name} = v.{name}" for name, col in self.key.items()), self.where]
        statement = (
            f"UPDATE {table.name} AS t SET {', '.join(assignments)} "
            f"FROM {source} WHERE {' AND '.join(matches)}"
        )
        return statement, params


OUTBOX_RESULTS = ArrayUpdate(
    OUTBOX,
    {"b_id": OUTBOX.c.id},
    OUTBOX_RESULT_COLUMNS,
    also=["lease_until = NULL", "updated_at = :now"],
    where="t.state = :sending AND t.claimed_by = :worker",
)
"""The previous group's outbox rows still this worker's (``sending``, claimed by it; the
group commit's first write). A row whose lease ran out and that another worker took is
that worker's to record: its results here are left out."""
ATTEMPT_RESULTS = ArrayUpdate(
    ATTEMPTS,
    ATTEMPT_KEY,
    ATTEMPT_RESULT_COLUMNS,
    also=["finished_at = :now"],
    where="t.finished_at IS NULL AND t.message_id IN (SELECT id FROM o)",
)
"""The previous group's open attempts of the rows :data:`OUTBOX_RESULTS` wrote, finished."""


@dataclass(frozen=True, slots=True)
class CallingMark:
    """Rows about to be sent (``ids``): their lease renewed to ``until`` and their open
    attempts marked ``calling`` if they are still ``worker_id``'s."""

    ids: Sequence[int]
    worker_id: str
    until: datetime
    budget_patients: Sequence[str] = ()
    """Patients whose contact-budget rows to lock (upserted in id order) for the budget's
    count, which follows in its own statement (:func:`careloop.outreach.budget.admit`)."""
    contacts: Sequence[int] = ()
    """Rows among ``ids`` that spend the patient's budget: they get ``contact_at = now``
    in the same update that renews their lease (one row version, not two), under the
    locks this statement takes; the count that follows leaves them out and clears it on
    any it refuses."""


def write_at_once(
    session: Session,
    *,
    updates: list[dict[str, Any]],
    attempts: list[dict[str, Any]],
    events: list[dict[str, Any]],
    calling: CallingMark,
    now: datetime,
) -> tuple[set[int], set[int]]:
    """One PostgreSQL statement for a group's commit: the previous group's outbox rows (still
    this worker's only), their attempts and events, then this group's ``calling`` mark (lease
    renewed, attempts marked, rows still this worker's returned), in data-modifying CTEs over
    ``unnest`` arrays, and ``set_config('synchronous_commit', 'off', true)`` for the commit.
    The writes touch different rows (results are the previous group's, the mark this
    group's), so one statement does what four to six did. Returns the ids of this group
    still this worker's, and those of ``updates`` written (a row another worker took after
    this one's lease ran out keeps its new owner's attempt and gets no event from here)."""
    dialect = session.get_bind().dialect
    params: dict[str, Any] = {
        "now": _bound(OUTBOX.c.updated_at.type, now, dialect),
        "sending": str(OutboxState.SENDING),
        "calling": str(AttemptOutcome.CALLING),
        "ids": list(calling.ids),
        "worker": calling.worker_id,
        "until": _bound(OUTBOX.c.lease_until.type, calling.until, dialect),
        "contacts": list(calling.contacts),
    }
    # A SELECT in WITH runs only when the main query reads it (below); the setting, local
    # to the transaction, is what its commit reads.
    parts = ["s AS (SELECT set_config('synchronous_commit', 'off', true) AS v)"]
    if updates:
        statement, more = OUTBOX_RESULTS.sql(dialect, updates, prefix="o")
        params.update(more)
        parts.append(f"o AS ({statement} RETURNING t.id)")
    else:
        parts.append("o AS (SELECT CAST(NULL AS BIGINT) AS id WHERE false)")
    if attempts:
        statement, more = ATTEMPT_RESULTS.sql(dialect, attempts, prefix="a")
        params.update(more)
        parts.append(f"a AS ({statement})")
    if events:
        events_table = cast(Table, Event.__table__)
        names = list(events[0])
        events_from, more = json_rows(dialect, {n: events_table.c[n] for n in names}, events, "e")
        params.update(more)
        parts.append(
            f"e AS (INSERT INTO {events_table.name} ({', '.join(names)}) "
            f"SELECT {', '.join(names)} FROM {events_from} "
            "WHERE v.subject_id IN (SELECT CAST(id AS VARCHAR) FROM o))"
        )
    if calling.budget_patients:
        # The budget's lock, as budget.admit would take it: rows upserted in id order, each
        # update locking its row until the commit. The count reads after this statement.
        locks = cast(Table, ContactBudgetLock.__table__)
        params["budget_patients"] = sorted(set(calling.budget_patients))
        parts.append(
            f"l AS (INSERT INTO {locks.name} (patient_id, checked_at) "
            "SELECT p, :now FROM unnest(CAST(:budget_patients AS VARCHAR[])) AS p ORDER BY p "
            "ON CONFLICT (patient_id) DO UPDATE SET checked_at = excluded.checked_at)"
        )
    # The calling mark as claims.mark_calling makes it: only rows still this worker's; the
    # id list finds the attempts by index, the CTE keeps the rows still held. The budget's
    # mark rides in the same update (a row updated twice in one transaction is two row
    # versions and two sets of index entries: contact_at is indexed).
    parts.append(
        f"r AS (UPDATE {OUTBOX.name} SET lease_until = :until, contact_at = CASE "
        "WHEN id = ANY(CAST(:contacts AS BIGINT[])) THEN :now ELSE contact_at END "
        "WHERE id = ANY(CAST(:ids AS BIGINT[])) AND state = :sending AND claimed_by = :worker "
        "RETURNING id)"
    )
    parts.append(
        f"c AS (UPDATE {ATTEMPTS.name} SET outcome = :calling "
        "WHERE message_id = ANY(CAST(:ids AS BIGINT[])) AND message_id IN (SELECT id FROM r) "
        "AND finished_at IS NULL)"
    )
    final = (
        "SELECT id, true FROM r UNION ALL SELECT id, false FROM o "
        "UNION ALL SELECT NULL, NULL FROM s WHERE s.v IS NULL"
    )
    found = session.execute(text(f"WITH {', '.join(parts)} {final}"), params).all()
    ours = {int(i) for i, mark in found if mark}
    return ours, {int(i) for i, mark in found if mark is False}


def json_rows(
    dialect: Any, columns: dict[str, Any], rows: list[dict[str, Any]], prefix: str
) -> tuple[str, dict[str, Any]]:
    """``jsonb_to_recordset(CAST(:prefix AS JSONB)) AS v(key type, ...)`` (``columns`` maps
    each key of ``rows`` to the column whose type it has) and its one parameter: the rows as
    one JSON document, each value through its column's bind processing first (JSON columns
    nested as they are). One parameter whatever the number of rows, so the statement
    compiles once; and one ``orjson`` call instead of a text array per column, whose
    quoting and escaping of each item (a JSON payload's every quote) cost the worker ~0.03
    ms a row."""
    processors = {
        name: None if isinstance(column.type, JSON) else column.type.bind_processor(dialect)
        for name, column in columns.items()
    }
    document = [
        {
            name: row[name] if process is None else process(row[name])
            for name, process in processors.items()
        }
        for row in rows
    ]
    definition = ", ".join(
        f"{name} {column.type.compile(dialect=dialect)}" for name, column in columns.items()
    )
    source = f"jsonb_to_recordset(CAST(:{prefix} AS JSONB)) AS v({definition})"
    # A JSON null in the document is SQL NULL in the record; ``None`` in a JSON column is
    # the JSON ``null`` (``none_as_null`` off), as the column's bind processing wrote it.
    json_null = [
        name
        for name, column in columns.items()
        if isinstance(column.type, JSON) and not column.type.none_as_null
    ]
    if json_null:
        picked = ", ".join(
            f"COALESCE(v.{name}, CAST('null' AS {column.type.compile(dialect=dialect)})) AS {name}"
            if name in json_null
            else f"v.{name}"
            for name, column in columns.items()
        )
        source = f"(SELECT {picked} FROM {source}) AS v"
    return source, {prefix: orjson.dumps(document).decode()}


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """``INSERT`` of ``rows`` (dicts with the same keys): on PostgreSQL one statement over
    :func:`json_rows` (one parameter; an executemany of 500 rows rendered 2,500), elsewhere
    an executemany."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.connection().execute(table.insert(), rows)
        return
    names = list(rows[0])
    source, params = json_rows(
        session.get_bind().dialect, {n: table.c[n] for n in names}, rows, "r"
    )
    session.execute(
        text(
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(names)} FROM {source}"
        ),
        params,
    )


def bulk_update(
    session: Session,
    table: Table,
    *,
    key: dict[str, Any],
    columns: list[str],
    rows: list[dict[str, Any]],
    where: Any,
    constants: dict[str, Any],
) -> None:
    """Update many rows with different values: one ``UPDATE ... FROM
    jsonb_to_recordset(...)`` on PostgreSQL (one round trip for a whole batch), executemany
    elsewhere.

    ``key`` maps parameter names to the columns that find a row; ``where`` must hold too
    (e.g. the row is still ``sending``); ``constants`` are set on every row.
    """
    if not rows:
        return
    if len(rows) == 1 or session.get_bind().dialect.name != "postgresql":
        stmt = (
            table.update()
            .where(*(col == bindparam(name) for name, col in key.items()), where)
            .values({**{c: bindparam(c) for c in columns}, **constants})
        )
        session.connection().execute(stmt, rows)
        return
    dialect = session.get_bind().dialect
    condition = where.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    statement, params = ArrayUpdate(
        table,
        key,
        columns,
        also=[f"{c} = :c_{c}" for c in constants],
        where=str(condition).replace(table.name + ".", "t."),
    ).sql(dialect, rows, prefix="a")
    params.update({f"c_{c}": _bound(table.c[c].type, v, dialect) for c, v in constants.items()})
    session.execute(text(statement), params)


def _bound(type_: Any, value: Any, dialect: Any) -> Any:
    process = type_.bind_processor(dialect)
    return process(value) if process is not None else value
