"""FHIR search in SQL against the general path (narrow in SQL, match and page in Python),
on a population of device readings.

    .venv/bin/python benchmarks/fhir_search.py --database sqlite:///bench-search.db \
        --patients 200 --readings 100

Stores ``patients × readings`` Observations first when the database has none (not timed),
then runs each query ``--repeat`` times both ways through ``careloop.fhir.search.search``
and prints one JSON line per query: median milliseconds, resources read from the database,
and the ratio. Both ways answer the same page (checked).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from careloop.fhir.params import parse_query
from careloop.fhir.search import search
from careloop.records.importer import import_paths
from careloop.records.resources import store_resources
from careloop.records.service import patient_ids
from careloop.runtime import open_runtime
from careloop.security.principal import CLI_OPERATOR
from careloop.settings import Settings

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CODES = ("8867-4", "29463-7", "2339-0")


def _patient(n: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"bench-{n}",
        "gender": "female",
        "birthDate": "1960-01-01",
        "name": [{"family": f"Bench{n}", "given": ["Pat"]}],
    }


def _reading(p: int, n: int, now: Any) -> dict[str, Any]:
    at = now - timedelta(hours=n)
    return {
        "resourceType": "Observation",
        "id": f"bench-{p}-{n}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": CODES[n % 3]}]},
        "subject": {"reference": f"Patient/bench-{p}"},
        "effectiveDateTime": at.isoformat().replace("+00:00", "Z"),
        "valueQuantity": {"value": 60 + n % 40, "unit": "1", "system": UCUM, "code": "1"},
    }


def _fill(rt: Any, patients: int, readings: int) -> None:
    with rt.transaction() as session:
        if patient_ids(session):
            return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "patients.json"
        entries = [{"resource": _patient(p)} for p in range(patients)]
        path.write_bytes(
            orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
        )
        import_paths(
            rt.sessions, engine=rt.engine, paths=[path], clock=rt.clock,
            principal=CLI_OPERATOR, default_timezone="America/New_York", workers=0,
        )  # fmt: skip
    now = rt.clock.now()
    for p in range(patients):
        with rt.transaction() as session:
            batch = [_reading(p, n, now) for n in range(readings)]
            store_resources(session, batch, clock=rt.clock, principal=CLI_OPERATOR)


QUERIES = {
    "patient+code, newest 10": [
        ("patient", "bench-7"),
        ("code", f"{LOINC}|8867-4"),
        ("_sort", "-date"),
        ("_count", "10"),
    ],
    "code+date, page 3 of 50": [
        ("code", f"{LOINC}|2339-0"),
        ("date", "ge2020-01-01"),
        ("_count", "50"),
        ("_offset", "100"),
    ],
    "status, newest 20": [("status", "final"), ("_sort", "-_lastUpdated"), ("_count", "20")],
}


def _time(
    rt: Any, pairs: list[tuple[str, str]], *, in_sql: bool, repeat: int
) -> tuple[float, int, list[str]]:
    query = parse_query("Observation", pairs)
    timings, loaded, ids = [], 0, []
    for _ in range(repeat):
        with rt.transaction() as session:
            started = time.perf_counter()
            result = search(session, query, in_sql=in_sql)
            timings.append(time.perf_counter() - started)
        loaded, ids = result.loaded, [r.resource["id"] for r in result.matches]
    return statistics.median(timings) * 1000, loaded, ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="sqlite:///bench-search.db")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--readings", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rt = open_runtime(settings=Settings(database_url=args.database))
    _fill(rt, args.patients, args.readings)
    for name, pairs in QUERIES.items():
        sql_ms, sql_loaded, sql_ids = _time(rt, pairs, in_sql=True, repeat=args.repeat)
        py_ms, py_loaded, py_ids = _time(rt, pairs, in_sql=False, repeat=args.repeat)
        assert sql_ids == py_ids, name
        line = {
            "query": name,
            "readings": args.patients * args.readings,
            "sql_ms": round(sql_ms, 1),
            "general_ms": round(py_ms, 1),
            "sql_loaded": sql_loaded,
            "general_loaded": py_loaded,
            "speedup": round(py_ms / sql_ms, 1),
        }
        print(orjson.dumps(line).decode())
    rt.close()


if __name__ == "__main__":
    main()
