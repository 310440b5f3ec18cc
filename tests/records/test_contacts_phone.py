"""Phone numbers are stored in E.164 (read by ``phonenumbers`` in the patient's region), the
original kept for display; a number that cannot be read is reported and never dialled; a
text never goes to a landline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from careloop.cli import app
from careloop.outreach.audience import address_for
from careloop.records import service
from careloop.records.contacts import find_patients_by_contact
from careloop.records.contacts_phone import region_of, to_e164
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from careloop.settings import RecordsSettings, get_settings


def _bundle(tmp_path: Path, telecom: list[dict[str, Any]], country: str = "US") -> Path:
    patient = {
        "resourceType": "Patient",
        "id": "ph-1",
        "name": [{"use": "official", "family": "Lopez", "given": ["Ana"]}],
        "telecom": telecom,
        "address": [{"use": "home", "city": "Boston", "state": "MA", "country": country}],
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    path = tmp_path / "phones.json"
    path.write_bytes(orjson.dumps(bundle))
    return path


def _import(rt: Runtime, path: Path) -> dict[str, Any]:
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[path],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )
    return summary.as_dict()


def test_an_ehr_number_is_stored_in_e164_and_texts_go_to_the_mobile(
    rt: Runtime, tmp_path: Path
) -> None:
    path = _bundle(
        tmp_path,
        [
            {"system": "phone", "value": "(617) 555-0100", "use": "home"},
            {"system": "phone", "value": "(617) 555-0199", "use": "mobile"},
        ],
    )
    summary = _import(rt, path)
    with rt.transaction() as session:
        record = service.get_patient_record(session, patient_id="ph-1")
        found = find_patients_by_contact(session, system="phone", value="+16175550199")
    points = [cp.model_dump() for cp in record.contact_points]
    assert summary["undialable_phones"] == 0
    assert {(p["value"], p["display"]) for p in points} == {
        ("+16175550100", "(617) 555-0100"),
        ("+16175550199", "(617) 555-0199"),
    }
    assert address_for(points, "sms", patient_id="ph-1") == "+16175550199"
    assert found == ["ph-1"]


def test_a_home_line_alone_is_called_but_never_texted(rt: Runtime, tmp_path: Path) -> None:
    path = _bundle(tmp_path, [{"system": "phone", "value": "617.555.0100", "use": "home"}])
    _import(rt, path)
    with rt.transaction() as session:
        points = [
            cp.model_dump()
            for cp in service.get_patient_record(session, patient_id="ph-1").contact_points
        ]
    assert address_for(points, "sms", patient_id="ph-1") is None
    assert address_for(points, "voice", patient_id="ph-1") == "+16175550100"


def test_a_number_that_cannot_be_read_is_reported_and_never_dialled(
    rt: Runtime, tmp_path: Path
) -> None:
    path = _bundle(tmp_path, [{"system": "phone", "value": "call the front desk", "use": "mobile"}])
    summary = _import(rt, path)
    with rt.transaction() as session:
        points = [
            cp.model_dump()
            for cp in service.get_patient_record(session, patient_id="ph-1").contact_points
        ]
    assert summary["undialable_phones"] == 1
    assert points[0]["dialable"] is False
    assert address_for(points, "sms", patient_id="ph-1") is None
    assert address_for(points, "voice", patient_id="ph-1") is None


def test_a_national_number_is_read_in_the_patients_country() -> None:
    assert region_of({"country": "ES"}) == "ES"
    assert region_of({"country": "United States"}) == "US"
    assert region_of(None, default="MX") == "MX"
    assert to_e164("612 34 56 78", region="ES") == "+34612345678"
    assert to_e164("(617) 555-0199", region="US") == "+16175550199"


@given(st.text(max_size=30))
def test_whatever_comes_in_is_either_e164_or_refused(value: str) -> None:
    number = to_e164(value)
    assert number is None or (number.startswith("+") and number[1:].isdigit())


def test_without_a_country_in_the_address_the_configured_default_region_reads_the_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "ph-es",
        "name": [{"use": "official", "family": "Ruiz", "given": ["Eva"]}],
        "telecom": [
            {"system": "phone", "value": "612 34 56 78", "use": "mobile"},
            {"system": "phone", "value": "no tiene", "use": "home"},
        ],
        "address": [{"use": "home", "city": "Madrid"}],
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    path = tmp_path / "es.json"
    path.write_bytes(orjson.dumps(bundle))
    database = f"sqlite:///{tmp_path / 'region.db'}"
    monkeypatch.setenv("CARELOOP_RECORDS__DEFAULT_REGION", "es")
    get_settings.cache_clear()
    runner = CliRunner()
    imported = runner.invoke(app, ["import", str(path), "--database", database, "--json"])
    shown = runner.invoke(app, ["patients", "show", "ph-es", "--database", database, "--json"])
    get_settings.cache_clear()

    assert imported.exit_code == 0, imported.output
    assert orjson.loads(imported.stdout)["undialable_phones"] == 1
    points = orjson.loads(shown.stdout)["contact_points"]
    assert {(p["value"], p["display"], p["dialable"]) for p in points} == {
        ("+34612345678", "612 34 56 78", True),
        ("no tiene", "no tiene", False),
    }
    assert address_for(points, "sms", patient_id="ph-es") == "+34612345678"


def test_a_default_region_that_is_not_a_country_code_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="default_region"):
        RecordsSettings(default_region="Spain")


_points = st.lists(
    st.fixed_dictionaries(
        {
            "system": st.sampled_from(["phone", "sms", "email"]),
            "value": st.sampled_from(["+16175550100", "+16175550199", "a@example.org", "x"]),
            "use": st.sampled_from([None, "home", "work", "mobile", "old", "temp"]),
            "rank": st.one_of(st.none(), st.integers(min_value=1, max_value=3)),
            "dialable": st.booleans(),
            "line_type": st.sampled_from([None, "landline", "mobile", "nonFixedVoip"]),
        }
    ),
    max_size=6,
)


@given(_points)
def test_a_text_never_goes_to_a_landline_a_home_line_or_an_unreadable_number(
    points: list[dict[str, Any]],
) -> None:
    chosen = address_for(points, "sms", patient_id="p")
    textable = [
        p
        for p in points
        if p["system"] in ("phone", "sms")
        and p["dialable"]
        and p["use"] not in ("home", "work", "old")
        and p["line_type"] != "landline"
    ]
    assert (chosen is None) == (not textable)
    assert chosen is None or chosen in {p["value"] for p in textable}
