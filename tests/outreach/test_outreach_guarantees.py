"""The outbox's promises, as properties: no message in quiet hours, none after STOP, none
twice across a crash between the provider call and its record, none to the holdout."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.outreach.conftest import (
    SCREENING,
    Loop,
    WorkerKilled,
    dies_after_sends,
    make_patient,
    program,
)

from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.conversations.inbound import handle_reply
from careloop.models import Enrollment, OutboxMessage
from careloop.outreach.chunk_send import send_chunk
from careloop.outreach.eligibility import Candidate, ExplicitEligibility
from careloop.outreach.worker import claim_due
from careloop.personalize.profile import QuietHours
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime

PROPERTY = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ZONES = ["America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Europe/Madrid"]


def _new_patient(rt: Runtime, **kwargs: object) -> str:
    pid = f"p-{uuid.uuid4().hex[:10]}"
    phone = f"+1555{uuid.uuid4().int % 10**7:07d}"
    make_patient(rt, patient_id=pid, phone=phone, **kwargs)  # type: ignore[arg-type]
    return pid


def _only(loop: Loop, pid: str) -> None:
    loop.ctx = _with_candidates(loop, {"screening-test": [Candidate(pid, "2026")]})


def _with_candidates(loop: Loop, candidates: dict[str, list[Candidate]]):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(loop.ctx, eligibility=ExplicitEligibility(candidates))


def _stop(loop: Loop, *, sender: str, sid: str) -> None:
    ctx = loop.inbound()
    with loop.rt.transaction() as session:
        handle_reply(
            session,
            ctx=ctx,
            message=InboundMessage(
                channel=ChannelKind.SMS,
                sender=sender,
                recipient="+15550009999",
                body="STOP",
                provider_id=sid,
                received_at=loop.clock.now(),
                keyword=Keyword.OPT_OUT,
            ),
        )


@PROPERTY
@given(
    zone=st.sampled_from(ZONES),
    quiet=st.sampled_from(["21-08", "20-09", "22-07", "12-14"]),
    hours=st.integers(min_value=0, max_value=23),
)
def test_no_message_is_due_inside_quiet_hours(
    rt: Runtime, make_loop: Callable[..., Loop], zone: str, quiet: str, hours: int
) -> None:
    loop = make_loop([program(SCREENING)], {})
    pid = _new_patient(rt, timezone=zone)
    with rt.transaction() as session:
        set_stated_preferences(
            session, clock=rt.clock, patient_id=pid, changes={"quiet_hours": quiet}, actor="test"
        )
    loop.advance(timedelta(hours=hours))
    _only(loop, pid)
    loop.tick()
    with rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.patient_id == pid)).all()
    window = QuietHours.parse(quiet)
    for row in rows:
        local = row.due_at.astimezone(ZoneInfo(zone))
        assert not window.contains(local.hour * 60 + local.minute)
        assert row.due_at >= loop.clock.now()


@PROPERTY
@given(moment=st.sampled_from(["before-tick", "before-claim", "after-claim"]))
def test_nothing_is_sent_after_stop(
    rt: Runtime, make_loop: Callable[..., Loop], moment: str
) -> None:
    loop = make_loop([program(SCREENING, actions={"channels": ["sms"]})], {})
    pid = _new_patient(rt)
    phone = _phone(rt, pid)
    _only(loop, pid)
    if moment == "before-tick":
        _stop(loop, sender=phone, sid=f"SM-{pid}")
    loop.tick()
    loop.advance(timedelta(days=1))
    if moment == "before-claim":
        _stop(loop, sender=phone, sid=f"SM-{pid}")
    if moment == "after-claim":
        with rt.transaction() as session:
            claimed = claim_due(
                session, worker_id="w", now=loop.clock.now(), limit=10, lease=timedelta(seconds=1)
            )
        _stop(loop, sender=phone, sid=f"SM-{pid}")
        send_chunk(loop.worker, claimed, slots=[None] * len(claimed))
    loop.work()
    for _ in range(3):
        loop.advance(timedelta(days=8))
        loop.tick()
        loop.work()

    with rt.transaction() as session:
        journey = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.patient_id == pid, OutboxMessage.enrollment_id.is_not(None)
            )
        ).all()
        confirmations = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.patient_id == pid, OutboxMessage.enrollment_id.is_(None)
            )
        ).all()
    assert [row for row in journey if row.state == "sent"] == []
    assert [m.idempotency_key for m in loop.sms.sent_to(phone)] == [
        row.idempotency_key for row in confirmations
    ]


@PROPERTY
@given(restarts=st.integers(min_value=1, max_value=3))
def test_a_crash_between_send_and_record_never_sends_twice(
    rt: Runtime, make_loop: Callable[..., Loop], restarts: int
) -> None:
    loop = make_loop([program(SCREENING, actions={"channels": ["sms"]})], {})
    pid = _new_patient(rt)
    _only(loop, pid)
    loop.tick()
    loop.advance(timedelta(days=1))
    lease = timedelta(seconds=loop.worker.settings.worker.lease_seconds)
    for _ in range(restarts):
        # The provider accepts the text, then the process dies before recording it.
        with dies_after_sends(loop.sms, 1), contextlib.suppress(WorkerKilled):
            loop.worker.run_once()
        loop.advance(lease + timedelta(seconds=1))
    loop.work()

    phone = _phone(rt, pid)
    with rt.transaction() as session:
        row = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.patient_id == pid, OutboxMessage.channel != "portal"
            )
        ).one()
    assert len(loop.sms.sent_to(phone)) == 1
    assert loop.sms.duplicates() == {}
    assert row.state == "sent"
    assert row.attempts == 2  # the killed one, then the reconciliation that found it sent


@PROPERTY
@given(share=st.sampled_from([0.3, 0.5, 0.9]), n=st.integers(min_value=2, max_value=6))
def test_holdout_patients_get_nothing_but_are_followed(
    rt: Runtime, make_loop: Callable[..., Loop], share: float, n: int
) -> None:
    loop = make_loop([program(SCREENING, holdout=share)], {})
    ids = [_new_patient(rt) for _ in range(n)]
    loop.ctx = _with_candidates(loop, {"screening-test": [Candidate(p, "2026") for p in ids]})
    loop.tick()
    for _ in range(3):
        loop.advance(timedelta(days=8))
        loop.tick()
        loop.work()
    with rt.transaction() as session:
        enrollments = session.scalars(
            select(Enrollment).where(Enrollment.patient_id.in_(ids))
        ).all()
        holdout = {e.patient_id for e in enrollments if e.arm == "holdout"}
        to_holdout = session.scalars(
            select(OutboxMessage).where(OutboxMessage.patient_id.in_(holdout))
        ).all()
    assert to_holdout == []
    assert all(
        e.state in ("enrolled", "closed", "completed") for e in enrollments if e.arm == "holdout"
    )


def _phone(rt: Runtime, pid: str) -> str:
    from careloop.models import Patient

    with rt.transaction() as session:
        patient = session.get(Patient, pid)
        assert patient is not None
        return str(patient.contact_points[0]["value"])
