"""Import's straight paths write what the general rules write.

The parsers take a straight path for the usual shapes (typed fact columns, the codes column);
whatever they doubt goes through the general rule. Both must give the same values, or the
nightly run would read other columns than the backfill writes.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from careloop.db import make_engine, migrate
from careloop.records import importer, store
from careloop.records.code_filter import column_text, element
from careloop.records.fact_columns import computed_columns, copied_columns
from careloop.records.fhir_reader import read_json_file
from tests.records.conftest import synthea_dir
from tests.records.test_fact_columns import _import as import_folder

LOINC = "http://loinc.org"


@cache
def synthea_resources() -> tuple[dict[str, Any], ...]:
    found: list[dict[str, Any]] = []
    for path in sorted(synthea_dir().glob("*.json"))[:20]:
        found.extend(resource for _, resource in read_json_file(path).resources)
    return tuple(found)


def general(resource: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(computed_columns(resource).values())


def test_the_synthea_facts_get_the_columns_of_the_general_rule() -> None:
    resources = synthea_resources()
    assert len(resources) > 3000
    for resource in resources:
        assert copied_columns(resource) == general(resource), resource["resourceType"]


def _observation(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", **fields}


ODD_SHAPES = {
    "no code": _observation(),
    "empty coding": _observation(code={"coding": []}),
    "a coding without a system": _observation(code={"coding": [{"code": "x"}]}),
    "an empty system": _observation(code={"coding": [{"system": "", "code": "x"}]}),
    "a system not a string": _observation(code={"coding": [{"system": 7, "code": "x"}]}),
    "a code on the concept": _observation(code={"code": "x", "coding": []}),
    "coding null": _observation(code={"coding": None}),
    "coding a string": _observation(code={"coding": "abc"}),
    "a coding not an object": _observation(code={"coding": ["x"]}),
    "code a list": _observation(code=[{"coding": [{"system": LOINC, "code": "1"}]}]),
    "code a string": _observation(code="1234-5"),
    "a unit separator": _observation(code={"coding": [{"system": "a\x1fb", "code": "x"}]}),
    "a record separator": _observation(code={"coding": [{"system": LOINC, "code": "x\x1e"}]}),
    "an integer value": _observation(valueQuantity={"value": 120, "unit": "mm[Hg]"}),
    "a huge integer": _observation(valueQuantity={"value": 10**400, "unit": "u"}),
    "a boolean value": _observation(valueQuantity={"value": True, "unit": "u"}),
    "no unit": _observation(valueQuantity={"value": 1.5}),
    "a long unit": _observation(valueQuantity={"value": 1.5, "unit": "u" * 100}),
    "a quantity not an object": _observation(valueQuantity=[1.5]),
    "a category object": _observation(category={"coding": [{"system": "s", "code": "c"}]}),
    "a category list in a list": _observation(category=[[{"coding": []}]]),
    "a category without a system": _observation(category=[{"coding": [{"code": "c"}]}]),
    "a bare coding as category": _observation(category=[{"system": "s", "code": "c"}]),
    "a class": {"resourceType": "Encounter", "class": {"system": "s", "code": "AMB"}},
    "a class without a system": {"resourceType": "Encounter", "class": {"code": "AMB"}},
    "a class with codings": {
        "resourceType": "Encounter",
        "class": {"code": "AMB", "coding": [{"system": "s", "code": "c"}]},
    },
    "a class code not a string": {"resourceType": "Encounter", "class": {"code": 5}},
    "an encounter's type": {
        "resourceType": "Encounter",
        "type": [{"coding": [{"system": "s", "code": "a"}, {"system": "s", "code": "b"}]}],
    },
}


@pytest.mark.parametrize("name", sorted(ODD_SHAPES))
def test_an_odd_shape_gets_the_columns_of_the_general_rule(name: str) -> None:
    resource = ODD_SHAPES[name]
    assert copied_columns(resource) == general(resource)


CODE_SETS = {
    "none": [],
    "one": [(LOINC, "8480-6")],
    "two": [(LOINC, "8480-6"), ("http://snomed.info/sct", "38341003")],
    "twice the same": [(LOINC, "8480-6"), (LOINC, "8480-6")],
    "a space": [(LOINC, "a b")],
    "a space, twice": [(LOINC, "a b"), (LOINC, "a b")],
    "a percent": [(LOINC, "50%")],
    "a long code": [(LOINC, "c" * 200)],
    "a long system": [("s" * 300, "c")],
    "cut to the same": [(LOINC, "c" * 128 + "x"), (LOINC, "c" * 128 + "y")],
    "no system": [("", "c")],
}


@pytest.mark.parametrize("name", sorted(CODE_SETS))
def test_the_codes_column_is_its_elements(name: str) -> None:
    codes = CODE_SETS[name]
    expected = " ".join(dict.fromkeys(element(system, code) for system, code in codes))
    assert column_text(codes) == expected


def _bundle(path: Path, patient: str, shared: str) -> Path:
    entries = [
        {"resourceType": "Patient", "id": patient, "gender": "female"},
        {"resourceType": "Organization", "id": "shared-org", "name": shared},
        {
            "resourceType": "Observation",
            "id": f"{patient}-obs",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "8302-2"}]},
            "subject": {"reference": f"Patient/{patient}"},
        },
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": []}
    bundle["entry"] = [{"resource": entry} for entry in entries]
    path.write_text(json.dumps(bundle))
    return path


def _import(url: str, folder: Path) -> list[str]:
    engine = make_engine(url)
    try:
        import_folder(engine, folder)  # no rejection
        with engine.connect() as connection:
            query = "SELECT resource->>'name' FROM fhir_resources WHERE fhir_id = 'shared-org'"
            return list(connection.execute(text(query)).scalars())
    finally:
        engine.dispose()


@pytest.fixture
def url(empty_postgresql_url: str) -> str:
    engine = make_engine(empty_postgresql_url)
    migrate(engine)
    engine.dispose()
    return empty_postgresql_url


def test_an_import_into_an_empty_table_looks_nothing_up_and_keeps_the_later_version(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One file a batch: the resource both files hold is stored when the second one's
    # batch is written; that batch upserts it (no failed COPY, no look-up).
    monkeypatch.setattr(importer, "BATCH_UNITS", 1)
    looked_up: list[int] = []
    failed: list[str] = []
    real_lookup, real_copy = store.existing_keys, store.copy_new

    def lookup(cursor: Any, resources: Any) -> set[tuple[str, str]]:
        looked_up.append(len(resources))
        return real_lookup(cursor, resources)

    def copy(*args: Any) -> None:
        try:
            real_copy(*args)
        except Exception as exc:
            failed.append(type(exc).__name__)
            raise

    monkeypatch.setattr(store, "existing_keys", lookup)
    monkeypatch.setattr(store, "copy_new", copy)
    _bundle(tmp_path / "a.json", "pat-a", "first")
    _bundle(tmp_path / "b.json", "pat-b", "second")

    assert _import(url, tmp_path) == ["second"]
    assert (looked_up, failed) == ([], [])

    _bundle(tmp_path / "b.json", "pat-b", "third")  # the table is not empty now: looked up
    assert _import(url, tmp_path) == ["third"]
    assert looked_up == [3, 3]
    assert failed == []
