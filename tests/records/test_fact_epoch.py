"""The night's fact read takes its times as POSIX seconds from PostgreSQL: the same doubles
whichever way the server works them out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from careloop.runtime import Runtime


def test_epoch_seconds_are_the_same_double_as_extract(rt: Runtime) -> None:
    """The read's seconds (``date_part``) equal ``EXTRACT(epoch ...)::float8`` to the bit,
    microseconds, dates before 1970 and far ahead, and infinities included."""
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite returns the datetime, converted as read")
    moments = [
        "2020-03-01 12:34:56.789012+00",
        "1969-07-20 20:17:40.000001+00",
        "1901-12-13 20:45:52.123457+00",
        "2199-12-31 23:59:59.999999+00",
        "1970-01-01 00:00:00+00",
        "infinity",
        "-infinity",
    ]
    moments += [
        datetime(1950 + k, 1 + k % 12, 1 + k % 28, k % 24, k % 60, k % 60, k * 7919 % 1_000_000)
        .replace(tzinfo=UTC)
        .isoformat()
        for k in range(200)
    ]
    with rt.sessions() as session:
        rows = session.execute(
            text(
                "SELECT date_part('epoch', m), CAST(EXTRACT(epoch FROM m) AS FLOAT) "
                "FROM unnest(CAST(:moments AS timestamptz[])) AS t(m)"
            ),
            {"moments": moments},
        ).all()
    assert len(rows) == len(moments)
    for fast, exact in rows:
        assert type(fast) is type(exact)
        assert fast == exact
