"""Rows written by COPY (straight into a table, or staged for a conflict clause) are the rows
the ORM would write: JSON with tabs, newlines, backslashes, quotes and other scripts intact."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from careloop.db import copy_then_insert
from careloop.models import Event
from careloop.runtime import Runtime
from tests.conftest import START

AWKWARD: list[Any] = [
    {"text": 'tab\there\nnew line \\ back\\slash "quoted" \\N', "n": 1.5},
    {"text": "你好 ¡Hola! é", "list": [None, True, 0]},
    None,
    [],
    "a string",
]


def _rows(tag: str) -> list[dict[str, Any]]:
    return [
        {"kind": "decided", "actor": tag, "occurred_at": START, "recorded_at": START,
         "payload": payload}
        for payload in AWKWARD
    ]  # fmt: skip


@pytest.mark.parametrize("conflict", ["", "ON CONFLICT DO NOTHING"])
def test_copied_rows_equal_the_rows_an_insert_writes(rt: Runtime, conflict: str) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    with rt.transaction() as session:
        session.execute(insert(Event), _rows("insert"))
        copy_then_insert(
            session, table="events", rows=_rows("copy"), conflict=conflict,
            json_columns=("payload",),
        )  # fmt: skip
    with rt.transaction() as session:
        found = session.execute(select(Event.actor, Event.payload).order_by(Event.id)).all()
    inserted = [payload for actor, payload in found if actor == "insert"]
    copied = [payload for actor, payload in found if actor == "copy"]
    assert copied == inserted == AWKWARD
