"""``careloop worker --processes N`` as a deployment runs it: a real supervisor process whose
forked workers text through the Twilio adapter to a local Twilio look-alike that records every
request it receives (nothing deduplicated)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, insert, select

from careloop.db import make_engine
from careloop.models import OutboxMessage, Patient, PreferenceProfileRow, SendAttempt
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.runtime import open_runtime
from careloop.settings import get_settings
from tests.channels.servers import FakeTwilio, ServerThread, wait_for

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "processes-token-0123456789"
SENDERS = ("+16175550000", "+16175550001")


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    """The Twilio look-alike, and the workers' settings pointing at it (inherited by the
    ``careloop`` processes): two senders paced at 60 texts a second each."""
    fake = FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN)
    server = ServerThread(fake.app())
    server.start()
    for name, value in {
        "CARELOOP_CHANNELS__SMS__PROVIDER": "twilio",
        "CARELOOP_CHANNELS__SMS__BASE_URL": server.url,
        "CARELOOP_CHANNELS__SMS__ACCOUNT_SID": ACCOUNT,
        "CARELOOP_CHANNELS__SMS__AUTH_TOKEN": TOKEN,
        "CARELOOP_CHANNELS__SMS__SENDERS": orjson.dumps([{"number": s} for s in SENDERS]).decode(),
        "CARELOOP_OUTREACH__SENDER_RATES": orjson.dumps({f"sms:{s}": 60 for s in SENDERS}).decode(),
        # Status callbacks go back to the look-alike (answered 404), not to a closed port.
        "CARELOOP_SECURITY__PUBLIC_BASE_URL": server.url,
        "CARELOOP_OUTREACH__WORKER__LEASE_SECONDS": "20",
        "CARELOOP_OUTREACH__WORKER__POLL_SECONDS": "0.2",
        # A transient failure on a loaded host is retried within seconds, not after 30 s.
        "CARELOOP_OUTREACH__WORKER__BACKOFF_BASE_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield fake
    get_settings.cache_clear()
    server.stop()


def _queue_texts(url: str, *, count: int) -> None:
    """``count`` texts due now, one per patient (no contact budget holds one back), with no
    quiet hours (the test runs at any hour)."""
    rt = open_runtime(database=url)
    now = datetime.now(UTC)
    people = [f"proc-{i}" for i in range(count)]
    with rt.transaction() as session:
        session.execute(
            insert(Patient),
            [
                {"id": p, "timezone": "America/New_York", "timezone_source": "test",
                 "deceased": False, "created_at": now, "updated_at": now,
                 "contact_points": [{"system": "phone", "value": _number(i), "use": "mobile"}]}
                for i, p in enumerate(people)
            ],
        )  # fmt: skip
        session.execute(
            insert(PreferenceProfileRow),
            [
                {"patient_id": p, "stated": {"quiet_hours": "00-00"}, "learned": {},
                 "updated_at": now, "updated_by": "test"}
                for p in people
            ],
        )  # fmt: skip
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"proc:{i}", patient_id=p, purpose="care-reminders",
                    channel="sms", to_address=_number(i),
                    sender=SENDERS[i % 2], body="Your screening is due.",
                    due_at=now - timedelta(seconds=1),
                )
                for i, p in enumerate(people)
            ],
            now=now,
        )  # fmt: skip
    rt.close()


def _number(i: int) -> str:
    return f"+1617555{1000 + i:04d}"


def _states(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
        ).all()
    engine.dispose()
    return {str(state): n for state, n in rows}


def _texts(gateway: FakeTwilio) -> Counter[str]:
    """Every text the gateway received, per idempotency key (a key twice: two texts)."""
    return Counter(
        str(r["idempotency_token"])
        for r in list(gateway.requests_seen)
        if r["path"].endswith("/Messages.json") and r.get("form")
    )


def _busiest(url: str) -> int:
    """The pid of the worker (``wp-<pid>``) that has sent the most so far."""
    engine = make_engine(url)
    with engine.connect() as connection:
        worker = connection.scalar(
            select(SendAttempt.worker)
            .group_by(SendAttempt.worker)
            .order_by(func.count().desc())
            .limit(1)
        )
    engine.dispose()
    return int(str(worker).rsplit("-", 1)[1])


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_killed_worker_process_is_forked_again_and_every_text_goes_out_once(
    gateway: FakeTwilio, database_url: str, careloop_cli: Path, tmp_path: Path
) -> None:
    _queue_texts(database_url, count=360)  # ~3 s of sending at 2 x 60 texts a second
    log = tmp_path / "supervisor.log"
    with log.open("wb") as out:
        supervisor = subprocess.Popen(
            [str(careloop_cli), "worker", "--processes", "2", "--no-jobs", "--id", "wp"],
            env={**os.environ, "CARELOOP_DATABASE_URL": database_url},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: sum(_texts(gateway).values()) >= 60, seconds=60)
        first = _children(supervisor.pid)
        victim = _busiest(database_url)  # mid-batch: its rows claimed, its group calling
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: len(set(_children(supervisor.pid)) - set(first)) == 1, seconds=5)
        reforked_after = time.monotonic() - killed
        wait_for(lambda: _states(database_url) == {"sent": 360}, seconds=300)
        survivors = _children(supervisor.pid)
        supervisor.send_signal(signal.SIGTERM)
        code = supervisor.wait(timeout=30)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    texts = _texts(gateway)
    said = log.read_text()

    assert code == 0, said
    assert len(survivors) == 2
    assert not [pid for pid in survivors if Path(f"/proc/{pid}").exists()]
    assert reforked_after < 5
    assert set(texts) == {f"proc:{i}" for i in range(360)}
    assert max(texts.values()) == 1  # the killed worker's rows finished, none texted twice
    assert f"worker process {victim} (slot {first.index(victim)}) ended by signal SIGKILL" in said
    assert "+1617" not in said


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_worker_processes_on_sqlite_drain_the_outbox_once_and_stop(
    gateway: FakeTwilio, database_url: str, careloop_cli: Path
) -> None:
    _queue_texts(database_url, count=40)
    done = subprocess.run(
        [str(careloop_cli), "worker", "--processes", "2", "--once", "--no-jobs", "--json"],
        env={**os.environ, "CARELOOP_DATABASE_URL": database_url},
        capture_output=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr.decode()
    assert orjson.loads(done.stdout)["processes"] == 2
    assert _states(database_url) == {"sent": 40}
    assert _texts(gateway) == Counter({f"proc:{i}": 1 for i in range(40)})


def test_processes_with_the_queue_is_refused_naming_the_option(careloop_cli: Path) -> None:
    done = subprocess.run(
        [str(careloop_cli), "worker", "--queue", "--processes", "2"],
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert b"--processes" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_worker_processes_share_each_senders_carrier_rate(
    gateway: FakeTwilio,
    database_url: str,
    careloop_cli: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three worker processes, two long codes the carrier lets send 4 texts a second: the
    gateway never receives more than 4 from one sender in any second (the pacing lives in
    the database, so N processes do not send N times the carrier's rate)."""
    rate = 4
    monkeypatch.setenv(
        "CARELOOP_OUTREACH__SENDER_RATES",
        orjson.dumps({f"sms:{s}": rate for s in SENDERS}).decode(),
    )
    _queue_texts(database_url, count=40)  # ~5 s at 2 x 4 texts a second
    supervisor = subprocess.Popen(
        [str(careloop_cli), "worker", "--processes", "3", "--no-jobs", "--id", "wr"],
        env={**os.environ, "CARELOOP_DATABASE_URL": database_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _states(database_url) == {"sent": 40}, seconds=180)
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=30)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    received: dict[str, list[datetime]] = {s: [] for s in SENDERS}
    for message in list(gateway.messages.values()):
        received[message["from"]].append(datetime.fromisoformat(message["date_created_iso"]))

    busiest = {
        sender: max(
            sum(1 for t in times if start <= t < start + timedelta(seconds=1)) for start in times
        )
        for sender, times in received.items()
    }
    assert _texts(gateway) == Counter({f"proc:{i}": 1 for i in range(40)})
    # Stamped on arrival at the gateway: a send held up on a loaded machine lands beside the
    # next slot's, so one more than the rate in a window is arrival jitter; N processes each
    # at the full rate would show about N times it.
    assert max(busiest.values()) <= rate + 1
    assert min(busiest.values()) >= 2  # paced, not trickled one by one
