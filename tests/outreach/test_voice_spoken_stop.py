"""A word said on a call is now read as a text is, so a patient who says "stop" on a
reminder call is opted out, and the STOP confirmation is queued as a reply on the call's own
channel: a new automated call to the person who just said stop (transactional, so it skips
quiet hours). On a call, the confirmation is said on the call; nothing is dialled back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.outreach.conftest import Loop
from tests.outreach.test_outreach_webhooks import twilio_token
from tests.outreach.test_red_flag_voice import _called, _gather, _queued, _twiml

from careloop.runtime import Runtime

__all__ = ["twilio_token"]


def test_stop_said_on_a_call_places_no_new_call(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    m = _called(rt, make_loop, language="en")
    client = api_client(None)

    said = _twiml(_gather(client, m, SpeechResult="Stop.", Confidence="0.9"))

    assert said is not None
    calls = [q for q in _queued(rt) if q.channel == "voice"]
    assert calls == [], [(q.channel, q.to_address, q.body) for q in calls]
