"""Review of walk4: a staff email has an HTML part like every library email.

Only ``careloop send`` (outreach.staff_messages) got the HTML part. The care-team console's
"Send message" (outreach.messages.queue_staff_message, the path nurses use) still queues an
email with no HTML: the patient gets text/plain only, which the walkthrough and the commit
say no longer happens.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.outreach.conftest import Loop, make_patient

from careloop.models import OutboxMessage
from careloop.outreach.messages import queue_staff_message
from careloop.runtime import Runtime


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_console_staff_email_has_an_html_part_like_every_email(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", email="p1@example.org")
    loop = make_loop([], {})
    with rt.transaction() as session:
        row = queue_staff_message(
            session, patient_id="p1", body="Your results are in <see portal>.",
            channel="email", clock=loop.clock, actor="user:nurse-1",
        )  # fmt: skip
        outbox_id = row.id
    loop.work()
    with rt.transaction() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        assert row.state == "sent"
    (sent,) = loop.email.sent_to("p1@example.org")
    assert sent.email is not None
    assert sent.email.html  # text/plain only today
    assert "Your results are in &lt;see portal&gt;." in sent.email.html
