"""The body limit holds for streamed (chunked) bodies on every route, before authentication.

Issue 21, item 1: one 64 MiB chunked request sent without signing in grew the server by
129 MiB, because the limit only read ``Content-Length``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from careloop.runtime import Runtime
from careloop.settings import WebSettings
from careloop.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
LIMIT = 64 * 1024


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    """An anonymous client of an app whose body limit is 64 KiB."""
    settings = rt.settings.model_copy(update={"web": WebSettings(max_body_bytes=LIMIT)})
    return TestClient(create_app(dataclasses.replace(rt, settings=settings)))


def _chunked(total: int) -> Iterator[bytes]:
    """A body without Content-Length: httpx sends it with ``Transfer-Encoding: chunked``."""
    sent = 0
    while sent < total:
        yield b"a" * 8192
        sent += 8192


def test_every_route_refuses_an_oversized_chunked_body_before_authentication(
    client: TestClient,
) -> None:
    for route in client.app.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods - {"GET", "HEAD"}):
            url = route.path.replace("{", "").replace("}", "")
            response = client.request(method, url, content=_chunked(LIMIT + 8192))
            assert response.status_code == 413, (method, route.path, response.status_code)


def test_a_chunked_body_within_the_limit_reaches_the_route(client: TestClient) -> None:
    body = json.dumps({"username": "nobody", "password": "x" * 20}).encode()
    response = client.post(
        "/api/auth/session",
        content=iter([body[:10], body[10:]]),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 401


def test_an_oversized_declared_length_is_refused(client: TestClient) -> None:
    response = client.post("/api/auth/session", content=b"a" * (LIMIT + 1))
    assert response.status_code == 413


@pytest.mark.slow
def test_a_real_server_keeps_its_memory_under_a_64_mib_chunked_body() -> None:
    """``careloop serve`` in its own process, a raw chunked socket, RSS read from /proc."""
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "body_limit.py"), "--mib", "64", "--json"],
        capture_output=True,
        check=True,
        timeout=300,
    )
    result = json.loads(out.stdout)
    assert result["status"] == 413
    # The old middleware grew the server by ~129 MiB; the limit is 5 MiB.
    assert result["peak_growth_mib"] < 32
    assert result["sent_mib"] < 64
