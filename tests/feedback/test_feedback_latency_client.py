"""The load generator of ``benchmarks/feedback_latency.py`` keeps its queue to itself.

Issue 18, item 4: at ``--rate 200`` the "API stall" (974 client ``PoolTimeout``s, the API
idle) was the client: ~1,000 requests queued inside httpcore's pool, whose every enqueue
and release scans the whole queue, so the benchmark spent its CPU there and stopped
sending. The sender now lets at most ``connections`` requests into the client at once.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

import httpx

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "feedback_latency.py"


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("feedback_latency_bench", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _CountingServer:
    """Answers 201 after yielding, remembering the most requests it held at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.paths: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.paths.append(request.url.path)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        return httpx.Response(201)


def test_a_burst_larger_than_the_connections_is_all_sent_a_few_at_a_time() -> None:
    bench = _benchmark()
    server = _CountingServer()
    events = [
        (i, {"at": 0.0, "kind": "bp" if i % 2 else "diary", "patient": "p1", "alerting": False})
        for i in range(300)
    ]
    sent_at: dict[int, float] = {}
    acks: list[float] = []
    errors: list[str] = []

    async def run() -> None:
        transport = httpx.MockTransport(server)
        async with httpx.AsyncClient(base_url="http://api", transport=transport) as client:
            await bench.send_events(
                client,
                events,
                tokens=["t"],
                t0=0.0,
                sent_at=sent_at,
                acks=acks,
                errors=errors,
                connections=8,
            )

    asyncio.run(run())

    assert errors == []
    assert len(acks) == len(sent_at) == 300
    assert server.most == 8
    assert server.paths.count("/fhir/QuestionnaireResponse") == 150
