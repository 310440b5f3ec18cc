"""Search runs in SQL: with a population of readings, a page reads only the page's rows
from the database, and every query answers what the matching rules say (the same query
filtered in Python over every resource), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from careloop.fhir.match import matches
from careloop.fhir.params import parse_query
from careloop.fhir.search import search
from careloop.records.fhir_query import stored_resources
from careloop.records.resources import store_resources
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.feedback.loop_payloads import LOINC
from tests.fhir.conftest import add_patients

PATIENTS = [f"pop-{n}" for n in range(6)]
CODES = ("8867-4", "85354-9", "29463-7")  # heart rate, blood pressure, weight


def _reading(n: int, rt: Runtime) -> dict[str, Any]:
    code = CODES[n % 3]
    at = rt.clock.now() - timedelta(hours=n)
    reading: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"r-{n:04d}",
        "status": "final" if n % 5 else "amended",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{PATIENTS[n % len(PATIENTS)]}"},
        "effectiveDateTime": at.isoformat().replace("+00:00", "Z"),
    }
    if code == "85354-9":
        reading["component"] = [
            {
                "code": {"coding": [{"system": LOINC, "code": c}]},
                "valueQuantity": {
                    "value": v,
                    "unit": "mm[Hg]",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            }
            for c, v in (("8480-6", 120 + n % 40), ("8462-4", 80))
        ]
    else:
        reading["valueQuantity"] = {
            "value": 60 + n % 30,
            "unit": "1",
            "system": "http://unitsofmeasure.org",
            "code": "1",
        }
    return reading


@pytest.fixture
def population(rt: Runtime, tmp_path: Path) -> Runtime:
    add_patients(rt, tmp_path, *PATIENTS)
    with rt.transaction() as session:
        store_resources(
            session, [_reading(n, rt) for n in range(600)], clock=rt.clock, principal=CLI_OPERATOR
        )
    return rt


QUERIES = [
    [("patient", "pop-1"), ("code", f"{LOINC}|85354-9"), ("_sort", "-date"), ("_count", "10")],
    [("code", f"{LOINC}|8867-4,{LOINC}|29463-7"), ("date", "ge2026-02-20"), ("_count", "25")],
    [("status", "amended"), ("_sort", "date"), ("_count", "7"), ("_offset", "14")],
    [("date", "lt2026-02-10"), ("date", "gt2026-02-01"), ("_sort", "-_lastUpdated,_id")],
    [("subject", "Patient/pop-2"), ("date", "2026-02-25"), ("_count", "50")],
    [("_id", "r-0003,r-0004,r-0300"), ("status", "final")],
]


@pytest.mark.parametrize("pairs", QUERIES, ids=lambda p: "&".join(f"{k}={v}" for k, v in p))
def test_a_page_reads_only_its_rows_and_agrees_with_the_matching_rules(
    population: Runtime, pairs: list[tuple[str, str]]
) -> None:
    rt = population
    query = parse_query("Observation", pairs)
    with rt.transaction() as session:
        result = search(session, query)
        everything = stored_resources(session, resource_type="Observation")
    wanted = [
        r
        for r in everything
        if all(matches(r.resource, c) for c in query.criteria if c.param.type != "reference")
        and all(
            r.patient_id == v.rsplit("/", 1)[-1]
            for c in query.criteria
            if c.param.type == "reference"
            for v in c.values
        )
    ]
    assert result.total == len(wanted)
    assert len(everything) == 600
    assert result.loaded == len(result.matches) <= query.count  # the page, not the population
    ids = [r.resource["id"] for r in result.matches]
    assert set(ids) <= {r.resource["id"] for r in wanted}
    if not query.sort:
        expected = sorted(r.resource["id"] for r in wanted)[
            query.offset : query.offset + query.count
        ]
        assert ids == expected
    for key in query.sort[:1]:
        values = [r.resource["effectiveDateTime"] for r in result.matches]
        if key.param.name == "date":
            assert values == sorted(values, reverse=key.descending)


def test_what_sql_cannot_say_is_still_answered_right(population: Runtime) -> None:
    """A code without a system or a category takes the general path: same rules, all rows."""
    query = parse_query("Observation", [("code", "85354-9"), ("category", "vital-signs")])
    with population.transaction() as session:
        result = search(session, query)
    assert result.total == 200
    assert result.loaded == 200  # narrowed by code in SQL, then matched in Python
