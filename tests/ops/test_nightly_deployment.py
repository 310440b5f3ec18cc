"""The nightly cycle as a fresh deployment meets it (acceptance of issue 18, items 2-3)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from careloop.cli import app
from careloop.compose.jobs import JobRunner, configured_jobs
from careloop.compose.nightly import run_nightly
from careloop.content.library import load_library
from careloop.content.service import sync_library
from careloop.models import Enrollment, OutboxMessage
from careloop.outreach.handoffs import FIRST_QUESTION_SUFFIX
from careloop.runtime import Runtime, open_runtime
from careloop.settings import JobsSettings, Settings
from tests.ops.test_nightly import _population
from tests.scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src" / "careloop" / "data" / "synthea-sample"
runner = CliRunner()


def _counts(url: str) -> tuple[int, int]:
    rt = open_runtime(database=url, run_migrations=False)
    try:
        with rt.transaction() as session:
            enrollments = session.scalar(select(func.count()).select_from(Enrollment)) or 0
            outbox = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    finally:
        rt.close()
    return enrollments, outbox


def test_a_night_before_the_content_sync_is_refused_and_consumes_no_step(tmp_path: Path) -> None:
    """Without approved words every decided step used to be consumed with nothing queued, so
    the first night of a fresh install lost every patient's invitation for the period."""
    url = f"sqlite:///{tmp_path / 'careloop.db'}"
    imported = runner.invoke(app, ["import", str(SAMPLE), "--database", url])
    assert imported.exit_code == 0, imported.output

    refused = runner.invoke(app, ["nightly", "--database", url])
    assert refused.exit_code == 2
    assert "Traceback" not in refused.output
    assert "careloop content sync" in refused.stderr
    assert _counts(url) == (0, 0)

    synced = runner.invoke(app, ["content", "sync", "--database", url])
    assert synced.exit_code == 0, synced.output
    night = runner.invoke(app, ["nightly", "--json", "--database", url])
    assert night.exit_code == 0, night.output
    enrollments, outbox = _counts(url)
    assert enrollments > 0
    assert outbox > 0


def test_a_queued_night_before_the_content_sync_is_refused(empty_postgresql_url: str) -> None:
    url = empty_postgresql_url
    upgraded = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert upgraded.exit_code == 0, upgraded.output

    refused = runner.invoke(app, ["nightly", "--queue", "--database", url])
    assert refused.exit_code == 2
    assert "Traceback" not in refused.output
    assert "careloop content sync" in refused.stderr


@pytest.mark.parametrize(
    ("care_gaps", "nightly_at", "enrolls"),
    [
        (True, None, True),
        (False, None, False),
        (None, None, True),  # unset, no night scheduled here: the tick identifies
        (None, time(2, 0), False),  # unset, ``nightly_at`` set: the night identifies
        (True, time(2, 0), True),
    ],
)
def test_the_periodic_tick_leaves_care_gaps_to_the_night_when_told(
    rt: Runtime, care_gaps: bool | None, nightly_at: time | None, enrolls: bool
) -> None:
    """Every worker's outreach tick (every 5 minutes) evaluated every patient's care gaps in
    one transaction, racing the night's slices (at 2,000 patients it took 122 s and made the
    night's slice fail and retry); a deployment whose nightly identifies turns it off."""
    _population(rt)
    rt.settings = Settings(
        database_url=rt.settings.database_url,
        jobs=JobsSettings(outreach_tick_care_gaps=care_gaps, nightly_at=nightly_at),
    )
    tick = [job for job in configured_jobs(rt) if job.name == "outreach-tick"]

    (outcome,) = JobRunner(rt, tick, owner="w1").run_due()

    assert outcome.status == "ok"
    with rt.transaction() as session:
        enrolled = session.scalar(select(func.count()).select_from(Enrollment)) or 0
    assert (enrolled > 0) is enrolls


def _bench() -> Any:
    """``benchmarks/nightly.py`` as a module (benchmarks are no package)."""
    return load_benchmark("nightly")


def test_the_queued_benchmark_counts_enqueued_as_the_in_process_night_does(rt: Runtime) -> None:
    """``benchmarks/nightly.py --queue`` read ``enqueued`` as every outbox row, portal copies
    included (3,445 against the in-process night's 3,027 on the same 2,000 patients)."""
    bench = _bench()
    _population(rt)
    report = run_nightly(rt, database="", now=rt.clock.now())
    with rt.engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM outreach_outbox")).scalar_one()
        queued = conn.execute(text(bench.QUEUED_STEPS.replace(":", "\\:"))).scalar_one()
    assert rows > report.enqueued > 0  # some sends carry a portal copy
    assert queued == report.enqueued


def test_the_queued_benchmark_does_not_count_a_checkin_first_question(rt: Runtime) -> None:
    """A check-in step queues its invitation and, a second later, its first question (key
    ``…:q1``): one step, two rows. ``--queue`` counted both."""
    bench = _bench()
    _population(rt)
    run_nightly(rt, database="", now=rt.clock.now())
    count = text(bench.QUEUED_STEPS.replace(":", "\\:"))
    with rt.transaction() as session:
        before = session.execute(count).scalar_one()
        invitation = session.scalars(select(OutboxMessage).limit(1)).one()
        question = {c.key: getattr(invitation, c.key) for c in OutboxMessage.__table__.columns}
        del question["id"]
        question["idempotency_key"] = invitation.idempotency_key + FIRST_QUESTION_SUFFIX
        session.add(OutboxMessage(**question))
    with rt.engine.connect() as conn:
        assert conn.execute(count).scalar_one() == before


def test_the_periodic_tick_before_the_content_sync_consumes_no_step(rt: Runtime) -> None:
    """The night refuses a database with no approved words; the periodic outreach tick of
    ``serve`` and ``careloop worker`` (every 5 minutes, care gaps included by default) used
    up every enrolled patient's invitation the same way, so after ``careloop content sync``
    nothing was queued for them."""
    _population(rt, synced=False)
    tick = [job for job in configured_jobs(rt) if job.name == "outreach-tick"]
    JobRunner(rt, tick, owner="w1").run_due()
    with rt.transaction() as session:
        assert (session.scalar(select(func.count()).select_from(OutboxMessage)) or 0) == 0
        sync_library(session, library=load_library(None), clock=rt.clock)

    tick[0].body(rt, rt.clock.now())

    with rt.transaction() as session:
        queued = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    assert queued > 0  # the invitations wait for the words instead of being skipped


def test_an_outreach_tick_before_the_content_sync_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'careloop.db'}"
    imported = runner.invoke(app, ["import", str(SAMPLE), "--database", url])
    assert imported.exit_code == 0, imported.output

    refused = runner.invoke(app, ["outreach", "tick", "--database", url])
    assert refused.exit_code == 2
    assert "careloop content sync" in refused.stderr
    assert _counts(url) == (0, 0)
