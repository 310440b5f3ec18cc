"""A cheap HTTP/1.1 load generator: a few persistent connections, pre-built requests.

``feedback_latency.py`` used httpx for its API events. httpcore's connection pool checks
every connection (``is_idle``, ``has_expired``, each asking the socket for its peer) on
every request and every release, so with 64 connections the client spent ~11 ms of CPU
per request and could not send faster than ~100 requests/s on a core: the benchmark,
not the API, set the rate, and requests queued in the client. Here each connection is a
coroutine that writes one request's pre-built bytes and reads its reply (status line,
headers, ``Content-Length`` body) before taking the next: a load generator, not a
general client (no chunked replies, no redirects, no TLS).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Prepared:
    """One request, its bytes built before the clock starts."""

    index: int
    at: float  # seconds after t0 at which it is due
    data: bytes


def request_bytes(*, host: str, path: str, token: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class ReplyError(Exception):
    """The server answered something this client does not read."""


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one HTTP/1.1 reply with a ``Content-Length``."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
        elif name == b"transfer-encoding":
            raise ReplyError("chunked replies are not read by this client")
    body = await reader.readexactly(length) if length else b""
    return status, body, keep


async def send_prepared(
    requests: Sequence[Prepared],
    *,
    host: str,
    port: int,
    t0: float,
    sent_at: dict[int, float],
    acks: list[float],
    errors: list[str],
    connections: int,
) -> None:
    """Send each request at ``t0 + at`` over at most ``connections`` keep-alive connections.

    A request due while every connection is busy waits in a FIFO queue; its latency counts
    from when it was due (``sent_at``), queueing included, as a user's would.
    """
    due: asyncio.Queue[Prepared | None] = asyncio.Queue()

    async def schedule() -> None:
        for request in sorted(requests, key=lambda r: r.at):
            delay = t0 + request.at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[request.index] = time.perf_counter()
            due.put_nowait(request)
        for _ in range(connections):
            due.put_nowait(None)

    async def connection() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while (request := await due.get()) is not None:
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(request.data)
                status, body, keep = await read_reply(reader)
                if status >= 300:
                    errors.append(f"{status}: {body[:200].decode(errors='replace')}")
                if not keep:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, ReplyError, ValueError) as exc:
                errors.append(type(exc).__name__)
                if writer is not None:
                    writer.close()
                reader = writer = None
            acks.append(time.perf_counter() - sent_at[request.index])
        if writer is not None:
            writer.close()

    await asyncio.gather(schedule(), *(connection() for _ in range(connections)))
