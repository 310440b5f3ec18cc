"""The load generator of ``benchmarks/feedback_latency.py`` keeps its queue to itself.

Issue 18, item 4: at ``--rate 200`` the benchmark's client, not the API, set the rate:
httpcore's pool spent ~11 ms of CPU per request checking its 64 connections. The client
is now ``benchmarks/keepalive_client.py``: pre-built requests, at most ``connections``
keep-alive connections, each carrying one request at a time, the rest queued in order.
These tests run it against a real socket server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from types import ModuleType

from tests.scripts import load_benchmark


def _load(name: str) -> ModuleType:
    return load_benchmark(name)


class _CountingServer:
    """Answers each request after yielding, remembering connections, paths and the most
    requests it held at once; every ``close_every``-th reply closes its connection."""

    def __init__(self, *, status: int = 201, close_every: int = 0) -> None:
        self.status, self.close_every = status, close_every
        self.in_flight = self.most = self.connections = self.answered = 0
        self.paths: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            lines = head.decode().split("\r\n")
            fields = dict(line.partition(":")[::2] for line in lines[1:] if line)
            length = int(fields["Content-Length"])
            await reader.readexactly(length)
            self.paths.append(lines[0].split(" ")[1])
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            await asyncio.sleep(0.001)
            self.in_flight -= 1
            self.answered += 1
            close = bool(self.close_every) and self.answered % self.close_every == 0
            body = b'{"ok": true}'
            writer.write(
                f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(body)}\r\n".encode()
                + (b"Connection: close\r\n" if close else b"")
                + b"\r\n"
                + body
            )
            await writer.drain()
            if close:
                break
        writer.close()


def _run(server: _CountingServer, events: list[tuple[int, dict[str, object]]], connections: int):
    bench = _load("feedback_latency")
    sent_at: dict[int, float] = {}
    acks: list[float] = []
    errors: list[str] = []

    async def run() -> None:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        requests = bench.prepare_api(events, host=f"127.0.0.1:{port}", tokens=["t"])
        async with listening:
            await bench.send_prepared(
                requests,
                host="127.0.0.1",
                port=port,
                t0=0.0,
                sent_at=sent_at,
                acks=acks,
                errors=errors,
                connections=connections,
            )

    asyncio.run(run())
    return sent_at, acks, errors


def _burst(count: int) -> list[tuple[int, dict[str, object]]]:
    return [
        (i, {"at": 0.0, "kind": "bp" if i % 2 else "diary", "patient": "p1", "alerting": False})
        for i in range(count)
    ]


def test_a_burst_larger_than_the_connections_is_all_sent_a_few_at_a_time() -> None:
    server = _CountingServer()

    sent_at, acks, errors = _run(server, _burst(300), connections=8)

    assert errors == []
    assert len(acks) == len(sent_at) == 300
    assert server.most == 8
    assert server.connections == 8
    assert server.paths.count("/fhir/QuestionnaireResponse") == 150


def test_a_connection_the_server_closes_is_opened_again() -> None:
    server = _CountingServer(close_every=10)

    _, acks, errors = _run(server, _burst(100), connections=4)

    assert errors == []
    assert len(acks) == 100
    assert server.connections > 4


def test_an_error_status_is_counted_with_its_body() -> None:
    server = _CountingServer(status=422)

    _, _, errors = _run(server, _burst(3), connections=2)

    assert errors == ['422: {"ok": true}'] * 3
