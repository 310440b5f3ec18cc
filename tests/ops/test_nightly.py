"""``careloop nightly``: the whole cycle in slices, the same answer however it is split."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.compose.jobs import JobRunner, configured_jobs, job_status
from careloop.compose.nightly import NightlyReport, run_nightly, shard_of, slices_of
from careloop.content.library import load_library
from careloop.content.service import sync_library
from careloop.models import AuditEvent, Enrollment, Event, OutboxMessage
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from careloop.settings import JobsSettings, Settings

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "careloop" / "data" / "synthea-sample"
NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
runner = CliRunner()


def _population(rt: Runtime, *, synced: bool = True) -> None:
    """The 20 sample patients imported and (unless told not) the shipped library approved."""
    import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[SAMPLE],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )
    if synced:
        with rt.transaction() as session:
            sync_library(session, library=load_library(None), clock=rt.clock)


def _night(rt: Runtime, *, slice_size: int, shards: int = 1) -> NightlyReport:
    total = NightlyReport()
    for index in range(shards):
        part = run_nightly(rt, database="", now=NIGHT, shard=(index, shards), slice_size=slice_size)
        for key in ("patients", "gaps", "enrolled", "decided", "enqueued"):
            setattr(total, key, getattr(total, key) + getattr(part, key))
        total.slices += part.slices
    return total


def _stored(rt: Runtime) -> dict[str, int]:
    with rt.transaction() as session:
        return {
            "enrollments": session.scalar(select(func.count()).select_from(Enrollment)) or 0,
            "outbox": session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
            "eligible": session.scalar(
                select(func.count()).select_from(Event).where(Event.kind == "eligible")
            )
            or 0,
        }


def test_slices_hold_every_patient_once_whatever_the_size() -> None:
    ids = [f"p{i}" for i in range(1000)]
    for size in (1, 7, 333, 5000):
        slices = slices_of(ids, slice_size=size)
        assert sorted(pid for part in slices for pid in part) == sorted(ids)
        shuffled = slices_of(list(reversed(ids)), slice_size=size)
        assert [sorted(part) for part in shuffled] == [sorted(part) for part in slices]


@given(
    patients=st.integers(min_value=0, max_value=400),
    size=st.integers(min_value=1, max_value=500),
    workers=st.integers(min_value=1, max_value=8),
)
def test_slices_are_even_at_most_the_size_and_a_multiple_of_the_workers(
    patients: int, size: int, workers: int
) -> None:
    ids = [f"p{i:04d}" for i in range(patients)]
    slices = slices_of(ids, slice_size=size, workers=workers)
    lengths = [len(part) for part in slices]
    assert sorted(pid for part in slices for pid in part) == ids
    assert max(lengths) <= size
    assert max(lengths) - min(lengths) <= 1
    assert len(slices) % workers == 0 or len(slices) == max(1, patients)


def test_five_thousand_patients_make_four_slices_for_two_workers_not_three() -> None:
    ids = [f"p{i:05d}" for i in range(5000)]
    assert [len(part) for part in slices_of(ids, slice_size=2000, workers=2)] == [1250] * 4
    assert len(slices_of(ids, slice_size=2000)) == 3
    twenty = [f"p{i:05d}" for i in range(20000)]
    assert len(slices_of(twenty, slice_size=2000, workers=2)) == 10


@given(ids=st.sets(st.text(min_size=1, max_size=12)), shards=st.integers(1, 5))
def test_shards_hold_every_patient_once(ids: set[str], shards: int) -> None:
    parts = [shard_of(sorted(ids), shard=(k, shards)) for k in range(shards)]
    assert sorted(pid for part in parts for pid in part) == sorted(ids)


def test_a_night_in_slices_and_shards_does_what_one_slice_does(rt: Runtime) -> None:
    _population(rt)
    sliced = _night(rt, slice_size=6, shards=2)
    stored = _stored(rt)

    assert sliced.patients == 20
    assert sliced.slices >= 4
    assert sliced.gaps > 0
    assert sliced.enrolled == stored["enrollments"] == sliced.gaps
    assert stored["eligible"] == sliced.gaps
    assert 0 < sliced.decided <= sliced.enrolled
    assert 0 < sliced.enqueued <= stored["outbox"]  # withheld copies are rows, not sends

    again = _night(rt, slice_size=20)
    assert (again.gaps, again.enrolled, again.enqueued) == (sliced.gaps, 0, 0)
    assert _stored(rt) == stored


def test_each_slice_audits_the_patients_it_found_with_a_care_gap(rt: Runtime) -> None:
    _population(rt)
    report = _night(rt, slice_size=10)
    with rt.transaction() as session:
        audited = session.scalars(
            select(AuditEvent.patient_id).where(AuditEvent.resource == "nightly:care-gaps")
        ).all()
    found = {pid for pid in audited if pid is not None}
    assert 0 < len(found) <= report.gaps
    assert len(found) == len(set(found))


def test_a_worker_runs_the_nightly_cycle_once_a_day_at_the_configured_time(
    rt: Runtime, clock: FrozenClock
) -> None:
    _population(rt)
    rt.settings = Settings(
        database_url=rt.settings.database_url, jobs=JobsSettings(nightly_at=time(2, 0))
    )
    nightly = [job for job in configured_jobs(rt) if job.name == "nightly"]
    worker = JobRunner(rt, nightly, owner="w1")
    assert worker.run_due() == []  # 14:00: not before 02:00 tomorrow

    clock.advance(timedelta(hours=12))
    (night,) = worker.run_due()
    assert (night.name, night.status) == ("nightly", "ok")
    assert night.result["patients"] == 20
    assert night.result["enrolled"] == _stored(rt)["enrollments"] > 0

    clock.advance(timedelta(hours=23))
    assert worker.run_due() == []
    with rt.transaction() as session:
        (status,) = job_status(session)
    assert status["runs"] == 1
    assert status["next_run_at"] == clock.now() + timedelta(hours=1)


@pytest.mark.parametrize("args", [["--workers", "2"], ["--shard", "2/2"], ["--workers", "0"]])
def test_bad_options_are_one_line_naming_the_option(tmp_path: Path, args: list[str]) -> None:
    database = f"sqlite:///{tmp_path / 'careloop.db'}"
    result = runner.invoke(app, ["nightly", "--database", database, *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert any(word in result.stderr for word in ("workers", "shard"))
