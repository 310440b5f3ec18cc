"""A first night writes each new enrollment once, with its first step already decided.

Enrolling and then moving the enrollment to its next step wrote every row twice on
PostgreSQL (a COPY, then an UPDATE: two row versions and every index entry written again,
~0.04 ms of server CPU a row); the slice now holds new enrollments until their first step
is decided and COPYs them as they stand (docs/benchmarks.md, ntq).
"""

from __future__ import annotations

import pytest

from careloop.runtime import Runtime
from tests.ops.test_nightly import _population
from tests.ops.test_nightly_steps_batched import _night, _tops


def test_a_first_night_writes_each_enrollment_once_with_its_step_decided(rt: Runtime) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite enrolls through the ORM's flush")
    _population(rt)
    with rt.transaction() as session:
        tops = _tops(session)

    night = _night(rt, tops)

    queued = {m[2] for m in night["outbox"]}  # the enrollments a message was queued for
    steps = {e[4] for e in night["enrollments"] if e[0] in queued}
    assert night["counts"]["enrolled"] == len(night["enrollments"]) > 1
    assert night["update_statements"] == 0
    assert steps == {1}  # each row written already stands at its next step
