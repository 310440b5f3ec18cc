"""Round trips and CPU per reading: the per-reading intake against the set-wise batch.

    .venv/bin/python benchmarks/intake_round_trips.py --readings 400 --batch 10

On a fresh PostgreSQL database (127.0.0.1:5432, dropped afterwards): ``--patients``
patients as ``feedback_latency.py`` builds them, then the same readings (blood pressure
and glucose, one in ten a crisis) taken in transactions of ``--batch``: first each through
``careteam.intake.receive_observation`` in a savepoint (what a group-commit batch did),
then through ``careteam.intake_many.receive_observations``. Prints one JSON line per way:
SQL statements per reading (COPY included), CPU ms per reading (this process: Python and
driver, not PostgreSQL's), wall ms per reading. Round trips do not depend on the machine's
load; CPU less so than wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).parent))
import feedback_latency as bench

from careloop.careteam import intake, intake_many
from careloop.clock import SystemClock
from careloop.runtime import open_runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role

NURSE = Principal(actor="user:bench", role=Role.CLINICIAN, source="api")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=400)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--patients", type=int, default=100)
    args = parser.parse_args()
    name = f"careloop_bench_{uuid.uuid4().hex[:8]}"
    url = f"{bench.ADMIN.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(bench.ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        tmp = Path("/tmp") / name
        tmp.mkdir(parents=True, exist_ok=True)
        patients, _ = bench.setup(url, args.patients, tmp, tokens=1)
        rt = open_runtime(database=url, clock=SystemClock())
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(rt.engine, "before_cursor_execute", count)

        def body(i: int) -> dict[str, Any]:
            kind = "bp" if i % 2 else "glucose"
            return bench.payload(
                {"kind": kind, "patient": patients[i % len(patients)], "alerting": i % 10 == 0}
            )

        for way in ("per-reading", "set-wise"):
            statements[0], copies = 0, 0
            readings = [body(i) for i in range(args.readings)]
            cpu, wall = time.process_time(), time.perf_counter()
            for start in range(0, len(readings), args.batch):
                chunk = readings[start : start + args.batch]
                with rt.transaction() as session:
                    if way == "per-reading":
                        for reading in chunk:
                            with session.begin_nested():
                                intake.receive_observation(
                                    session, reading, clock=rt.clock, principal=NURSE, source="fhir"
                                )
                        copies += 3 * len(chunk)
                    else:
                        intake_many.receive_observations(
                            session,
                            [intake_many.Submitted(r, NURSE, "fhir") for r in chunk],
                            clock=rt.clock,
                        )
                        copies += 3
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            n = len(readings)
            line = {
                "way": way,
                "readings": n,
                "batch": args.batch,
                "statements_per_reading": round((statements[0] + copies) / n, 2),
                "cpu_ms_per_reading": round(cpu * 1000 / n, 2),
                "wall_ms_per_reading": round(wall * 1000 / n, 2),
            }
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
        rt.close()
    finally:
        with psycopg.connect(bench.ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
