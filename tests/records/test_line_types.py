"""The optional line-type look-up (Twilio Lookup v2 ``line_type_intelligence``, a recording
look-alike on loopback): a number the record calls ``mobile`` but the provider calls a
landline is never texted; each answer is cached, so a second import asks nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from careloop.cli import app
from careloop.outreach.audience import address_for
from careloop.settings import get_settings
from tests.channels.servers import FakeTwilioLookup, ServerThread

ACCOUNT = "AC" + "0a1b2c3d4e5f6789" * 2
TOKEN = "lookup-token-0123456789"
LANDLINE_CALLED_MOBILE = "+16175550123"
REAL_MOBILE = "+16175550199"


@pytest.fixture
def lookup(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilioLookup]:
    fake = FakeTwilioLookup(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        line_types={LANDLINE_CALLED_MOBILE: "landline", REAL_MOBILE: "mobile"},
    )
    server = ServerThread(fake.app())
    server.start()
    for name, value in {
        "CARELOOP_CHANNELS__LOOKUP__PROVIDER": "twilio",
        "CARELOOP_CHANNELS__LOOKUP__BASE_URL": server.url,
        "CARELOOP_CHANNELS__SMS__ACCOUNT_SID": ACCOUNT,
        "CARELOOP_CHANNELS__SMS__AUTH_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield fake
    get_settings.cache_clear()
    server.stop()


def _bundle(tmp_path: Path, telecom: list[dict[str, str]]) -> Path:
    patient = {
        "resourceType": "Patient",
        "id": "lt-1",
        "name": [{"use": "official", "family": "Lopez", "given": ["Ana"]}],
        "telecom": telecom,
        "address": [{"use": "home", "city": "Boston", "state": "MA", "country": "US"}],
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    path = tmp_path / "patient.json"
    path.write_bytes(orjson.dumps(bundle))
    return path


def test_a_mobile_the_lookup_calls_a_landline_is_never_texted_and_answers_are_cached(
    lookup: FakeTwilioLookup, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'lt.db'}"
    path = _bundle(
        tmp_path,
        [
            {"system": "phone", "value": "(617) 555-0123", "use": "mobile", "rank": "1"},
            {"system": "phone", "value": "(617) 555-0199", "use": "mobile", "rank": "2"},
        ],
    )
    runner = CliRunner()
    first = runner.invoke(app, ["import", str(path), "--database", database, "--json"])
    again = runner.invoke(app, ["import", str(path), "--database", database, "--json"])
    shown = runner.invoke(app, ["patients", "show", "lt-1", "--database", database, "--json"])

    assert first.exit_code == 0, first.output
    assert orjson.loads(first.stdout)["line_types"] == {
        "looked_up": 2,
        "cached": 0,
        "failed": 0,
        "types": {"landline": 1, "mobile": 1},
    }
    assert orjson.loads(again.stdout)["line_types"]["cached"] == 2
    assert [r["number"] for r in lookup.requests_seen] == [LANDLINE_CALLED_MOBILE, REAL_MOBILE]
    assert {r["query"]["Fields"] for r in lookup.requests_seen} == {"line_type_intelligence"}
    assert {r["auth"] for r in lookup.requests_seen} == {(ACCOUNT, TOKEN)}
    points = orjson.loads(shown.stdout)["contact_points"]
    assert {p["value"]: p["line_type"] for p in points} == {
        LANDLINE_CALLED_MOBILE: "landline",
        REAL_MOBILE: "mobile",
    }
    assert address_for(points, "sms", patient_id="lt-1") == REAL_MOBILE
    assert address_for(points, "voice", patient_id="lt-1") == LANDLINE_CALLED_MOBILE


def test_a_number_the_provider_cannot_classify_stays_textable_by_its_use(
    lookup: FakeTwilioLookup, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'lt.db'}"
    path = _bundle(tmp_path, [{"system": "phone", "value": "(617) 555-0177", "use": "mobile"}])
    imported = CliRunner().invoke(app, ["import", str(path), "--database", database, "--json"])
    shown = CliRunner().invoke(app, ["patients", "show", "lt-1", "--database", database, "--json"])

    assert orjson.loads(imported.stdout)["line_types"]["types"] == {"unknown": 1}
    points = orjson.loads(shown.stdout)["contact_points"]
    assert points[0]["line_type"] is None
    assert address_for(points, "sms", patient_id="lt-1") == "+16175550177"
