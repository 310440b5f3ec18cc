"""A queued slice reads only its own patients, through the hash index, and every patient once."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text

from careloop.compose.nightly import hash_range
from careloop.compose.nightly import in_hash_range as _in_part
from careloop.models import Patient
from tests.ops.test_nightly import _population
from tests.ops.test_queue import _runtime


@given(count=st.integers(min_value=1, max_value=100_000))
def test_the_slices_hash_ranges_cover_every_hash_once_in_equal_parts(count: int) -> None:
    ranges = [hash_range(index, count) for index in range(count)]

    assert ranges[0][0] == -(2**31)
    assert ranges[-1][1] == 2**31
    assert all(high == low for (_, high), (low, _) in pairwise(ranges))
    assert max(h - lo for lo, h in ranges) - min(h - lo for lo, h in ranges) <= 1


@pytest.mark.parametrize("count", [1, 3, 7, 20])
def test_every_patient_is_in_exactly_one_slice_read_through_the_index(
    empty_postgresql_url: str, count: int
) -> None:
    """Slices used to be ``mod(abs(hashtext(id)), n) = k``: each slice task scanned the whole
    ``patients`` table (slices x patients rows a night)."""
    rt = _runtime(empty_postgresql_url)
    try:
        _population(rt, synced=False)
        with rt.transaction() as session:
            everyone = sorted(session.scalars(select(Patient.id)))
            parts = [
                list(session.scalars(select(Patient.id).where(_in_part(index, count))))
                for index in range(count)
            ]
            session.execute(text("SET LOCAL enable_seqscan = off"))
            query = select(Patient.id).where(_in_part(0, count))
            compiled = query.compile(rt.engine, compile_kwargs={"literal_binds": True})
            plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
    finally:
        rt.engine.dispose()

    assert sorted(pid for part in parts for pid in part) == everyone
    assert "ix_patients_id_hash" in plan
