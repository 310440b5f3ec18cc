"""A first night writes each new enrollment once, with its first step already decided.

Enrolling and then moving the enrollment to its next step wrote every row twice on
PostgreSQL (a COPY, then an UPDATE: two row versions and every index entry written again,
~0.1 ms of server CPU a patient); the slice now holds new enrollments until their first
step is decided and COPYs them as they stand (docs/benchmarks.md, ntq).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select

from careloop.compose.nightly import run_slice
from careloop.models import Enrollment, OutboxMessage
from careloop.records.service import patient_ids
from careloop.runtime import Runtime
from tests.ops.test_nightly import NIGHT, _population


def test_a_first_night_writes_each_enrollment_once_with_its_step_decided(rt: Runtime) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite enrolls through the ORM's flush")
    _population(rt)
    with rt.transaction() as session:
        everyone = patient_ids(session)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(rt.engine, "before_cursor_execute", seen)
    try:
        counts = run_slice(rt, patient_ids=everyone, now=NIGHT)
    finally:
        event.remove(rt.engine, "before_cursor_execute", seen)

    with rt.transaction() as session:
        enrolled = session.scalar(select(func.count()).select_from(Enrollment))
        stepped = session.scalars(
            select(Enrollment.next_step).where(
                Enrollment.id.in_(select(OutboxMessage.enrollment_id))
            )
        ).all()
    assert counts["enrolled"] == enrolled > 1
    assert [s for s in statements if s.lstrip().startswith("UPDATE outreach_enrollments")] == []
    assert stepped
    assert set(stepped) == {1}  # each queued enrollment's row already stands at its next step
