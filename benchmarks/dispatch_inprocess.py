"""One dispatch worker in this process, no kill: wall, CPU and SQL per message.

    .venv/bin/python benchmarks/dispatch_inprocess.py --messages 3000 --senders 100 --rate 1000

Seeds a scratch PostgreSQL database as ``benchmarks/dispatch.py`` does (dropped afterwards),
then runs the same worker loop (real Twilio adapter, the recording gateway) in this process,
counting the statements SQLAlchemy sends (``before_cursor_execute``) and the commits.
Prints one JSON line: ``msgs_per_s``, ``cpu_ms_per_msg`` (``time.process_time``),
``statements_per_msg``, ``commits_per_msg``. Run it with ``PYTHONPATH=<other src>`` to
compare two builds with the same script.

``--profile`` adds where a message's CPU goes (``time.process_time`` around the worker's
steps, nested figures included in their callers'): ``claims``, ``group_commits`` (results,
``calling`` marks, budget, fresh slots), ``rechecks`` (consent and quiet hours at dispatch),
``sends`` (the Twilio package, ``requests`` and the gateway) and, of it, ``gateway`` (the
recording gateway's own); and ``server_cpu_ms_per_msg``, the CPU of the run's PostgreSQL
backends (``/proc/<pid>/stat``, polled every 0.1 s: a lower bound, the server on this host).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from dispatch import (  # a sibling script
    ADMIN,
    RecordingTwilioGateway,
    _seed,
    read_records,
    run_worker,
)

_TICK = os.sysconf("SC_CLK_TCK")


class Phases:
    """CPU seconds per step of the worker's loop, by wrapping the functions it calls."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attribute: str, phase: str) -> None:
        original = getattr(owner, attribute)
        self.cpu.setdefault(phase, 0.0)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.cpu[phase] += time.process_time() - began

        setattr(owner, attribute, timed)
        self._undo.append(lambda: setattr(owner, attribute, original))

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


def _wrap_worker(phases: Phases) -> None:
    from careloop.outreach import chunk_send
    from careloop.outreach import worker as worker_module

    phases.wrap(worker_module, "claim_due", "claims")
    phases.wrap(worker_module.Worker, "record", "group_commits")
    phases.wrap(chunk_send, "refused_now", "rechecks")  # a chunk's last check before its sends
    phases.wrap(chunk_send, "quiet_now", "rechecks")
    phases.wrap(worker_module.Worker, "_call", "sends")
    phases.wrap(RecordingTwilioGateway, "send", "gateway")


@contextmanager
def server_cpu(database: str) -> Iterator[dict[int, float]]:
    """The CPU seconds of ``database``'s backends, by pid, as last polled."""
    seen: dict[int, float] = {}
    stop = threading.Event()

    def poll() -> None:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            while not stop.is_set():
                pids = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
                ).fetchall()
                for (pid,) in pids:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    seen[pid] = (int(fields[11]) + int(fields[12])) / _TICK
                stop.wait(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        yield seen
    finally:
        stop.set()
        poller.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--results-per-commit", type=int, default=0, help="0: the default.")
    parser.add_argument("--prefix", default="careloop_bench_inproc", help="Database name prefix.")
    parser.add_argument("--profile", action="store_true", help="CPU per step and the server's.")
    args = parser.parse_args()
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    name = f"{args.prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    counts = {"statements": 0, "commits": 0}
    phases = Phases()
    backends: dict[int, float] = {}

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
                results_per_commit=args.results_per_commit,
                pace_margin=None,
                late_tolerance_ms=None,
                list_latency_ms=0.0,
            )
            event.listen(Engine, "before_cursor_execute", _statement)
            event.listen(Engine, "commit", _commit)
            if args.profile:
                _wrap_worker(phases)
            with server_cpu(name) if args.profile else _nothing() as backends:
                wall, cpu = time.monotonic(), time.process_time()
                run_worker(worker)
                wall, cpu = time.monotonic() - wall, time.process_time() - cpu
            phases.undo()
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
    if args.profile:
        line["phases_cpu_ms_per_msg"] = {k: round(v * 1000 / n, 3) for k, v in phases.cpu.items()}
        line["server_cpu_ms_per_msg"] = round(sum(backends.values()) * 1000 / n, 3)
    sys.stdout.write(orjson.dumps(line).decode() + "\n")


@contextmanager
def _nothing() -> Iterator[dict[int, float]]:
    yield {}


if __name__ == "__main__":
    main()
