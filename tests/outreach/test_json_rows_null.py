"""``insert_rows``/``bulk_update`` on PostgreSQL (rows as one JSON document) write ``None`` in
a JSON column as the column's own bind processing does: the JSON ``null``, not SQL NULL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, select

from careloop.models import Event
from careloop.outreach.results_sql import insert_rows
from careloop.runtime import Runtime

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_none_in_a_json_column_is_written_as_before(rt: Runtime) -> None:
    row = {"kind": "k", "patient_id": "json-null", "occurred_at": NOW, "recorded_at": NOW,
           "actor": "t", "payload": None}  # fmt: skip
    with rt.transaction() as session:
        insert_rows(session, cast(Table, Event.__table__), [row, {**row, "payload": {"a": 1}}])
    with rt.transaction() as session:
        found = session.scalars(
            select(Event.payload).where(Event.patient_id == "json-null").order_by(Event.id)
        ).all()
    assert found == [None, {"a": 1}]
