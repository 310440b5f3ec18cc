"""The issue's "done when": a patient imported with phone ``(617) 555-0199`` (mobile) and a
home line, US address, is texted by ``careloop send … --channel sms`` + ``careloop worker
--once`` exactly once, To ``+16175550199``, From the configured sender, through the Twilio
adapter against a local Twilio-compatible server that records every request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from tests.channels.servers import FakeTwilio, ServerThread, wait_for
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import SystemClock
from careloop.outreach.staff_messages import STAFF_CHANNELS, refusal_words
from careloop.personalize.contact_budget import RemovalReason
from careloop.settings import get_settings

ACCOUNT = "AC" + "fedcba9876543210" * 2
TOKEN = "send-cli-token-0123456789"
SENDER = "+16175550000"
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
        "CARELOOP_CHANNELS__SMS__SENDERS": f'[{{"number": "{SENDER}"}}]',
    }.items():
        monkeypatch.setenv(name, value)
    # The wall clock would make quiet hours decide the test: a weekday morning in Boston.
    monkeypatch.setattr(SystemClock, "now", lambda self: WEEKDAY_MORNING_IN_BOSTON)
    get_settings.cache_clear()
    yield fake
    get_settings.cache_clear()
    server.stop()


def _bundle(tmp_path: Path) -> Path:
    patient = {
        "resourceType": "Patient",
        "id": "send-1",
        "name": [{"use": "official", "family": "Lopez", "given": ["Ana"]}],
        "telecom": [
            {"system": "phone", "value": "(617) 555-0100", "use": "home"},
            {"system": "phone", "value": "(617) 555-0199", "use": "mobile"},
        ],
        "address": [{"use": "home", "city": "Boston", "state": "MA", "country": "US"}],
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    path = tmp_path / "patient.json"
    path.write_bytes(orjson.dumps(bundle))
    return path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_careloop_send_and_one_worker_pass_text_the_mobile_once_in_e164(
    gateway: FakeTwilio, database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    imported = runner.invoke(app, ["import", str(_bundle(tmp_path)), "--database", database_url])
    patient_id = orjson.loads(
        runner.invoke(app, ["patients", "list", "--database", database_url, "--json"]).stdout
    )
    sent = runner.invoke(
        app,
        ["send", "send-1", "--channel", "sms", "--text", "Please call us back.", "--json"],
        env={"CARELOOP_DATABASE_URL": database_url},
    )
    again = runner.invoke(
        app,
        ["send", "send-1", "--channel", "sms", "--text", "Please call us back.", "--json"],
        env={"CARELOOP_DATABASE_URL": database_url},
    )
    worked = runner.invoke(app, ["worker", "--once", "--database", database_url, "--json"])
    wait_for(lambda: len(gateway.messages) >= 1)
    creates = [r for r in gateway.requests_seen if r.get("form")]

    assert imported.exit_code == 0, imported.output
    assert patient_id
    assert sent.exit_code == 0, sent.output
    queued = orjson.loads(sent.stdout)
    assert set(queued) >= {"id", "due_at"}
    assert orjson.loads(again.stdout)["id"] == queued["id"]  # one click = one message
    assert worked.exit_code == 0, worked.output
    assert len(creates) == 1
    assert (creates[0]["form"]["To"], creates[0]["form"]["From"]) == ("+16175550199", SENDER)
    assert creates[0]["form"]["Body"] == "Please call us back."


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_staff_text_queued_mid_minute_goes_out_on_the_very_next_worker_pass(
    gateway: FakeTwilio, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 10:00:37 a nurse runs ``careloop send`` then ``careloop worker --once``: the text
    goes now, not at 10:01 after the worker pass already found nothing due."""
    mid_minute = WEEKDAY_MORNING_IN_BOSTON.replace(second=37)
    monkeypatch.setattr(SystemClock, "now", lambda self: mid_minute)
    runner = CliRunner()
    env = {"CARELOOP_DATABASE_URL": database_url}
    runner.invoke(app, ["import", str(_bundle(tmp_path))], env=env)
    args = ["send", "send-1", "--channel", "sms", "--text", "Please call us back.", "--json"]
    sent = runner.invoke(app, args, env=env)
    worked = runner.invoke(app, ["worker", "--once", "--json"], env=env)

    assert sent.exit_code == 0, sent.output
    assert datetime.fromisoformat(orjson.loads(sent.stdout)["due_at"]) <= mid_minute
    assert worked.exit_code == 0, worked.output
    assert orjson.loads(worked.stdout)["sent"] == 1
    assert [r["form"]["To"] for r in gateway.requests_seen if r.get("form")] == ["+16175550199"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_careloop_send_says_when_in_the_clinics_clock_and_that_a_repeat_queued_nothing(
    gateway: FakeTwilio, database_url: str, tmp_path: Path
) -> None:
    """It printed ``due 2026-03-03T15:00:00+00:00`` and, sent again, "queued message" again."""
    runner = CliRunner()
    env = {"CARELOOP_DATABASE_URL": database_url}
    runner.invoke(app, ["import", str(_bundle(tmp_path))], env=env)
    args = ["send", "send-1", "--channel", "sms", "--text", "Please call us back."]
    first = runner.invoke(app, args, env=env)
    again = runner.invoke(app, args, env=env)

    assert first.exit_code == 0, first.output
    number = first.output.split()[2].rstrip(",")
    assert first.output.strip() == f"queued message {number}, due 2026-03-03 10:00 EST"
    assert again.output.strip() == (
        f"already queued as message {number} (nothing new queued), due 2026-03-03 10:00 EST"
    )


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--channel", "fax", "--text", "hi"], "channel"),
        (["--channel", "sms", "--text", "   "], "text"),
    ],
)
def test_careloop_send_bad_input_is_one_line_naming_the_field(
    tmp_path: Path, args: list[str], names: str
) -> None:
    result = CliRunner().invoke(
        app, ["send", "anyone", *args, "--database", f"sqlite:///{tmp_path / 'bad.db'}"]
    )
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert names in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_careloop_send_to_a_home_phone_only_says_why_in_words(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Most demo patients have a home phone only: the refusal was "no_contact_point".
    monkeypatch.setattr(SystemClock, "now", lambda self: WEEKDAY_MORNING_IN_BOSTON)
    bundle = orjson.loads(_bundle(tmp_path).read_bytes())
    bundle["entry"][0]["resource"]["telecom"] = [
        {"system": "phone", "value": "(617) 555-0100", "use": "home"}
    ]
    (tmp_path / "patient.json").write_bytes(orjson.dumps(bundle))
    runner = CliRunner()
    env = {"CARELOOP_DATABASE_URL": database_url}
    runner.invoke(app, ["import", str(tmp_path / "patient.json")], env=env)
    refused = runner.invoke(app, ["send", "send-1", "--channel", "sms", "--text", "Hi."], env=env)
    called = runner.invoke(app, ["send", "send-1", "--channel", "voice", "--text", "Hi."], env=env)

    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        "error: the message may not be sent: the patient has no mobile number on file, and a"
        " text goes only to a mobile (a home or work number may be a landline); add their"
        " mobile to the record, or call them (no_contact_point)"
    ]
    assert called.exit_code == 0, called.output  # the home line takes a call


def test_every_reason_a_staff_message_is_refused_has_words() -> None:
    for channel in STAFF_CHANNELS:
        for reason in RemovalReason:
            words = refusal_words(channel, {reason})
            assert words.endswith(f"({reason})")
            assert "_" not in words.removesuffix(f"({reason})")
