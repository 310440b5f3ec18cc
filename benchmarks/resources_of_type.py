"""``records.service.resources_of_type`` for many patients at once on PostgreSQL (the programs
job asks for every enrolled patient's visits: 90,300 at 100,000 patients).

    .venv/bin/python benchmarks/resources_of_type.py \
        --database postgresql://postgres@127.0.0.1:5432/careloop_bench_rot

Migrates the database and, when it has no patients, stores ``--patients`` patients with two
Appointments and four Observations each by SQL (not timed); then reads the Appointments of
the first three quarters of the patients ``--repeat`` times and prints one JSON line: the
rows read and the best and median milliseconds. Run it with ``PYTHONPATH`` set to another
tree's ``src`` to compare.
"""

from __future__ import annotations

import argparse
import statistics
import time

import orjson
from sqlalchemy import text

from careloop.db import make_engine, make_sessionmaker, migrate
from careloop.records import service

SEED = """
INSERT INTO patients (id, timezone, timezone_source, deceased, contact_points, created_at,
    updated_at)
SELECT 'p-' || lpad(g::text, 6, '0'), 'UTC', 'default', false, '[]', now(), now()
FROM generate_series(1, :patients) g;
INSERT INTO fhir_resources (resource_type, fhir_id, patient_id, codes, supported, resource,
    imported_at)
SELECT kind, prefix || md5(kind || g::text), 'p-' || lpad((1 + g % :patients)::text, 6, '0'),
    '', true, jsonb_build_object('resourceType', kind, 'id', prefix || md5(kind || g::text)),
    now()
FROM generate_series(1, :patients * 2) g, (VALUES ('Appointment', 'a-'), ('Observation', 'o-'),
    ('Observation', 'p-')) AS k(kind, prefix);
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--patients", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    engine = make_engine(args.database)
    migrate(engine)
    with engine.begin() as conn:
        if not conn.scalar(text("SELECT count(*) FROM patients")):
            for statement in SEED.split(";")[:-1]:
                conn.execute(text(statement), {"patients": args.patients})
            conn.execute(text("ANALYZE"))
    ids = [f"p-{n:06d}" for n in range(1, args.patients * 3 // 4 + 1)]
    sessions = make_sessionmaker(engine)
    times: list[float] = []
    rows = 0
    for _ in range(args.repeat):
        with sessions() as session:
            start = time.perf_counter()
            found = service.resources_of_type(session, resource_type="Appointment", patient_ids=ids)
            rows = sum(1 for _ in found)
            times.append((time.perf_counter() - start) * 1000)
    figures = {
        "patients_asked": len(ids),
        "rows": rows,
        "best_ms": round(min(times)),
        "median_ms": round(statistics.median(times)),
    }
    print(orjson.dumps(figures).decode())


if __name__ == "__main__":
    main()
