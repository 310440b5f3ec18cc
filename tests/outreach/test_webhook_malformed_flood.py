"""rev1 review of wh: a forged webhook whose form cannot be parsed spends no ``webhook`` token.

Before wh the router's ``rate_limit("webhook")`` charged every request; now only a refused
signature does, and ``verified_form`` parses the form first. A multipart body without a
boundary (or any body the form parser refuses) is answered 400 by the parser before the
signature is looked at: an unsigned caller gets an unlimited stream of 400s, never a 429,
and the rest of the burst is untouched for its forged-signature requests. Twilio only ever
posts ``application/x-www-form-urlencoded``: a body that is not a readable form is as
unsigned as a forged one and must spend the same bucket.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.outreach.test_outreach_webhooks import _post

from careloop.runtime import Runtime

TOKEN = "test-auth-token"


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__SMS__AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("CARELOOP_CHANNELS__VOICE__CARE_TEAM_NUMBER", "+16175550100")


def test_unparseable_webhook_bodies_spend_the_webhook_bucket(
    rt: Runtime, api_client: Callable[..., Any]
) -> None:
    client = api_client(None)
    burst = 2 * rt.settings.security.webhook_per_second
    broken = {"Content-Type": "multipart/form-data", "X-Twilio-Signature": "forged"}

    answers = [
        client.post("/webhooks/twilio/status", content=b"--x\r\n", headers=broken).status_code
        for _ in range(burst + 1)
    ]
    forged = _post(client, "/webhooks/twilio/sms", {"MessageSid": "SMf"}, forge=True)

    assert answers[-1] == 429
    assert set(answers[:burst]) <= {400, 403}
    assert forged.status_code == 429
