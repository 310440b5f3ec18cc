"""Import throughput: the 100 Synthea patients into PostgreSQL and into SQLite.

Prints one JSON line per database with resources/second and peak memory (main process and
parser processes). Each run imports into a freshly created database. The PostgreSQL line
also carries the limit it is compared with, measured in the same run on the same database:
a bare parse (orjson) + ``COPY`` of the same files into a plain table of (type, id, JSONB),
no validation, no index columns, no identity (``bare_resources_per_s``), and ``ratio`` =
import / bare.

On a shared, loaded machine wall time mostly measures the neighbours, so both lines also
carry the CPU seconds spent (this process, its parser processes, and the PostgreSQL backends
of the benchmark database, read from /proc when the server is local, less what they had
spent before the import: the migrations): ``cpu_s``,
``bare_cpu_s`` and ``cpu_ratio`` = bare CPU / import CPU per resource (1.0 = the import
costs no more than parse + COPY).

    .venv/bin/python benchmarks/import_synthea.py [--data ../shared/data/synthea-r4/patients]
        [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--workers 2] [--repeat 1]
        [--db-prefix careloop_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import psycopg
from psycopg.types.json import Jsonb

from careloop.records.importer import import_paths
from careloop.runtime import open_runtime
from careloop.security.principal import CLI_OPERATOR

ROOT = Path(__file__).resolve().parents[1]


def _peak_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _cpu_split() -> tuple[float, float]:
    """CPU seconds of this process and of its finished children (the parsers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _own_cpu() -> float:
    return sum(_cpu_split())


def backend_cpu(url: str) -> float | None:
    """CPU seconds of the server processes connected to ``url``'s database (None if the
    server is not on this machine)."""
    with psycopg.connect(url) as conn:
        pids = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def bare_copy(url: str, data: Path) -> tuple[int, float, float | None]:
    """Parse every file and COPY its resources into a plain table: the floor of any import.
    Returns (resources, seconds, CPU seconds of client and server)."""
    began = time.perf_counter()
    cpu = _own_cpu()
    count = 0
    server: float | None = None
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(
            # No key: shared resources (Organization, Practitioner) recur across files.
            "CREATE TABLE bare_resources (resource_type text, fhir_id text, resource jsonb)"
        )
        with conn.cursor() as cursor:
            for path in sorted(data.glob("*.json")):
                bundle = orjson.loads(path.read_bytes())
                with cursor.copy("COPY bare_resources FROM STDIN") as copy:
                    for entry in bundle.get("entry", ()):
                        res = entry["resource"]
                        copy.write_row((res["resourceType"], res["id"], Jsonb(res, dumps=_dumps)))
                        count += 1
                conn.commit()
        seconds = time.perf_counter() - began
        server = backend_cpu(url)
    return count, seconds, None if server is None else server + _own_cpu() - cpu


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def run(url: str, data: Path, workers: int) -> dict[str, object]:
    rt = open_runtime(database=url)
    main_before, parsers_before = _cpu_split()
    server: float | None = None
    # The pooled connection that ran the migrations (0.2-0.6 s of server CPU) is not the import's.
    server_before = backend_cpu(url) if url.startswith("postgresql") else None
    try:
        summary = import_paths(
            rt.sessions,
            engine=rt.engine,
            paths=[data],
            clock=rt.clock,
            principal=CLI_OPERATOR,
            default_timezone="America/New_York",
            workers=workers,
        )
        if url.startswith("postgresql"):
            server = backend_cpu(url)
            if server is not None and server_before is not None:
                server -= server_before
    finally:
        rt.close()
    main_after, parsers_after = _cpu_split()
    main, parsers = main_after - main_before, parsers_after - parsers_before
    total = sum(summary.resources.values())
    own, children = _peak_mib()
    return {
        "database": url.split(":", 1)[0],
        "resources": total,
        "patients": len(summary.patients),
        "rejected": len(summary.rejected),
        "seconds": round(summary.seconds, 2),
        "resources_per_s": round(total / summary.seconds, 1),
        "peak_rss_mib_main": round(own, 1),
        "peak_rss_mib_parsers": round(children, 1),
        "workers": workers,
        "cpu_s": None if server is None else round(main + parsers + server, 2),
        "cpu_s_main_parsers_server": [
            round(main, 2),
            round(parsers, 2),
            server and round(server, 2),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared/data/synthea-r4/patients"
    )
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", choices=["postgresql", "sqlite"], default=None)
    parser.add_argument(
        "--db-prefix", default="careloop_bench", help="name prefix of the database created"
    )
    args = parser.parse_args()
    for _ in range(args.repeat):
        if args.only in (None, "postgresql"):
            name = f"{args.db_prefix}_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                url = args.pg.rsplit("/", 1)[0] + f"/{name}"
                line = run(url, args.data, args.workers)
                bare, seconds, bare_cpu = bare_copy(url, args.data)
                line["bare_resources_per_s"] = round(bare / seconds, 1)
                line["ratio"] = round(float(line["resources_per_s"]) / (bare / seconds), 3)  # type: ignore[arg-type]
                line["bare_cpu_s"] = None if bare_cpu is None else round(bare_cpu, 2)
                if bare_cpu and line["cpu_s"]:
                    line["cpu_ratio"] = round(bare_cpu / float(line["cpu_s"]), 3)  # type: ignore[arg-type]
                print(json.dumps(line), flush=True)
            finally:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if args.only in (None, "sqlite"):
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/bench.db"
                print(json.dumps(run(url, args.data, args.workers)), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
