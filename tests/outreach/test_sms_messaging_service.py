"""A Twilio Messaging Service: with ``CARELOOP_CHANNELS__SMS__MESSAGING_SERVICE_SID`` set, a
text goes to the Messages API with ``MessagingServiceSid`` (form-encoded, as Twilio documents
it) and no ``From``: Twilio picks the number from the service's pool. A SID of another shape
is refused at start, naming the setting. Through ``careloop send`` and ``careloop worker
--once`` against a local Twilio-compatible server that records every request as sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.channels.servers import FakeTwilio
from tests.outreach.test_sms_sender_at_send_time import _configure, _queue, _work, gateway

__all__ = ["gateway"]  # the SMS test's recording gateway, its account and a Boston morning
SERVICE = "MG" + "0123456789abcdef" * 2
VARIABLE = "CARELOOP_CHANNELS__SMS__MESSAGING_SERVICE_SID"


def test_a_text_through_a_messaging_service_names_the_service_and_no_from(
    gateway: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, PROVIDER="twilio", MESSAGING_SERVICE_SID=SERVICE)
    database, runner = _queue(tmp_path, "Your flu shot is ready.")

    report = _work(database, runner)

    creates = [r for r in gateway.requests_seen if r.get("form")]
    assert [r["form"] for r in creates] == [
        {
            "To": "+16175550199",
            "StatusCallback": creates[0]["form"]["StatusCallback"],
            "MessagingServiceSid": SERVICE,
            "Body": "Your flu shot is ready.",
        }
    ]
    assert creates[0]["content_type"] == "application/x-www-form-urlencoded"
    assert [m["messaging_service_sid"] for m in gateway.messages.values()] == [SERVICE]
    assert (report["sent"], report["dead"]) == (1, 0)


@pytest.mark.parametrize("sid", ["PN" + "0" * 32, "MG123", "mg" + "a" * 32, SERVICE + "0"])
def test_a_messaging_service_sid_of_another_shape_is_refused_at_start_naming_the_setting(
    sid: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "careloop"), "worker", "--once"],
        env=os.environ | {VARIABLE: sid, "CARELOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"error: invalid setting channels.sms.messaging_service_sid ({VARIABLE}): "
        "a Messaging Service SID is MG followed by 32 hex digits"
    ]
