"""A call's caller id is the one configured when the call is placed, as a text's sender is: a
call queued while another number was configured (the demo's, one given up) is placed From the
configured ``channels.voice.caller_id``, and the row names it. Through the Twilio adapter
against a local Twilio-compatible server that records every request, with ``careloop send``
and ``careloop worker --once``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.channels.servers import FakeTwilio
from tests.outreach.test_sms_sender_at_send_time import _queue, _work, gateway

from careloop.settings import get_settings

__all__ = ["gateway"]  # the SMS test's recording gateway, its account and a Boston morning
OLD_CALLER_ID = "+15005550006"
CALLER_ID = "+16175550000"
SMS_SENDER = "+16175550001"


def _voice(monkeypatch: pytest.MonkeyPatch, caller_id: str) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__SMS__SENDERS", f'[{{"number": "{SMS_SENDER}"}}]')
    monkeypatch.setenv("CARELOOP_CHANNELS__VOICE__PROVIDER", "twilio")
    monkeypatch.setenv("CARELOOP_CHANNELS__VOICE__CALLER_ID", caller_id)
    get_settings.cache_clear()


def test_a_call_queued_under_an_old_caller_id_is_placed_from_the_one_configured_now(
    gateway: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _voice(monkeypatch, OLD_CALLER_ID)
    database, runner = _queue(tmp_path, "Your flu shot is ready.", channel="voice")
    _voice(monkeypatch, CALLER_ID)

    report = _work(database, runner)

    calls = [r["form"] for r in gateway.requests_seen if r["path"].endswith("/Calls.json")]
    assert [(c["To"], c["From"]) for c in calls] == [("+16175550199", CALLER_ID)]
    assert (report["sent"], report["dead"]) == (1, 0)
    with create_engine(database).connect() as connection:
        senders = connection.execute(text("SELECT sender FROM outreach_outbox")).scalars().all()
    assert senders == [CALLER_ID]
