"""A message a staff member types (``careloop send``, console "send now") is exempt
from the spacing between contacts ("the person chose to send it now"): held neither at
decision nor at dispatch. The CLI's rows carry ``{"staff": True}`` only (not
``staff_message``, which the branch's own test sets on both), so the worker hands them back
for up to four hours after another program's text."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from tests.outreach.conftest import Loop, make_patient

from careloop.models import OutboxMessage
from careloop.outreach.config import BudgetSettings, OutreachSettings
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.outreach.staff_messages import send_staff_message


def test_a_staff_message_goes_at_once_after_another_programs_text(
    rt, make_loop: Callable[..., Loop]
) -> None:
    pid = f"gaps-{uuid.uuid4().hex[:8]}"
    phone = "+15550100094"
    make_patient(rt, patient_id=pid, phone=phone, timezone="UTC")
    loop = make_loop([], {})
    own = OutreachSettings(budget=BudgetSettings(per_day=10, per_week=10, min_gap_hours=4))
    loop.worker.settings = own
    now = loop.clock.now()
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"program:{pid}",
                    patient_id=pid,
                    purpose="care-reminders",
                    channel="sms",
                    to_address=phone,
                    body="A screening reminder.",
                    program="screening",
                    due_at=now,
                )
            ],
            now=now,
        )
    assert loop.work().sent == 1
    loop.advance(timedelta(minutes=30))
    settings = rt.settings.model_copy(update={"outreach": own})
    with rt.transaction() as session:
        staff = send_staff_message(
            session,
            patient_id=pid,
            channel="sms",
            text="Please call the clinic about your results today.",
            now=loop.clock.now(),
            clock=loop.clock,
            settings=settings,
        )
    loop.advance(timedelta(minutes=1))
    report = loop.work()

    with rt.transaction() as session:
        row = session.get(OutboxMessage, staff.outbox_id)
        assert row is not None
        state, sent_at, extra = row.state, row.sent_at, row.extra
    assert extra.get("staff") is True
    assert (report.sent, report.deferred) == (1, 0), (state, sent_at)
    assert sent_at is not None
