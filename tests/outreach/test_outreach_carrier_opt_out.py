"""Carrier-level opt-out (Twilio Advanced Opt-Out): a refused text (21610) becomes an
opt-out of ours; in carrier-handled mode a STOP is recorded and careloop sends no
confirmation of its own (the carrier answers, and would refuse ours)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import select
from tests.outreach.conftest import Loop, make_patient, reply

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.keywords import Keyword
from careloop.governance.consent import consent_decisions
from careloop.models import OutboxMessage
from careloop.outreach.config import OutreachSettings
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.runtime import Runtime


def _patient(rt: Runtime) -> tuple[str, str]:
    pid = f"c-{uuid.uuid4().hex[:8]}"
    phone = f"+1617555{uuid.uuid4().int % 10**4:04d}"
    make_patient(rt, patient_id=pid, phone=phone)
    return pid, phone


def _sms_allowed(rt: Runtime, pid: str) -> bool:
    with rt.transaction() as session:
        decisions = consent_decisions(
            session, patient_ids=[pid], purpose="care-reminders", channel="sms", now=rt.clock.now()
        )
    return decisions[pid].allowed


def test_a_text_refused_as_opted_out_at_the_carrier_records_the_opt_out(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    loop = make_loop([], {})
    pid, phone = _patient(rt)
    refused = ChannelError(FailureReason.UNSUBSCRIBED, permanent=True, provider_code="21610")
    loop.sms.fail_for(phone, refused)
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"carrier:{pid}",
                    patient_id=pid,
                    purpose="care-reminders",
                    channel="sms",
                    to_address=phone,
                    body="Your screening is due.",
                    due_at=rt.clock.now(),
                )
            ],
            now=rt.clock.now(),
        )
    loop.work()
    with rt.transaction() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.patient_id == pid)).one()
    assert (row.state, row.last_error) == ("dead", "unsubscribed")
    assert not _sms_allowed(rt, pid)


def test_in_carrier_handled_mode_stop_is_recorded_without_a_confirmation(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    loop = make_loop([], {})
    loop.ctx = replace(loop.ctx, settings=OutreachSettings(carrier_handles_opt_out=True))
    pid, phone = _patient(rt)
    reply(loop, sender=phone, body="STOP", keyword=Keyword.OPT_OUT, sid=f"SM{pid}")
    loop.work()
    with rt.transaction() as session:
        queued = session.scalars(select(OutboxMessage).where(OutboxMessage.patient_id == pid)).all()
    assert not _sms_allowed(rt, pid)
    assert queued == []
    assert loop.sms.sent_to(phone) == []
