"""The SMS sender is the one configured when the text goes, as email's From is: texts queued
while another number was configured (the demo's, or a number the clinic has since given up)
go out From the configured sender, never dead-lettered ``misconfigured``. Through the Twilio
adapter against a local Twilio-compatible server that records every request, with
``careloop send`` and ``careloop worker --once``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from tests.channels.servers import FakeTwilio, ServerThread
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import SystemClock
from careloop.settings import get_settings

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "sender-at-send-token-0123"
DEMO_SENDER = "+15005550006"
CLINIC_SENDER = "+16175550000"
WEEKDAY_MORNING_IN_BOSTON = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    fake = FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN)
    server = ServerThread(fake.app())
    server.start()
    for name, value in {
        "CARELOOP_CHANNELS__SMS__PROVIDER": "twilio",
        "CARELOOP_CHANNELS__SMS__BASE_URL": server.url,
        "CARELOOP_CHANNELS__SMS__ACCOUNT_SID": ACCOUNT,
        "CARELOOP_CHANNELS__SMS__AUTH_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(SystemClock, "now", lambda self: WEEKDAY_MORNING_IN_BOSTON)
    get_settings.cache_clear()
    yield fake
    get_settings.cache_clear()
    server.stop()


def _configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name in ("SENDERS", "DEFAULT_SENDER", "PROVIDER"):
        monkeypatch.delenv(f"CARELOOP_CHANNELS__SMS__{name}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(f"CARELOOP_CHANNELS__SMS__{name}", value)
    get_settings.cache_clear()


def _queue(tmp_path: Path, text: str, *, channel: str = "sms") -> tuple[str, CliRunner]:
    patient = {
        "resourceType": "Patient",
        "id": "ana",
        "name": [{"family": "Lopez", "given": ["Ana"]}],
        "telecom": [{"system": "phone", "value": "(617) 555-0199", "use": "mobile"}],
        "address": [{"city": "Boston", "state": "MA", "country": "US"}],
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    path = tmp_path / "patient.json"
    path.write_bytes(orjson.dumps(bundle))
    database = f"sqlite:///{tmp_path / 'texts.db'}"
    runner = CliRunner()
    env = {"CARELOOP_DATABASE_URL": database}
    assert runner.invoke(app, ["import", str(path)], env=env).exit_code == 0
    sent = runner.invoke(app, ["send", "ana", "--channel", channel, "--text", text], env=env)
    assert sent.exit_code == 0, sent.output
    return database, runner


def _work(database: str, runner: CliRunner) -> dict[str, int]:
    worked = runner.invoke(app, ["worker", "--once", "--no-jobs", "--json", "--database", database])
    assert worked.exit_code == 0, worked.output
    report: dict[str, int] = orjson.loads(worked.stdout)
    return report


def test_a_text_queued_under_the_demo_sender_goes_from_the_sender_configured_now(
    gateway: FakeTwilio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, SENDERS=f'[{{"number": "{DEMO_SENDER}"}}]')
    database, runner = _queue(tmp_path, "Your flu shot is ready.")
    _configure(monkeypatch, PROVIDER="twilio", SENDERS=f'[{{"number": "{CLINIC_SENDER}"}}]')

    report = _work(database, runner)

    creates = [r["form"] for r in gateway.requests_seen if r.get("form")]
    assert [(c["To"], c["From"], c["Body"]) for c in creates] == [
        ("+16175550199", CLINIC_SENDER, "Your flu shot is ready.")
    ]
    assert (report["sent"], report["dead"]) == (1, 0)
