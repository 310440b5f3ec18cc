"""FHIR server figures on the 100 shared Synthea patients: a system ``$export`` (resources
per second into NDJSON rows) and search latency (Observation by patient and code).

    .venv/bin/python benchmarks/fhir_export.py --database sqlite:///bench-fhir.db

Imports the patients first when the database has none (not timed). The export is timed
from the kick-off through the ``fhir-exports`` job's run to the manifest. Goes through the HTTP
app in process (Starlette's TestClient), so routing, auth, audit and JSON are included.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from fastapi.testclient import TestClient

from careloop.fhir.export_jobs import run_exports
from careloop.records.importer import import_paths
from careloop.records.service import count_resources, patient_ids
from careloop.runtime import open_runtime
from careloop.security.auth import create_user, issue_token
from careloop.security.principal import CLI_OPERATOR
from careloop.settings import Settings
from careloop.web.app import create_app

SYNTHEA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "synthea-r4" / "patients"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="sqlite:///bench-fhir.db")
    parser.add_argument("--searches", type=int, default=200)
    args = parser.parse_args()
    rt = open_runtime(settings=Settings(database_url=args.database))
    with rt.transaction() as session:
        empty = not patient_ids(session)
    if empty:
        import_paths(
            rt.sessions, engine=rt.engine, paths=[SYNTHEA], clock=rt.clock,
            principal=CLI_OPERATOR, default_timezone="America/New_York",
        )  # fmt: skip
    with rt.transaction() as session:
        total = sum(count_resources(session).values())
        patients = patient_ids(session)
        user = create_user(
            session, clock=rt.clock, username=f"bench-{time.time_ns()}", password=None,
            role="clinician",
        )  # fmt: skip
        token = issue_token(session, clock=rt.clock, user=user).token
    client = TestClient(create_app(rt), headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    kick_off = client.get("/fhir/$export", headers={"Prefer": "respond-async"})
    run_exports(rt)  # the fhir-exports job's body, as a worker runs it
    manifest = client.get(kick_off.headers["content-location"]).json()
    export_seconds = time.perf_counter() - started
    exported = sum(o["count"] for o in manifest["output"])
    timings = []
    for n in range(args.searches):
        pid = patients[n % len(patients)]
        started = time.perf_counter()
        answer = client.get(
            "/fhir/Observation", params={"patient": pid, "code": "http://loinc.org|8480-6"}
        )
        timings.append(time.perf_counter() - started)
        assert answer.status_code == 200
    timings.sort()
    print(f"database: {args.database.split('://')[0]}  resources stored: {total}")
    print(
        f"$export: {exported} resources in {export_seconds:.1f} s "
        f"({exported / export_seconds:,.0f} resources/s)"
    )
    print(
        f"search Observation?patient&code: median {statistics.median(timings) * 1000:.0f} ms, "
        f"p95 {timings[int(len(timings) * 0.95)] * 1000:.0f} ms over {len(timings)} searches"
    )
    rt.close()


if __name__ == "__main__":
    main()
