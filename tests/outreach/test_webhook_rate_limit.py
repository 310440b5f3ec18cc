"""Twilio's callbacks are never rate-limited when signed; forged ones are, after the burst.

Twilio does not retry a status callback: a 429 loses the receipt. Requests are signed with
Twilio's own ``RequestValidator`` and all come from one address (the test client), as they
would from one proxy or one Twilio egress address. The clock is frozen, so the ``webhook``
bucket never refills during a test: its burst is exactly ``2 x webhook_per_second``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.outreach.conftest import make_patient
from tests.outreach.test_outreach_webhooks import _post

from careloop.models import OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue_many, mark_sent
from careloop.runtime import Runtime

TOKEN = "test-auth-token"


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__SMS__AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("CARELOOP_CHANNELS__VOICE__CARE_TEAM_NUMBER", "+16175550100")


def _sent_texts(rt: Runtime, count: int) -> list[int]:
    """``count`` texts handed to Twilio (state sent, provider ids ``SM0``...)."""
    make_patient(rt, patient_id="pr", phone="+16175550177")
    now = rt.clock.now()
    text = NewMessage(
        patient_id="pr",
        to_address="+16175550177",
        channel="sms",
        purpose="care-reminders",
        body="Your screening is due.",
        idempotency_key="",
        due_at=now,
    )
    messages = [replace(text, idempotency_key=f"sms:pr:{n}") for n in range(count)]
    with rt.transaction() as session:
        rows = [row for row in enqueue_many(session, messages=messages, now=now) if row]
        for n, row in enumerate(rows):
            mark_sent(row, provider_id=f"SM{n}", now=now)
        return [row.id for row in rows]


def _burst(rt: Runtime) -> int:
    return 2 * rt.settings.security.webhook_per_second


def test_a_thousand_signed_status_callbacks_in_a_burst_are_all_recorded(
    rt: Runtime, api_client: Callable[..., Any]
) -> None:
    ids = _sent_texts(rt, 1000)
    client = api_client(None)

    answers = [
        _post(
            client,
            f"/webhooks/twilio/status?m={message_id}",
            {"MessageSid": f"SM{n}", "MessageStatus": "delivered"},
        ).status_code
        for n, message_id in enumerate(ids)
    ]

    with rt.transaction() as session:
        delivered = session.scalar(select(func.count()).where(OutboxMessage.state == "delivered"))
    assert answers == [204] * 1000
    assert delivered == 1000


def test_forged_status_callbacks_are_refused_then_rate_limited_while_signed_ones_pass(
    rt: Runtime, api_client: Callable[..., Any]
) -> None:
    [message_id] = _sent_texts(rt, 1)
    client = api_client(None)
    path = f"/webhooks/twilio/status?m={message_id}"
    forged = {"MessageSid": "SM0", "MessageStatus": "failed", "ErrorCode": "30006"}
    burst = _burst(rt)

    refused = [_post(client, path, forged, forge=True).status_code for _ in range(burst + 5)]
    signed = _post(client, path, {"MessageSid": "SM0", "MessageStatus": "delivered"})

    with rt.transaction() as session:
        row = session.get(OutboxMessage, message_id)
    assert refused == [403] * burst + [429] * 5
    assert signed.status_code == 204
    assert row is not None
    assert row.state == "delivered"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (
            "/webhooks/twilio/sms",
            {"From": "+16175550177", "To": "+15550009999", "Body": "Thanks", "MessageSid": "SMi"},
        ),
        ("/webhooks/twilio/voice/inbound", {"CallSid": "CAi", "From": "+16175550177"}),
        (
            "/webhooks/twilio/voice/gather",
            {"CallSid": "CAg", "Digits": "1", "From": "+15550009999", "To": "+16175550177"},
        ),
    ],
)
def test_signed_inbound_texts_and_calls_pass_beyond_the_burst_and_forged_ones_do_not(
    rt: Runtime, api_client: Callable[..., Any], path: str, params: dict[str, str]
) -> None:
    make_patient(rt, patient_id="pr", phone="+16175550177")
    client = api_client(None)
    burst = _burst(rt)

    signed = {_post(client, path, params).status_code for _ in range(burst + 20)}
    forged = [_post(client, path, params, forge=True).status_code for _ in range(burst + 1)]
    unsigned = client.post(path, data=params).status_code
    after = _post(client, path, params).status_code

    assert signed == {200}
    assert forged == [403] * burst + [429]
    assert unsigned == 429
    assert after == 200
