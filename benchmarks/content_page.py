"""The console's Content page on the demo database: the first view in a fresh process, then
warm views, in server time (FastAPI's TestClient in process) and CPU.

    .venv/bin/careloop demo --database /tmp/demo.db
    .venv/bin/python benchmarks/content_page.py --database /tmp/demo.db [--as-served]

Prints one JSON line: ``{"first_ms", "first_cpu_ms", "first_statements", "warm_ms",
"warm_cpu_ms", "warm_statements", "bytes", "start_cpu_ms", "load"}`` (``start_cpu_ms``: the
warm-up ``--as-served`` adds to the server's start; warm: medians over ``--requests`` views
of the default message and of ``flu_shot_due``, after the first). The first view is what a
nurse opening the page after a restart waits for; each run is its own process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import orjson
from console_pages import clients  # a sibling script
from fastapi.testclient import TestClient
from sqlalchemy import event

from careloop.runtime import Runtime, open_runtime
from careloop.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="the SQLite file `careloop demo` made")
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument(
        "--as-served",
        action="store_true",
        help="warm the lint first, as `careloop serve` does at start (content.lint_cache)",
    )
    args = parser.parse_args()
    rt = open_runtime(settings=Settings(database_url=f"sqlite:///{args.database}"))
    start_cpu = time.process_time()
    if args.as_served:
        from careloop.content.lint_cache import warm_reports

        with rt.transaction() as session:
            warm_reports(session)
    start_cpu = time.process_time() - start_cpu
    with clients(rt) as signed_in:
        print(orjson.dumps(_views(rt, signed_in["admin"], args.requests, start_cpu)).decode())
    rt.close()


def _views(rt: Runtime, client: TestClient, requests: int, start_cpu: float) -> dict[str, float]:
    sent = [0]
    event.listen(rt.engine, "before_cursor_execute", lambda *_: sent.__setitem__(0, sent[0] + 1))

    def view(path: str) -> tuple[float, float, int, int]:
        sent[0] = 0
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        return (
            (time.perf_counter() - wall) * 1000,
            (time.process_time() - cpu) * 1000,
            sent[0],
            len(response.content),
        )

    first = view("/console/content")
    warm = [
        view(path)
        for _ in range(requests)
        for path in ("/console/content", "/console/content?message=flu_shot_due")
    ]
    return {
        "first_ms": round(first[0], 1),
        "first_cpu_ms": round(first[1], 1),
        "first_statements": first[2],
        "warm_ms": round(statistics.median(w[0] for w in warm), 1),
        "warm_cpu_ms": round(statistics.median(w[1] for w in warm), 1),
        "warm_statements": max(w[2] for w in warm),
        "bytes": first[3],
        "start_cpu_ms": round(start_cpu * 1000, 1),
        "load": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
