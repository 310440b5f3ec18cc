"""CPU per ``POST /fhir/Observation`` / ``QuestionnaireResponse`` in the API process.

    .venv/bin/python benchmarks/intake_cpu.py --requests 2000 --concurrency 32

On a fresh PostgreSQL database (127.0.0.1:5432, dropped afterwards): ``--patients``
patients and 32 clinician tokens as ``feedback_latency.py`` builds them, then the app
(``careloop.web.app.create_app``) driven directly through ASGI in this process, with
``--concurrency`` requests in flight (so the intake batcher groups them as under load), a
mix of readings and diary check-ins as ``feedback_latency.py`` sends them (one in ten
trips a rule). No socket and no HTTP client: the CPU counted is the app's (routing,
authentication, validation, intake, audit, encoding, the batcher thread) and the
driver's few lines. Prints one JSON line: CPU ms per request (this process: Python and
driver, not PostgreSQL's), wall ms per request, SQL statements per request, the answers'
status codes, load average. For where the time goes, run it under ``py-spy record --gil``
(cProfile sees only the event loop's thread, not the batcher's). Run another build's code
with ``PYTHONPATH=<its src>``: this script uses only ``create_app``, ``open_runtime`` and
``feedback_latency.setup``/``temporary_database``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).parent))
import feedback_latency as bench

from careloop.clock import SystemClock
from careloop.runtime import open_runtime
from careloop.web.app import create_app


def bodies(patients: list[str], count: int, seed: int = 11) -> list[tuple[str, bytes]]:
    """(path, body) per request: blood pressure, glucose or a diary, one in ten alerting."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        event_ = {
            "patient": rng.choice(patients),
            "kind": rng.choice(["bp", "glucose", "diary"]),
            "alerting": rng.random() < 0.1,
        }
        body = bench.payload(event_)
        out.append((f"/fhir/{body['resourceType']}", orjson.dumps(body)))
    return out


async def call(app: Any, path: str, body: bytes, token: str) -> int:
    """One request through the ASGI interface, as uvicorn hands it over; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/fhir+json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = [0]

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]

    await app(scope, receive, send)
    return status[0]


async def drive(
    app: Any, requests: list[tuple[str, bytes]], tokens: list[str], concurrency: int
) -> Counter[int]:
    statuses: Counter[int] = Counter()
    todo = iter(enumerate(requests))

    async def worker() -> None:
        for index, (path, body) in todo:
            statuses[await call(app, path, body, tokens[index % len(tokens)])] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for option, default in (("--requests", 2000), ("--warmup", 200), ("--concurrency", 32)):
        parser.add_argument(option, type=int, default=default)
    parser.add_argument("--patients", type=int, default=150)
    parser.add_argument("--db-prefix", default="careloop_bench", help="temporary database name")
    args = parser.parse_args()
    os.environ.setdefault("CARELOOP_LOGGING__LEVEL", "WARNING")
    os.environ.setdefault("CARELOOP_DATABASE__POOL_SIZE", "20")  # as feedback_latency.py
    with bench.temporary_database(args.db_prefix) as url:
        tmp = Path("/tmp") / url.rsplit("/", 1)[1]
        tmp.mkdir(parents=True, exist_ok=True)
        patients, tokens = bench.setup(url, args.patients, tmp)
        runtime = open_runtime(database=url, clock=SystemClock())
        app = create_app(runtime)
        asyncio.run(drive(app, bodies(patients, args.warmup, seed=3), tokens, args.concurrency))
        requests = bodies(patients, args.requests)
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(runtime.engine, "before_cursor_execute", count)
        load_before = os.getloadavg()[0]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        statuses = asyncio.run(drive(app, requests, tokens, args.concurrency))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        runtime.close()
        n = args.requests
        result = {
            "requests": n,
            "concurrency": args.concurrency,
            "cpu_ms_per_request": round(cpu * 1000 / n, 3),
            "wall_ms_per_request": round(wall * 1000 / n, 3),
            "statements_per_request": round(statements[0] / n, 2),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "loadavg_before": round(load_before, 2),
            "loadavg_after": round(os.getloadavg()[0], 2),
        }
        sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
