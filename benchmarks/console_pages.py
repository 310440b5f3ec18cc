"""Console pages at population scale: server time per page on a PostgreSQL database of N patients.

    .venv/bin/python benchmarks/console_pages.py --patients 10000 [--requests 20]

Builds (or reuses) two databases on 127.0.0.1:5432: a base one where ``careloop demo`` ran
(31 patients with everything the console shows: Synthea histories, worklist alerts and tasks,
enrollments, decisions, outbox messages and replies, bookings, offers, rides, audit rows), and
the population (``<base>_<N>``), a copy of the base whose patient rows are replicated in SQL
under new ids (``<id>-r<k>``, integer ids shifted by ``k * STRIDE``), all copies in one
statement per table. Clinical history (FHIR resources, codes, facts) is copied for one copy in
``--clinical-every`` (default 10; 1.5 GB for 10,000 patients, 10 GB for 100,000 with 50);
every patient keeps its Patient resource. Building 100,000 patients through the import path
would take hours here; this took 26 minutes at load 28. Drop the databases when done.

Then each console page a nurse or coordinator opens is requested ``--requests`` times in
process (FastAPI's TestClient, bearer tokens of the demo roles, after two warm-up requests)
and one JSON line per page is printed: ``{"page", "path", "patients", "median_ms", "p95_ms",
"status", "bytes", "cpu_ms", "statements"}`` (``cpu_ms``: this process's CPU per request,
median, which the machine's load changes less than the wall time; ``statements``: SQL sent by
one request). The machine's load goes to stderr. Where the code has the programs page's
rollup job, it is run first (the page reads it) and timed on a line of its own (``"path":
"job:programs-rollup"``, status 0); ``--stored-rollup`` reads the one already stored instead
(to alternate builds without recomputing it: 170 s at 100,000 patients).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from careloop.runtime import Runtime, open_runtime
from careloop.security.auth import create_user, issue_token
from careloop.web.app import create_app

ADMIN = os.environ.get("CARELOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SERVER = ADMIN.rsplit("/", 1)[0]
STRIDE = 100_000
"""Integer ids of copy ``k`` are the base ids plus ``k * STRIDE`` (base ids stay below it)."""
TABLES = (
    "patients",
    "patient_identifiers",
    "caregivers",
    "consent_records",
    "preference_profiles",
    "outreach_contact_budget",
    "outreach_enrollments",
    "personalize_decisions",
    "outreach_outbox",
    "outreach_attempts",
    "outreach_inbound",
    "events",
    "audit_events",
    "worklist_items",
    "plan_adjustments",
    "checkin_conversations",
    "medication_slots",
    "dose_confirmations",
    "prep_journeys",
    "form_requests",
    "access_bookings",
    "access_offers",
    "access_rides",
    "access_waitlist",
    "reward_entries",
)
CLINICAL = ("fhir_resources", "resource_facts", "resource_fact_bodies")
SUFFIXED = {
    "id",
    "patient_id",
    "fhir_id",
    "patient_ref",
    "booking_id",
    "offer_id",
    "appointment_id",
    "decision_id",
    "caregiver_id",
    "idempotency_key",
    "provider_id",
    "external_id",
    "active_slot",
    "open_key",
    "subject_id",
    "response_id",
    "value",
    "hash",
    "prev_hash",
    "fhir_consent_id",
    "source_key",
}
"""Text columns naming a replicated row or unique per row: ``<value>-r<k>`` in copy ``k``."""
SHIFTED = {"id", "message_id", "enrollment_id", "outbox_id", "item_id", "task_item_id"}
"""Integer columns naming a replicated row (``dose_confirmations.slot_id`` too)."""
JSON_IDS = {"resource", "fact"}


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def _count(url: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM patients").fetchone()
    except psycopg.Error:
        return -1
    return int(row[0]) if row else 0


def _columns(conn: psycopg.Connection, table: str) -> list[tuple[str, str, int | None]]:
    return [
        (str(name), str(kind), width)
        for name, kind, width in conn.execute(
            "SELECT column_name, data_type, character_maximum_length "
            "FROM information_schema.columns "
            # A generated column (the worklist's severity rank) is the database's to write.
            "WHERE table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
            (table,),
        )
    ]


def _expression(table: str, column: str, kind: str, width: int | None) -> str:
    quoted = f'"{column}"'
    if kind in ("character varying", "text") and column in SUFFIXED:
        # A value filling its column (a UUID in VARCHAR(36)) gives way to the suffix.
        kept = f"left({quoted}, {width} - length('-r' || k))" if width else quoted
        return f"{kept} || '-r' || k"
    shifted = column in SHIFTED or (table == "dose_confirmations" and column == "slot_id")
    if kind in ("integer", "bigint") and shifted:
        return f"{quoted} + k * {STRIDE}"
    if kind == "jsonb" and column in JSON_IDS:
        return f"jsonb_set({quoted}, '{{id}}', to_jsonb(fhir_id || '-r' || k))"
    return quoted


def replicate_statement(
    conn: psycopg.Connection, table: str, *, copies: int, clinical_every: int
) -> str:
    """One INSERT … SELECT writing ``copies`` copies of the table's base rows."""
    columns = _columns(conn, table)
    names = ", ".join(f'"{c}"' for c, _, _ in columns)
    values = ", ".join(_expression(table, *column) for column in columns)
    where = ["patient_id IS NOT NULL"] if any(c == "patient_id" for c, _, _ in columns) else []
    if table == "patients":
        where = []
    if table in CLINICAL:
        keep = f"k % {clinical_every} = 0"
        where.append(f"(resource_type = 'Patient' OR {keep})" if table == CLINICAL[0] else keep)
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    return (
        f'INSERT INTO "{table}" ({names}) SELECT {values} '
        f'FROM "{table}", generate_series(1, {copies}) AS k {condition}'
    )


def build(base: str, url: str, *, patients: int, clinical_every: int) -> None:
    """The population: a copy of the demo database with its patients replicated."""
    began = time.perf_counter()
    base_name, name = base.rsplit("/", 1)[-1], url.rsplit("/", 1)[-1]
    if _count(base) <= 0:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{base_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{base_name}"')
        cli = Path(sys.executable).parent / "careloop"
        subprocess.run(
            [str(cli), "demo", "--database", base, "--json"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        _say(f"demo database built in {time.perf_counter() - began:.0f} s")
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base_name}"')
    in_base = _count(base)
    copies = max(patients // in_base - 1, 0)
    with psycopg.connect(url) as conn:
        for table in (*TABLES, *CLINICAL):
            statement = replicate_statement(
                conn, table, copies=copies, clinical_every=clinical_every
            )
            conn.execute(statement)  # type: ignore[arg-type]
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE column_default LIKE 'nextval%%' AND table_schema = 'public'"
        ).fetchall():
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f'coalesce((SELECT max("{column}") FROM "{table}"), 0) + 1)'  # type: ignore[arg-type]
            )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    _say(f"population of {_count(url)} built in {time.perf_counter() - began:.0f} s")


@contextmanager
def clients(rt: Runtime) -> Iterator[dict[str, TestClient]]:
    """One signed-in client per staff role the pages need."""
    app = create_app(rt)
    made: dict[str, TestClient] = {}
    with rt.transaction() as session:
        for role in ("clinician", "coordinator", "admin"):
            user = create_user(
                session,
                clock=rt.clock,
                username=f"bench-{role}-{time.time_ns()}",
                password=None,
                role=role,
                teams=["rpm-nursing", "care-coordination"],
            )
            client = TestClient(app, raise_server_exceptions=False)
            token = issue_token(session, clock=rt.clock, user=user).token
            client.headers["Authorization"] = f"Bearer {token}"
            made[role] = client
    yield made


def pages(url: str, *, clinical_every: int) -> list[tuple[str, str, str]]:
    """(page, path, role): every GET page of the console's navigation and the patient view,
    for a patient with a Synthea history and one from the pilot (messages, check-ins)."""
    with psycopg.connect(url) as conn:
        count = _count(url)
        history = conn.execute(
            "SELECT patient_id FROM fhir_resources WHERE patient_id NOT LIKE '%%-r%%' "
            "GROUP BY patient_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        pilot = conn.execute(
            "SELECT patient_id FROM outreach_outbox WHERE patient_id NOT LIKE '%%-r%%' "
            "GROUP BY patient_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    copies = max(count // 31, 1)
    k = (copies // 2 // clinical_every) * clinical_every
    suffix = f"-r{k}" if k else ""
    found: list[tuple[str, str, str]] = [
        ("worklist", "/console/worklist", "clinician"),
        ("worklist filtered", "/console/worklist?severity=urgent", "clinician"),
        # A nurse of one team reads her team's cards, and the next page of them.
        ("worklist, one team", "/console/worklist?team=oncology-nursing", "clinician"),
        (
            "worklist, one team, page 2",
            "/console/worklist?team=oncology-nursing&page=1",
            "clinician",
        ),
        ("call queue", "/console/call-queue", "clinician"),
        ("call queue, page 2", "/console/call-queue?page=1", "clinician"),
        ("patients", "/console/patients", "clinician"),
        ("patients, last page", f"/console/patients?page={max(count // 50 - 1, 0)}", "clinician"),
    ]
    if history:
        found.append(("patient (history)", f"/console/patients/{history[0]}{suffix}", "clinician"))
    if pilot:
        found.append(("patient (pilot)", f"/console/patients/{pilot[0]}{suffix}", "clinician"))
    found += [
        ("programs", "/console/programs", "coordinator"),
        ("appointments", "/console/appointments", "coordinator"),
        ("content", "/console/content", "coordinator"),
        ("jobs", "/console/jobs", "admin"),
        ("fhir deliveries", "/console/fhir-deliveries", "admin"),
    ]
    return found


def time_page(
    client: TestClient, path: str, *, requests: int, warmup: int = 2, engine: Engine | None = None
) -> dict[str, object]:
    """Wall time per request (median, p95), and what a loaded machine blurs less: the
    process's CPU per request (median) and the statements one request sends."""
    status, size = 0, 0
    for _ in range(warmup):
        client.get(path)
    times, cpu, sent = [], [], 0
    for _ in range(requests):
        with _statements(engine) as seen:
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        status, size, sent = response.status_code, len(response.content), len(seen)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95, 1),
        "status": status,
        "bytes": size,
        "cpu_ms": round(statistics.median(cpu), 1),
        "statements": sent,
    }


@contextmanager
def _statements(engine: Engine | None) -> Iterator[list[str]]:
    """The statements sent to ``engine`` inside the block (none counted without one)."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    if engine is not None:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        if engine is not None:
            event.remove(engine, "before_cursor_execute", count)


def _programs_rollup(rt: Runtime, patients: int) -> None:
    """Run the job the programs page reads (where the code has it: not before issue 18's
    rollup) and print its time as a line of its own, ``path`` naming the job."""
    try:
        from careloop.insights.rollup import write_programs_rollup
    except ImportError:
        return
    began = time.perf_counter()
    with rt.transaction() as session:
        write_programs_rollup(session, now=rt.clock.now())
    ms = round((time.perf_counter() - began) * 1000, 1)
    line = {"page": "programs rollup (job)", "path": "job:programs-rollup", "patients": patients}
    figures = {"median_ms": ms, "p95_ms": ms, "status": 0, "bytes": 0}
    sys.stdout.write(orjson.dumps({**line, **figures}).decode() + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests first")
    parser.add_argument("--clinical-every", type=int, default=10)
    parser.add_argument("--base", default=f"{SERVER}/careloop_bench_console")
    parser.add_argument("--database", help="the population (default <base>_<patients>)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if the size fits")
    parser.add_argument("--only", action="append", help="time only pages with these names")
    parser.add_argument(
        "--stored-rollup",
        action="store_true",
        help="time the programs page on the rollup already stored (do not run the job first)",
    )
    args = parser.parse_args()
    url = args.database or f"{args.base}_{args.patients}"
    have = _count(url)
    if args.rebuild or have < 0 or abs(have - args.patients) > 31:
        build(args.base, url, patients=args.patients, clinical_every=args.clinical_every)
    rt = open_runtime(database=url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with clients(rt) as by_role:
            patients = _count(url)
            if not args.stored_rollup and (not args.only or "programs" in args.only):
                _programs_rollup(rt, patients)
            for page, path, role in pages(url, clinical_every=args.clinical_every):
                if args.only and page not in args.only:
                    continue
                figures = time_page(
                    by_role[role],
                    path,
                    requests=args.requests,
                    warmup=args.warmup,
                    engine=rt.engine,
                )
                line = {"page": page, "path": path, "patients": patients, **figures}
                sys.stdout.write(orjson.dumps(line).decode() + "\n")
                sys.stdout.flush()
    finally:
        rt.close()
    _say(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
