"""Held enrollments write the same rows as the two-step write, every column, over a first
night, its re-run, and the next night (patients already enrolled)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from careloop.compose.nightly import run_slice
from careloop.models import DecisionRow, Enrollment, Event, OutboxMessage
from careloop.outreach import enrollment as lifecycle
from careloop.records.service import patient_ids
from careloop.runtime import Runtime
from tests.ops.test_nightly import _population
from tests.ops.test_nightly_steps_batched import NIGHT, _rewind, _tops


def _all(rt: Runtime, tops: dict[str, int]) -> dict[str, Any]:
    with rt.transaction() as session:
        out = {}
        for model in (Enrollment, OutboxMessage, Event):
            t = model.__tablename__
            out[t] = [
                tuple(r)
                for r in session.execute(
                    text(f"SELECT * FROM {t} WHERE id > :top ORDER BY id"), {"top": tops.get(t, 0)}
                )
            ]
        t = DecisionRow.__tablename__
        out[t] = [tuple(r) for r in session.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
    return out


def _nights(rt: Runtime) -> list[Any]:
    with rt.transaction() as session:
        ids = patient_ids(session)
    counts = [run_slice(rt, patient_ids=ids, now=NIGHT)]
    counts.append(run_slice(rt, patient_ids=ids, now=NIGHT))  # the same night again
    counts.append(run_slice(rt, patient_ids=ids, now=NIGHT + timedelta(days=1)))
    return counts


def test_held_nights_write_what_the_two_step_write_wrote(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("held only on PostgreSQL")
    _population(rt)
    with rt.transaction() as session:
        tops = _tops(session)
    _rewind(rt, tops)
    real = lifecycle.enroll_rows
    monkeypatch.setattr(lifecycle, "enroll_rows", lambda *a, hold=False, **k: real(*a, **k))
    old_counts = _nights(rt)
    old = _all(rt, tops)
    _rewind(rt, tops)
    monkeypatch.undo()
    new_counts = _nights(rt)
    new = _all(rt, tops)
    assert new_counts == old_counts
    assert old[Enrollment.__tablename__]
    for table in old:
        assert new[table] == old[table], table
