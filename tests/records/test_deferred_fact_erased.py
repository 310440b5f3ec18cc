"""A nightly slice holds its fact rows for the whole slice; a fact left out of the read
(deferred) is fetched when first decoded, so a patient erased (``governance.erasure``) after
the read but before the decode left the fetch with no row: ``NoResultFound`` out of the
retrieve, which ends the slice (and ``careloop nightly``), where the facts shipped with the
read were decoded as read."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from careloop.governance.erasure import erase_patient
from careloop.models import Patient
from careloop.records import projection_defer
from careloop.records.projection import SharedFacts
from careloop.records.projection_defer import DeferredFactRow
from careloop.runtime import Runtime
from tests.records.test_shared_facts import _import_two


def test_a_deferred_fact_erased_after_the_read_does_not_end_the_slice(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("facts are deferred on PostgreSQL only")
    _import_two(rt, tmp_path)
    # The process's tally, as a seeded night leaves it: these types deferred.
    tally = projection_defer.TALLY
    monkeypatch.setattr(tally, "seeded", True)
    monkeypatch.setattr(tally, "learning", False)
    monkeypatch.setattr(tally, "decoded", {})
    monkeypatch.setattr(
        tally, "read", dict.fromkeys(("Encounter", "Observation", "Condition", "Procedure"), 1000)
    )
    with rt.transaction() as session:
        ids = sorted(session.scalars(select(Patient.id)))
    with rt.sessions() as session:
        shared = SharedFacts(defer=True)
        rows = dict(shared.rows(session, ids, batch=500))
        erased = ids[0]
        deferred = [row for row in rows[erased] if isinstance(row, DeferredFactRow)]
        assert deferred
        with rt.transaction() as other:  # the erasure commits while the slice runs
            erase_patient(other, patient_id=erased)
        for row in deferred:
            fact = row.fact  # raised NoResultFound
            assert fact["resourceType"] == row.rtype
        kept = [row for row in rows[ids[1]] if isinstance(row, DeferredFactRow)]
        assert all(row.fact["id"] for row in kept)  # the other patient's fetched as ever
        session.rollback()
