"""``db.any_of``: ``column IN values`` that selects the same rows on both databases, and on
PostgreSQL sends one statement text however many values there are (one array parameter), so
the driver can prepare it and the server need not parse a new list each time."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from careloop.db import any_of
from careloop.models import Event
from careloop.runtime import Runtime
from tests.statements import statements

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PATIENTS = [f"any-of-{n}" for n in range(12)]


def _events(rt: Runtime) -> dict[str, int]:
    """One event per patient; the event id of each."""
    with rt.transaction() as session:
        rows = [
            Event(kind="eligible", patient_id=pid, occurred_at=NOW, recorded_at=NOW,
                  actor="test", payload={})
            for pid in PATIENTS
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        return {row.patient_id: row.id for row in rows if row.patient_id is not None}


def test_any_of_selects_exactly_the_rows_whose_value_is_listed(rt: Runtime) -> None:
    ids = _events(rt)
    wanted = [PATIENTS[1], PATIENTS[5], PATIENTS[5], "nobody"]
    with rt.transaction() as session:
        by_patient = set(
            session.scalars(
                select(Event.patient_id).where(any_of(session, Event.patient_id, wanted))
            )
        )
        by_id = set(
            session.scalars(
                select(Event.patient_id).where(
                    any_of(session, Event.id, [ids[PATIENTS[2]], ids[PATIENTS[7]]])
                )
            )
        )
        none = list(session.scalars(select(Event.id).where(any_of(session, Event.id, []))))
    assert by_patient == {PATIENTS[1], PATIENTS[5]}
    assert by_id == {PATIENTS[2], PATIENTS[7]}
    assert none == []


def test_lists_of_any_length_are_one_statement_text_on_postgresql(rt: Runtime) -> None:
    _events(rt)
    with rt.transaction() as session, statements(rt.engine) as seen:
        found = [
            len(
                session.scalars(
                    select(Event.id).where(any_of(session, Event.patient_id, some))
                ).all()
            )
            for some in (PATIENTS[:1], PATIENTS[:5], PATIENTS)
        ]
    assert found == [1, 5, 12]
    postgresql = rt.engine.dialect.name == "postgresql"
    assert len(set(seen)) == (1 if postgresql else 3)


def test_a_value_longer_than_the_column_matches_nothing(rt: Runtime) -> None:
    """As ``IN``: ``::VARCHAR(64)[]`` would cut the value to the column's length and find the
    row whose value is its first 64 characters."""
    long_id = "p" * 64
    with rt.transaction() as session:
        session.add(Event(kind="eligible", patient_id=long_id, occurred_at=NOW,
                          recorded_at=NOW, actor="test", payload={}))  # fmt: skip
    with rt.transaction() as session:
        found = session.scalars(
            select(Event.patient_id).where(
                any_of(session, Event.patient_id, [long_id + "-someone-else"])
            )
        ).all()
    assert found == []
