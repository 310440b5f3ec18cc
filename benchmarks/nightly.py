"""The nightly cycle at population scale: care gaps, decisions, outbox, patients/second.

    .venv/bin/python benchmarks/nightly.py --patients 20000 --json [--workers 2] [--queue]

Builds (or reuses) a PostgreSQL population of ``--patients`` patients in its own database
(``careloop_bench_scale`` on 127.0.0.1:5432 unless ``--database``): the 100 Synthea patients
imported through ``careloop import`` (which writes the identification projection), then
replicated in SQL under new ids (``<id>-r<k>``: resources, codes, facts). The shipped content
library is synced (approved) so decided steps can be queued. Before each timed night the
night's outputs of earlier runs (enrollments, outbox, decisions, events) are cleared, so every
run is a first night. Worker processes are started and warmed before the clock starts.

Prints one JSON line on stdout: ``{"patients", "seconds", "patients_per_s", "gaps",
"decided", "enqueued"}`` timing the cycle only (``compose.nightly.run_nightly``); the set-up
and the machine's load go to stderr. Goal (issue 18): >= 1,700 patients/s at N >= 20,000.

``--queue`` runs the same night through the distributed queue instead: the night is deferred
(``careloop nightly --queue``) and ``--workers`` separate ``careloop worker --queue --once
--queues nightly`` processes run its tasks; the clock runs from the deferral until the last
worker exits (worker start-up included), and the counts are read from the database.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import orjson
import psycopg
from psycopg import sql

from careloop.compose.nightly import SLICE_SIZE, run_nightly, warm_worker, worker_pool
from careloop.content.library import load_library
from careloop.content.service import sync_library
from careloop.outreach.handoffs import FIRST_QUESTION_SUFFIX
from careloop.outreach.withheld import COPY_SUFFIX
from careloop.records.importer import import_paths
from careloop.runtime import Runtime, open_runtime
from careloop.security.principal import CLI_OPERATOR

ADMIN = os.environ.get("CARELOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SYNTHEA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "synthea-r4" / "patients"
BASE = 100
# Copies of the imported (base) rows under new ids, one copy (``k``) per statement: a copy's
# rows are then written together in the base rows' (import) order, so each copied patient's
# facts lie on as few pages as an imported patient's (~34 at 250 facts). All copies in one
# statement put the k copies of each base row side by side instead: a patient's ~250 facts on
# ~250 pages, 7x the pages the night reads per patient (docs/benchmarks.md, ntE).
REPLICATE = (
    """INSERT INTO patients (id, given_name, family_name, birth_date, gender, language, timezone,
         timezone_source, deceased, deceased_at, race, ethnicity, contact_points, address,
         created_at, updated_at)
       SELECT id || '-r' || k, given_name, family_name, birth_date, gender, language, timezone,
         timezone_source, deceased, deceased_at, race, ethnicity, contact_points, address,
         created_at, updated_at
       FROM base_patients, (SELECT %(k)s::int AS k) AS copy""",
    """INSERT INTO fhir_resources (resource_type, fhir_id, patient_id, patient_ref, status,
         effective_start, effective_end, codes, supported, resource, source, imported_at)
       SELECT resource_type, fhir_id || '-r' || k, patient_id || '-r' || k,
         patient_ref || '-r' || k, status, effective_start, effective_end, codes, supported,
         jsonb_set(resource, '{id}', to_jsonb(fhir_id || '-r' || k)), source, imported_at
       FROM base_fhir_resources, (SELECT %(k)s::int AS k) AS copy""",
    """INSERT INTO resource_facts (resource_type, fhir_id, patient_id, codes,
         code_pairs, status, start_at, end_at, value_num, value_unit, category_pairs,
         columns_version)
       SELECT resource_type, fhir_id || '-r' || k, patient_id || '-r' || k, codes,
         code_pairs, status, start_at, end_at, value_num, value_unit, category_pairs,
         columns_version
       FROM base_resource_facts, (SELECT %(k)s::int AS k) AS copy""",
    """INSERT INTO resource_fact_bodies (resource_type, fhir_id, fact)
       SELECT resource_type, fhir_id || '-r' || k,
         jsonb_set(fact, '{id}', to_jsonb(fhir_id || '-r' || k))
       FROM base_resource_fact_bodies, (SELECT %(k)s::int AS k) AS copy""",
)
# The only whole resources a first night reads (``fhir_resources``): the Patient (interpreter
# need of a patient to call) and Appointment (appointment journeys); everything else it reads
# from ``resource_facts``. A copy gets only these unless ``--full-records``: a full copy costs
# ~0.66 GB per 1,000 patients (100,000 = ~65 GB), this one ~0.3 GB, with the same night
# (docs/scale.md; ``tests/ops/test_nightly_population.py`` keeps the list true). The copied
# facts of the other types then have no resource row: their foreign key is not checked while
# copying (``session_replication_role``), the schema is left as migrations made it.
NIGHT_RECORD_TYPES = ("Patient", "Appointment")
# The imported rows each copy is made from, in their physical (import) order.
BASE_ROWS = (
    "CREATE TEMP TABLE base_patients AS SELECT * FROM patients",
    "CREATE TEMP TABLE base_fhir_resources AS SELECT * FROM fhir_resources "
    "WHERE patient_id IS NOT NULL AND (%(full)s OR resource_type = ANY(%(types)s))",
    "CREATE TEMP TABLE base_resource_facts AS SELECT * FROM resource_facts "
    "WHERE patient_id IS NOT NULL",
    "CREATE TEMP TABLE base_resource_fact_bodies AS SELECT * FROM resource_fact_bodies",
)
# The indexes of the copied bulk (and the constraints they back), dropped while copying and
# built again after: inserted one copy at a time, the index of 25M facts (100,000 patients)
# outgrows shared_buffers and each copy's keys land on random pages. An index a foreign key
# depends on (``fhir_resources``' key) stays.
BULK_INDEXES = """
    SELECT c.relname, x.relname, pg_get_indexdef(i.indexrelid), k.conname,
      pg_get_constraintdef(k.oid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class x ON x.oid = i.indexrelid
      LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.contype IN ('p', 'u')
    WHERE c.relname IN ('fhir_resources', 'resource_facts', 'resource_fact_bodies')
      AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f'
                      AND f.conindid = i.indexrelid)"""
# The queued steps, as the in-process night counts them (``enqueued``): the portal copy that
# goes with a send whose words are withheld from its channel, and a check-in's first question
# (sent a second after its invitation, one step with it), are rows, not queued steps.
QUEUED_STEPS = (
    "SELECT count(*) FROM outreach_outbox"
    f" WHERE idempotency_key NOT LIKE '%{COPY_SUFFIX}'"
    f" AND idempotency_key NOT LIKE '%{FIRST_QUESTION_SUFFIX}'"
)
NIGHT_OUTPUTS = (
    "outreach_attempts",
    "outreach_outbox",
    "outreach_enrollments",
    "personalize_decisions",
    "events",
)


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _patients(url: str) -> int:
    try:
        with psycopg.connect(_plain(url)) as conn:
            row = conn.execute("SELECT count(*) FROM patients").fetchone()
    except psycopg.Error:
        return -1
    return int(row[0]) if row else 0


def _recreate(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def build(url: str, patients: int, *, full_records: bool = False) -> None:
    """A fresh population of ``patients`` (a multiple of 100) in the database at ``url``;
    copies keep only the whole resources the night reads unless ``full_records``."""
    began = time.perf_counter()
    if not any(SYNTHEA.glob("*.json")):  # else it would time a night of nobody
        raise SystemExit(
            f"nightly: no Synthea bundles in {SYNTHEA} (../shared/data beside the repo)"
        )
    _recreate(url)
    rt = open_runtime(database=url, run_migrations=True)
    try:
        summary = import_paths(
            rt.sessions,
            engine=rt.engine,
            paths=[SYNTHEA],
            clock=rt.clock,
            principal=CLI_OPERATOR,
            default_timezone="America/New_York",
        )
        _say(f"imported {len(summary.patients)} patients in {summary.seconds:.0f} s")
        with rt.transaction() as session:
            sync_library(session, library=load_library(None), clock=rt.clock)
    finally:
        rt.close()
    with psycopg.connect(_plain(url)) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")  # keep the import order
        for statement in BASE_ROWS:
            conn.execute(statement, {"full": full_records, "types": list(NIGHT_RECORD_TYPES)})
        if not full_records:
            conn.execute("SET session_replication_role = replica")  # facts without resources
        indexes = conn.execute(BULK_INDEXES).fetchall()
        for table, index, _, constraint, _ in indexes:
            conn.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.Identifier(table), sql.Identifier(constraint)
                )
                if constraint
                else sql.SQL("DROP INDEX {}").format(sql.Identifier(index))
            )
        for statement in REPLICATE:
            for k in range(1, patients // BASE):
                conn.execute(statement, {"k": k})
        copied = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for table, _, definition, constraint, constraint_definition in indexes:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    sql.Identifier(table),
                    sql.Identifier(constraint),
                    sql.SQL(constraint_definition),
                )
                if constraint
                else sql.SQL(definition)
            )
        conn.commit()
        _say(
            f"copies {copied - began:.0f} s, {len(indexes)} indexes "
            f"{time.perf_counter() - copied:.0f} s (since the start)"
        )
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    _say(f"population of {_patients(url)} built in {time.perf_counter() - began:.0f} s")


def clear_night(url: str) -> None:
    with psycopg.connect(_plain(url)) as conn:
        conn.execute(f"TRUNCATE {', '.join(NIGHT_OUTPUTS)} RESTART IDENTITY")


def timed_night(
    rt: Runtime, *, url: str, workers: int, now: datetime, slice_size: int
) -> tuple[float, dict]:  # type: ignore[type-arg]
    pool = worker_pool(workers)
    try:
        list(pool.map(warm_worker, [url] * workers))
        server = _server_cpu(url)
        main = resource.getrusage(resource.RUSAGE_SELF)
        began = time.perf_counter()
        report = run_nightly(
            rt, database=url, now=now, workers=workers, pool=pool, slice_size=slice_size
        )
        seconds = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_SELF)
        served = _server_cpu(url)  # before the workers' connections close with the pool
    finally:
        pool.shutdown()
    opening = after.ru_utime + after.ru_stime - main.ru_utime - main.ru_stime
    backends = sum(cpu - server.get(pid, 0.0) for pid, cpu in served.items())
    _say(
        f"main process (opening tick) CPU {opening:.1f} s, server CPU {backends:.1f} s "
        "(the database's backends open at the end)"
    )
    return seconds, report.as_dict()


def _server_cpu(url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to this database (same machine)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with psycopg.connect(_plain(url)) as conn:
        pids = [
            int(row[0])
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    cpu: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return cpu


def queued_night(
    rt: Runtime, *, url: str, workers: int, now: datetime, slice_size: int
) -> tuple[float, dict]:  # type: ignore[type-arg]
    from careloop.compose.queue import defer_night, night_status

    with psycopg.connect(_plain(url)) as conn:
        conn.execute(
            "TRUNCATE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs"
        )
    cli = Path(sys.executable).parent / "careloop"
    command = [str(cli), "worker", "--queue", "--once", "--queues", "nightly", "--database", url]
    began = time.perf_counter()
    defer_night(rt, now=now, slice_size=slice_size, workers=workers)
    procs = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - began
    if any(codes) or set(night_status(rt, now=now)) != {"succeeded"}:
        raise SystemExit(f"queued night failed: exit codes {codes}, {night_status(rt, now=now)}")
    with psycopg.connect(_plain(url)) as conn:

        def count(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row else 0

        report = {
            "patients": count("SELECT count(*) FROM patients"),
            "gaps": count("SELECT count(*) FROM events WHERE kind = 'eligible'"),
            "decided": count("SELECT count(*) FROM personalize_decisions"),
            "enqueued": count(QUEUED_STEPS),
            "slices": count(
                "SELECT count(*) FROM procrastinate_jobs "
                "WHERE task_name = 'careloop:careloop.nightly_slice'"
            ),
        }
    return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/careloop_bench_scale"
    )
    parser.add_argument("--now", default="2026-12-01T15:00:00+00:00", help="the night's time")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if the size fits")
    parser.add_argument(
        "--full-records",
        action="store_true",
        help="copy every stored resource, not only those the night reads (~0.66 GB/1,000)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line (the default)")
    parser.add_argument(
        "--queue", action="store_true", help="run the night as tasks of the distributed queue"
    )
    parser.add_argument("--slice-size", type=int, default=SLICE_SIZE, help="patients per slice")
    args = parser.parse_args()
    if args.patients % BASE or args.patients < BASE:
        parser.error(f"--patients must be a multiple of {BASE}")
    if args.rebuild or _patients(args.database) != args.patients:
        build(args.database, args.patients, full_records=args.full_records)
    clear_night(args.database)
    rt = open_runtime(database=args.database, run_migrations=False)
    try:
        night = queued_night if args.queue else timed_night
        seconds, report = night(
            rt,
            url=args.database,
            workers=args.workers,
            now=datetime.fromisoformat(args.now),
            slice_size=args.slice_size,
        )
    finally:
        rt.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = children.ru_utime + children.ru_stime
    _say(
        f"workers {args.workers}, slices {report['slices']}, load {os.getloadavg()}, "
        f"worker CPU {cpu:.1f} s (warm-up included): "
        f"{report['patients'] / cpu if cpu else 0:.0f} patients per worker CPU-second, "
        f"largest worker's peak RSS {children.ru_maxrss / 1024:.0f} MB"
    )
    line = {
        "patients": report["patients"],
        "seconds": round(seconds, 2),
        "patients_per_s": round(report["patients"] / seconds, 1),
        "gaps": report["gaps"],
        "decided": report["decided"],
        "enqueued": report["enqueued"],
    }
    sys.stdout.write(orjson.dumps(line).decode() + "\n")


if __name__ == "__main__":
    main()
