"""Fewer round trips per group commit, and a worker that starts without ``scipy.stats``:
what the dispatch profile named (docs/benchmarks.md, issue 15 part 8). The behaviour each
statement carries is asserted too, on both backends."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select, update
from tests.outreach.conftest import queue_due_texts, sql_statements

from careloop.clock import ensure_utc
from careloop.models import OutboxMessage, SendAttempt, SenderSlot
from careloop.outreach.claims import claim_due, mark_calling
from careloop.outreach.ratelimit import reserve_many
from careloop.runtime import Runtime

LEASE = timedelta(seconds=60)
SENDERS = ["+15550001001", "+15550001002"]


def _queue(rt: Runtime, count: int) -> None:
    queue_due_texts(
        rt, patient_id="prt", phone="+15550100088", key="rt", senders=SENDERS, count=count
    )


def test_marking_a_group_calling_skips_rows_another_worker_took_and_marks_the_rest(
    rt: Runtime,
) -> None:
    _queue(rt, 4)
    now = rt.clock.now()
    with rt.transaction() as session:
        claimed = claim_due(session, worker_id="w1", now=now, limit=4, lease=LEASE)
    taken = claimed[0].id
    with rt.transaction() as session:  # w1's lease ran out and w2 re-claimed this row
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == taken).values(claimed_by="w2")
        )
    later = now + timedelta(seconds=5)
    with rt.transaction() as session:
        ours = mark_calling(session, messages=claimed, worker_id="w1", now=later, lease=LEASE)
    assert ours == {m.id for m in claimed} - {taken}
    with rt.transaction() as session:
        outcomes = dict(session.execute(select(SendAttempt.message_id, SendAttempt.outcome)).all())
        leases = dict(session.execute(select(OutboxMessage.id, OutboxMessage.lease_until)).all())
    # w2's row is neither marked (its attempt is not w1's call) nor renewed.
    assert outcomes == {m.id: ("started" if m.id == taken else "calling") for m in claimed}
    assert {i for i, until in leases.items() if ensure_utc(until) == later + LEASE} == ours
    assert ensure_utc(leases[taken]) == now + LEASE


def test_a_reservation_on_senders_that_have_rows_inserts_nothing_and_keeps_the_pace(
    rt: Runtime,
) -> None:
    now = rt.clock.now()
    interval = timedelta(milliseconds=100)
    wanted = {f"sms:{s}": (2, interval) for s in SENDERS}
    with rt.transaction() as session, sql_statements(rt.engine) as first:
        reserve_many(session, wanted=wanted, now=now, horizon=timedelta(seconds=10))
    with rt.transaction() as session, sql_statements(rt.engine) as second:
        again = reserve_many(session, wanted=wanted, now=now, horizon=timedelta(seconds=10))
    assert any(s.startswith("INSERT INTO outreach_sender_slots") for s in first)
    assert not any(s.startswith("INSERT") for s in second)
    # The second reservation starts where the first one left each sender.
    for key in wanted:
        assert again[key].slots == (now + 2 * interval, now + 3 * interval)
    with rt.transaction() as session:
        assert len(session.scalars(select(SenderSlot.sender_key)).all()) == len(SENDERS)


def test_claims_from_senders_that_have_rows_insert_no_sender_row(rt: Runtime) -> None:
    _queue(rt, 8)

    def claim(worker: str) -> list[int]:
        with rt.transaction() as session:
            return [
                m.id
                for m in claim_due(
                    session,
                    worker_id=worker,
                    now=rt.clock.now(),
                    limit=2,
                    lease=LEASE,
                    capacity=lambda _c, _s: 1.0,
                )
            ]

    with sql_statements(rt.engine) as first:
        assert len(claim("w1")) == 2
    with sql_statements(rt.engine) as second:
        assert len(claim("w1")) == 2  # w1 holds both senders: it may claim from them again
    assert any(s.startswith("INSERT INTO outreach_sender_slots") for s in first)
    assert not any(s.startswith("INSERT INTO outreach_sender_slots") for s in second)


def _loaded_by_a_texting_worker(modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh process has loaded once it imports the worker and the
    Twilio SMS adapter (what ``careloop worker`` needs to claim and send texts)."""
    code = (
        "import sys, careloop.compose.worker, careloop.channels.sms_twilio; "
        f"print(sorted(m for m in {modules!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return list(ast.literal_eval(out.stdout.strip()))


def test_a_worker_process_imports_no_decision_engine_renderer_or_http_client() -> None:
    """A killed worker's replacement starts sooner the less it imports: the decision engine
    (SciPy), content rendering (Jinja, YAML) and httpx (the line-type lookup) are for the
    decider, replies and imports, never for claiming and sending."""
    heavy = ("scipy", "careloop.personalize.engine", "careloop.content.service", "httpx", "jinja2")
    assert _loaded_by_a_texting_worker(heavy) == []


def test_a_worker_sending_texts_imports_no_voice_script_machinery() -> None:
    """A call's parts (TwiML, the content library's words and its YAML tables) are imported
    when a call is sent, not when a worker starts: a replacement that only texts is ready
    sooner (827 -> 791 modules)."""
    voice = (
        "careloop.outreach.voice_calls",
        "careloop.channels.voice_twilio",
        "careloop.content.conversation_words",
        "twilio.twiml",
        "yaml",
    )
    assert _loaded_by_a_texting_worker(voice) == []


def test_a_worker_process_starts_without_scipy_stats() -> None:
    """``scipy.stats`` was a third of the worker's import time (a crashed worker's
    replacement sends that much later); the one value it gave is a constant now."""
    code = "import sys, careloop.compose.worker; print('scipy.stats' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "False"
    from scipy.stats import norm

    from careloop.personalize.promotion import Z_975

    assert float(norm.ppf(0.975)) == Z_975
