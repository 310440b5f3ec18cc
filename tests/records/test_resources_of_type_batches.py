"""Resources for many patients at once, on both databases: the programs job asks for the
visits of every enrolled patient (90,300 at 100,000 patients, past the 65,535 parameters a
PostgreSQL statement takes), so the ids go a batch a statement and the answer is the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from careloop.records import service
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients
from tests.statements import statements

IDS = [f"rb-{n:02d}" for n in (7, 3, 11, 0, 5, 9, 1, 4, 10)]


def test_batches_of_ids_give_the_resources_one_statement_gives(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_patients(rt, tmp_path, *IDS, heart_failure=("rb-03", "rb-10"))
    asked = [*IDS[:6], "rb-99", IDS[2]]  # one unknown, one twice
    with rt.transaction() as session:
        whole = list(service.resources_of_type(session, resource_type="Patient", patient_ids=asked))
        conditions = list(
            service.resources_of_type(session, resource_type="Condition", patient_ids=IDS)
        )
        monkeypatch.setattr(service, "IDS_PER_STATEMENT", 2)
        batched = list(
            service.resources_of_type(session, resource_type="Patient", patient_ids=asked)
        )
        every = list(service.resources_of_type(session, resource_type="Patient"))

    assert [pid for pid, _ in whole] == sorted(IDS[:6])
    assert batched == whole
    assert [r["id"] for _, r in every] == sorted(IDS)
    assert sorted(pid for pid, _ in conditions) == ["rb-03", "rb-10"]


def test_postgresql_reads_any_number_of_ids_in_one_ordered_statement(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL gets the ids as one array, so its collation alone orders the answer;
    SQLite, which has no arrays, reads them a batch a statement."""
    add_patients(rt, tmp_path, *IDS)
    monkeypatch.setattr(service, "IDS_PER_STATEMENT", 2)
    with rt.transaction() as session, statements(rt.engine) as seen:
        found = list(service.resources_of_type(session, resource_type="Patient", patient_ids=IDS))
    with rt.transaction() as session:
        every = list(service.resources_of_type(session, resource_type="Patient"))

    assert found == every
    assert len(seen) == {"postgresql": 1, "sqlite": 5}[rt.engine.dialect.name]
