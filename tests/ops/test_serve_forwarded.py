"""``careloop serve`` believes forwarding headers from ``web.trusted_proxies`` only.

uvicorn on its own trusts ``X-Forwarded-For`` from 127.0.0.1 (``FORWARDED_ALLOW_IPS``); the
app now reads the header itself, so with no trusted proxy configured a local peer cannot pick
a fresh address per request and escape the sign-in limit. A mistyped network stops every
command with one line naming the variable.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    return {**env, "FORWARDED_ALLOW_IPS": "127.0.0.1", **extra}


def test_a_local_peer_cannot_escape_the_sign_in_limit_by_forging_its_address(
    careloop_cli: Path, tmp_path: Path
) -> None:
    port = _free_port()
    env = _env(
        CARELOOP_WEB__PORT=str(port),
        CARELOOP_DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}",
        CARELOOP_SECURITY__SIGNIN_PER_MINUTE="1",  # a second attempt within the minute: 429
    )
    proc = subprocess.Popen(
        [str(careloop_cli), "serve", "--no-worker"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}/api/auth/token"
    body = {"username": "nobody", "password": "guess"}
    try:
        for _ in range(600):  # up to a minute for start-up on a loaded machine
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=httpx.Timeout(30, connect=2))
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        answers = [
            httpx.post(url, json=body, headers={"X-Forwarded-For": f"198.51.100.{n}"}, timeout=60)
            for n in range(3)
        ]
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert [a.status_code for a in answers] == [401, 429, 429]


def test_a_mistyped_trusted_proxy_stops_serve_in_one_line(
    careloop_cli: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(careloop_cli), "serve", "--no-worker"],
        capture_output=True,
        text=True,
        env=_env(
            CARELOOP_WEB__TRUSTED_PROXIES='["10.0.0.5/8"]',  # host bits set: 10.0.0.0/8 meant?
            CARELOOP_DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}",
        ),
        cwd=tmp_path,
        timeout=120,
    )

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: invalid setting web.trusted_proxies.0 (CARELOOP_WEB__TRUSTED_PROXIES): "
        "value is not a valid IPv4 or IPv6 network"
    )
