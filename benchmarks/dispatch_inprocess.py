"""One dispatch worker in this process, no kill: wall, CPU and SQL per message.

    .venv/bin/python benchmarks/dispatch_inprocess.py --messages 3000 --senders 100 --rate 1000

Seeds a scratch PostgreSQL database as ``benchmarks/dispatch.py`` does (dropped afterwards),
then runs the same worker loop (real Twilio adapter, the recording gateway) in this process,
counting the statements SQLAlchemy sends (``before_cursor_execute``) and the commits.
Prints one JSON line: ``msgs_per_s``, ``cpu_ms_per_msg`` (``time.process_time``),
``statements_per_msg``, ``commits_per_msg``. Run it with ``PYTHONPATH=<other src>`` to
compare two builds with the same script.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from dispatch import ADMIN, _seed, read_records, run_worker  # a sibling script


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--lease", type=float, default=3.0)
    args = parser.parse_args()
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    name = f"careloop_bench_inproc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    counts = {"statements": 0, "commits": 0}

    def _statement(*_args: object) -> None:
        counts["statements"] += 1

    def _commit(*_args: object) -> None:
        counts["commits"] += 1

    try:
        _seed(url, messages=args.messages, senders=args.senders, patients=args.messages)
        with tempfile.TemporaryDirectory(prefix="careloop_bench_inproc_") as folder:
            worker = argparse.Namespace(
                database=url,
                sends=folder,
                id="w1",
                senders=args.senders,
                rate=args.rate,
                batch=args.batch,
                lease=args.lease,
                in_doubt="reconcile",
                record_every=1,
                concurrency=args.concurrency,
                results_per_commit=0,
                pace_margin=None,
                late_tolerance_ms=None,
            )
            event.listen(Engine, "before_cursor_execute", _statement)
            event.listen(Engine, "commit", _commit)
            wall, cpu = time.monotonic(), time.process_time()
            run_worker(worker)
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
            event.remove(Engine, "before_cursor_execute", _statement)
            event.remove(Engine, "commit", _commit)
            calls = len(read_records(Path(folder)))
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    n = args.messages
    line = {
        "messages": n,
        "gateway_calls": calls,
        "wall_s": round(wall, 2),
        "msgs_per_s": round(n / wall, 1),
        "cpu_ms_per_msg": round(cpu * 1000 / n, 3),
        "statements_per_msg": round(counts["statements"] / n, 4),
        "commits_per_msg": round(counts["commits"] / n, 4),
    }
    sys.stdout.write(orjson.dumps(line).decode() + "\n")


if __name__ == "__main__":
    main()
