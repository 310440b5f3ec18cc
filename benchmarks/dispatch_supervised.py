"""``benchmarks/dispatch.py --supervisor``: the workers forked by one supervisor process.

As ``careloop worker --processes N`` runs them (:func:`careloop.compose.supervisor.supervise`):
one process imports, opens the runtime and builds a worker once, then forks ``--workers``
children, each with its own connections (the pool dropped in the child), worker id
(``s<slot>-<pid>``), advisory lock and recording-gateway files. The benchmark SIGKILLs the
first child that alone has sent ``--kill-at`` of the messages; the supervisor's re-fork is the
replacement. With ``once`` the supervisor re-forks only a child that died, and exits when
every child has found nothing left to send.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg


@dataclass
class Run:
    """What the kill-and-replace part of a run left for the report (both shapes)."""

    started: float
    first_pid: int
    killed_worker: str
    killed_at_mono: float
    killed_wall: datetime
    replacement_pid: int
    spawned: dict[int, float]
    exited: dict[int, float]
    stopped: dict[str, Any] | None = None


def run_supervisor(
    args: argparse.Namespace,
    *,
    build: Callable[..., Any],
    drain: Callable[..., None],
    watch: Callable[[], list[tuple[float, str]]],
    cpu_seconds: Callable[[], float],
) -> None:
    """The supervisor process: set up once, then fork ``--processes`` bench workers."""
    from careloop.collector import finish_process, paused, settle_batch_process

    with paused():
        from careloop.compose.supervisor import supervise
        from careloop.runtime import open_runtime

        rt = open_runtime(database=args.database, run_migrations=False)
        warm = Path(args.sends) / "warm-up"  # its gateway files are not the run's
        warm.mkdir()
        build(argparse.Namespace(**{**vars(args), "sends": str(warm)}), rt, worker_id="warm")
        for path in warm.glob("*"):
            path.unlink()
        warm.rmdir()
    rt.engine.dispose()
    settle_batch_process()
    ready_cpu = cpu_seconds()

    def child(slot: int, stop: Callable[[], bool]) -> int:
        forked = time.monotonic()
        rt.engine.dispose(close=False)
        worker = build(args, rt, worker_id=f"s{slot + 1}-{os.getpid()}")
        events = watch()
        phases: dict[str, Any] = {
            "pid": os.getpid(),
            "worker_id": worker.worker_id,
            "forked": forked,
            "ready": time.monotonic(),
            "startup_cpu_s": cpu_seconds(),  # a child's own (its counters start at the fork)
        }
        drain(rt, worker, stop)
        phases |= {"done": time.monotonic(), "cpu_s": cpu_seconds(), "events": events}
        (Path(args.sends) / f"phases-{os.getpid()}.json").write_bytes(orjson.dumps(phases))
        return 0

    report = supervise(child, processes=args.processes, once=True)
    (Path(args.sends) / "supervisor.json").write_bytes(
        orjson.dumps(report.as_dict() | {"pid": os.getpid(), "setup_cpu_s": ready_cpu})
    )
    finish_process()


def run_supervised(
    args: argparse.Namespace, url: str, sends: Path, *, command: Callable[..., list[str]]
) -> Run:
    """Start the supervisor, SIGKILL the first child that alone has sent its share once it
    has, and wait for the supervisor to end (its re-fork takes the killed child's place)."""
    started = time.monotonic()
    supervisor = subprocess.Popen(
        command(args, "supervisor", url, sends, "--processes", str(max(args.workers, 1)))
    )
    children = _children(supervisor.pid, at_least=max(args.workers, 1), timeout=120)
    spawned = dict.fromkeys(children, started)
    victim = _first_to_send(
        sends, children, at_least=int(args.messages * args.kill_at), every=args.messages
    )
    try:
        os.kill(victim, signal.SIGKILL)
    except ProcessLookupError:
        # Every message was called before any child alone reached ``--kill-at`` (many
        # workers) and the busiest had already finished and been reaped: nothing to kill.
        print(f"no worker left to kill: {victim} had already exited", file=sys.stderr)
    killed_at_mono = time.monotonic()
    killed_wall = datetime.now(UTC)
    supervisor.wait()
    exited: dict[int, float] = {}
    phases = {
        int(path.stem.removeprefix("phases-")): orjson.loads(path.read_bytes())
        for path in sends.glob("phases-*.json")
    }
    replacement = next((pid for pid in phases if pid not in children), victim)
    for pid, row in phases.items():
        spawned[pid] = float(row["forked"])
        exited[pid] = float(row["done"])  # a child's exit follows at once (``os._exit``)
    return Run(
        started=started,
        first_pid=victim,
        killed_worker=_worker_of(url, victim),
        killed_at_mono=killed_at_mono,
        killed_wall=killed_wall,
        replacement_pid=replacement,
        spawned=spawned,
        exited=exited,
    )


def _children(pid: int, *, at_least: int, timeout: float) -> list[int]:
    """The supervisor's children once it has forked ``at_least`` of them."""
    deadline = time.monotonic() + timeout
    found: list[int] = []
    while time.monotonic() < deadline:
        try:
            listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            break
        found = [int(p) for p in listed]
        if len(found) >= at_least:
            break
        time.sleep(0.005)
    return found


def _first_to_send(sends: Path, children: list[int], *, at_least: int, every: int) -> int:
    """The first child that alone has made ``at_least`` calls (or, once every message has
    been called, the one that made the most)."""
    deadline = time.monotonic() + 120
    counts: dict[int, int] = {}
    while time.monotonic() < deadline:
        for pid in children:
            path = sends / f"sends-{pid}.jsonl"
            counts[pid] = path.read_bytes().count(b"\n") if path.exists() else 0
        best = max(children, key=lambda p: counts[p])
        if counts[best] >= at_least or sum(counts.values()) >= every:
            return best
        time.sleep(0.02)
    return max(children, key=lambda p: counts.get(p, 0))


def _worker_of(url: str, pid: int) -> str:
    """The killed child's worker id, as its attempts name it."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT worker FROM outreach_attempts WHERE worker LIKE %s LIMIT 1", (f"%-{pid}",)
        ).fetchone()
    return str(row[0]) if row else f"?-{pid}"
