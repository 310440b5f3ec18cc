"""The distributed queue (Procrastinate on PostgreSQL): the night, the outbox and the periodic
jobs run as tasks by separate ``careloop worker --queue`` processes, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import SystemClock
from careloop.compose.nightly import run_nightly
from careloop.compose.queue import build_app, defer_night
from careloop.content.library import load_library
from careloop.content.service import sync_library
from careloop.db import downgrade, make_engine, make_sessionmaker, migrate
from careloop.models import Enrollment, Event, OutboxMessage, Patient
from careloop.runtime import Runtime
from careloop.settings import Settings
from tests.ops.test_nightly import _population

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "careloop" / "data" / "synthea-sample"
runner = CliRunner()
pytestmark = pytest.mark.postgres


def _queue_objects(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'procrastinate\\_%'"
        ).fetchone()
        functions = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate\\_%'"
        ).fetchone()
        types = conn.execute(
            "SELECT count(*) FROM pg_type WHERE typname LIKE 'procrastinate\\_%'"
        ).fetchone()
    assert tables
    assert functions
    assert types
    return {"tables": tables[0], "functions": functions[0], "types": types[0]}


def test_the_queue_schema_comes_and_goes_with_its_migration(empty_postgresql_url: str) -> None:
    engine = make_engine(empty_postgresql_url)
    try:
        migrate(engine)
        built = _queue_objects(empty_postgresql_url)
        assert built["tables"] == 4
        assert built["functions"] > 10
        assert built["types"] >= 3
        downgrade(engine, "0310")
        assert _queue_objects(empty_postgresql_url) == {"tables": 0, "functions": 0, "types": 0}
        migrate(engine)
        assert _queue_objects(empty_postgresql_url) == built
    finally:
        engine.dispose()


def _runtime(url: str) -> Runtime:
    engine = make_engine(url)
    migrate(engine)
    return Runtime(
        settings=Settings(database_url=url),
        clock=SystemClock(),
        engine=engine,
        sessions=make_sessionmaker(engine),
    )


def _careloop(cli: Path, url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CARELOOP_DATABASE_URL": url}
    return subprocess.Popen(
        [str(cli), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_for_night(rt: Runtime, *, seconds: float) -> tuple[str, int]:
    """The night task's (status, attempts) once it has ended, or as it is after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        with rt.engine.connect() as conn:
            status, attempts = conn.execute(
                text(
                    "SELECT status::text, attempts FROM procrastinate_jobs "
                    "WHERE task_name = 'careloop:careloop.night'"
                )
            ).one()
        if status in ("succeeded", "failed") or time.monotonic() > deadline:
            return str(status), int(attempts)
        time.sleep(1)


def _wait_for_slices(rt: Runtime, *, seconds: float) -> None:
    """Until no slice task of the night is waiting or running (the night itself only defers
    them: a worker stopped the moment the night succeeds may not have started one)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with rt.engine.connect() as conn:
            open_slices = conn.execute(
                text(
                    "SELECT count(*) FROM procrastinate_jobs "
                    "WHERE task_name = 'careloop:careloop.nightly_slice' "
                    "AND status IN ('todo', 'doing')"
                )
            ).scalar_one()
        if not open_slices:
            return
        time.sleep(1)


def _queued_night(url: str) -> Runtime:
    """A migrated database with the sample population and tonight's cycle queued."""
    rt = _runtime(url)
    _population(rt)
    queued = runner.invoke(app, ["nightly", "--queue", "--json", "--database", url])
    assert queued.exit_code == 0, queued.output
    return rt


def _count(rt: Runtime, model: type, *where: object) -> int:
    with rt.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


@pytest.mark.slow
def test_two_queue_workers_run_the_whole_night_once(
    empty_postgresql_url: str, careloop_cli: Path
) -> None:
    url = empty_postgresql_url
    rt = _queued_night(url)
    try:
        workers = [
            _careloop(careloop_cli, url, "worker", "--queue", "--once", "--concurrency", "2")
            for _ in range(2)
        ]
        outputs = [w.communicate(timeout=600)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs[0][-2000:]

        with rt.engine.connect() as conn:
            jobs = dict(
                conn.execute(
                    text(
                        "SELECT task_name, count(*) FILTER (WHERE status <> 'succeeded') "
                        "FROM procrastinate_jobs GROUP BY task_name"
                    )
                ).all()
            )
        assert jobs["careloop:careloop.night"] == 0
        assert jobs["careloop:careloop.nightly_slice"] == 0
        assert jobs["careloop:careloop.jobs"] == 0
        enrolled = _count(rt, Enrollment)
        assert enrolled > 0
        assert _count(rt, Event, Event.kind == "eligible") == enrolled

        # The queue did the whole night: the same night run here finds nothing left to do.
        again = run_nightly(rt, database="", now=rt.clock.now())
        assert again.gaps > 0
        assert (again.enrolled, again.enqueued) == (0, 0)
        assert _count(rt, Enrollment) == enrolled

        # No patient id in the queue's rows or in the workers' logs (slices are named by number).
        with rt.transaction() as session:
            some_patient = session.scalar(select(Enrollment.patient_id).limit(1))
        assert some_patient
        with rt.engine.connect() as conn:
            arguments = conn.execute(text("SELECT args::text FROM procrastinate_jobs")).scalars()
            assert all(some_patient not in a for a in arguments)
        assert all(some_patient not in out for out in outputs)
    finally:
        rt.engine.dispose()


@pytest.mark.slow
def test_a_queue_worker_sends_what_is_due_exactly_once(
    empty_postgresql_url: str, careloop_cli: Path
) -> None:
    url = empty_postgresql_url
    rt = _runtime(url)
    try:
        _population(rt)
        run_nightly(rt, database="", now=rt.clock.now())
        now = datetime.now(UTC)
        with rt.transaction() as session:
            # Everyone's local time is about noon, so quiet hours hold nothing back.
            offset = (12 - now.hour + 12) % 24 - 12
            zone = f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"
            session.execute(update(Patient).values(timezone=zone))
            due = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.channel == "portal", OutboxMessage.state == "queued")
                .values(due_at=now, next_attempt_at=now)
            ).rowcount
        assert due > 0
        workers = [_careloop(careloop_cli, url, "worker", "--queue", "--once") for _ in range(2)]
        outputs = [w.communicate(timeout=600)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs[0][-2000:]
        sent = _count(
            rt, OutboxMessage, OutboxMessage.channel == "portal", OutboxMessage.state == "sent"
        )
        # A patient's second message due at once waits out the minimum gap between contacts.
        spaced = _count(
            rt,
            OutboxMessage,
            OutboxMessage.channel == "portal",
            OutboxMessage.state == "queued",
            OutboxMessage.next_attempt_at > now,
        )
        assert sent > 0
        assert sent + spaced == due
        assert _count(rt, OutboxMessage, OutboxMessage.attempts > 1) == 0
    finally:
        rt.engine.dispose()


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["worker", "--queue", "--once"], "PostgreSQL"),
        (["nightly", "--queue"], "PostgreSQL"),
        (["worker", "--queue", "--queues", "nightly,mail"], "not mail"),
    ],
)
def test_the_queue_on_sqlite_or_unknown_queues_are_refused_in_one_line(
    tmp_path: Path, command: list[str], said: str
) -> None:
    result = runner.invoke(app, [*command, "--database", f"sqlite:///{tmp_path / 'c.db'}"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert said in result.stderr
    assert "queue" in result.stderr


@pytest.mark.slow
def test_a_night_left_running_by_a_killed_worker_is_put_back_and_finished(
    empty_postgresql_url: str, careloop_cli: Path
) -> None:
    url = empty_postgresql_url
    rt = _queued_night(url)
    try:
        with rt.engine.begin() as conn:  # the state a kill -9 mid-task leaves behind
            dead = conn.execute(
                text(
                    "INSERT INTO procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '1 hour') RETURNING id"
                )
            ).scalar_one()
            conn.execute(
                text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w"),
                {"w": dead},
            )
        # A long-running worker (as in production), stopped once the night is done.
        worker = _careloop(careloop_cli, url, "worker", "--queue")
        try:
            night = _wait_for_night(rt, seconds=400)
            _wait_for_slices(rt, seconds=400)
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=120)[0]
        assert worker.returncode == 0, output[-2000:]
        # the killed attempt, then the one that ended
        assert tuple(night) == ("succeeded", 2), output[-3000:]
        assert _count(rt, Enrollment) > 0
    finally:
        rt.engine.dispose()


def test_every_app_of_one_process_sends_the_night_to_the_nightly_queue(tmp_path: Path) -> None:
    """A second app in the same process once renamed the tasks ``careloop:careloop:…`` and sent
    the night to the queue ``default``, which no worker reads."""
    rt = Runtime(
        settings=Settings(database_url="postgresql+psycopg://careloop@127.0.0.1/none"),
        clock=SystemClock(),
        engine=make_engine("postgresql+psycopg://careloop@127.0.0.1/none"),
        sessions=None,  # type: ignore[arg-type]  # no session is opened: nothing connects
    )
    for _ in range(3):
        app = build_app(rt)
        assert "careloop:careloop.night" in app.tasks
        night = app.configure_task("careloop:careloop.night", allow_unknown=False)
        assert night.job.queue == "nightly"
        periodic = {
            p.periodic_id: p.task.name for p in app.periodic_registry.periodic_tasks.values()
        }
        assert periodic["retry_stalled"] == "careloop:careloop.retry_stalled"


def test_a_night_queued_or_running_is_not_queued_again(empty_postgresql_url: str) -> None:
    """Two deferrals a second apart both queued the night (the queueing lock held one moment,
    and only while its task waited): the second now finds the night and queues nothing."""
    rt = _runtime(empty_postgresql_url)
    with rt.transaction() as session:
        sync_library(session, library=load_library(None), clock=rt.clock)
    moment = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    first = defer_night(rt, now=moment)
    again = defer_night(rt, now=moment)
    later = defer_night(rt, now=moment + timedelta(seconds=1))
    with psycopg.connect(empty_postgresql_url) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing'")  # a worker took it
        running = defer_night(rt, now=moment + timedelta(seconds=2))
        conn.execute("UPDATE procrastinate_jobs SET status = 'succeeded'")
    tomorrow = defer_night(rt, now=moment + timedelta(days=1))
    assert first is not None
    assert (again, later, running) == (None, None, None)
    assert tomorrow is not None


def test_a_night_pending_since_yesterday_does_not_stop_tonights(empty_postgresql_url: str) -> None:
    """Workers down for a day: yesterday's night still waits, and tonight's is queued too."""
    rt = _runtime(empty_postgresql_url)
    with rt.transaction() as session:
        sync_library(session, library=load_library(None), clock=rt.clock)
    monday = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    first = defer_night(rt, now=monday)
    tuesday = defer_night(rt, now=monday + timedelta(days=1))
    again = defer_night(rt, now=monday + timedelta(days=1, minutes=5))
    assert first is not None
    assert tuesday is not None
    assert tuesday != first
    assert again is None


def test_nightly_queue_twice_says_the_night_is_already_queued(empty_postgresql_url: str) -> None:
    url = empty_postgresql_url
    rt = _runtime(url)
    with rt.transaction() as session:
        sync_library(session, library=load_library(None), clock=rt.clock)
    first = runner.invoke(app, ["nightly", "--queue", "--database", url])
    second = runner.invoke(app, ["nightly", "--queue", "--database", url])
    with psycopg.connect(url) as conn:
        nights = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'careloop:careloop.night'"
        ).fetchone()

    assert first.exit_code == 0, first.output
    assert "queued as task" in first.output
    assert second.exit_code == 0, second.output
    assert "already queued or running" in second.output
    assert "1 todo" in second.output
    assert nights == (1,)
