"""Server memory under one large chunked request sent without signing in.

Starts ``careloop serve`` (a real uvicorn process on a fresh SQLite file), sends one raw
``Transfer-Encoding: chunked`` POST of ``--mib`` MiB to an unauthenticated route, and prints the
answer's status and the server's resident memory before and after (``VmRSS`` and ``VmHWM``
from ``/proc``). The client stops sending as soon as the server answers, as a real attacker's
client would not have to; the figure that matters is what the server kept.

    .venv/bin/python benchmarks/body_limit.py --mib 64
    .venv/bin/python benchmarks/body_limit.py --mib 64 --src /work/main/src   # another tree

Used by ``tests/web/test_body_limit.py`` (``--json``) to prove the limit on a real server.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 64 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _wait_ready(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not start")


def _read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        part = sock.recv(4096)
        if not part:
            break
        data += part
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def send_chunked(port: int, path: str, total: int) -> tuple[int, int]:
    """POST ``total`` bytes in chunks; return (status, bytes sent before the answer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    sent = 0
    chunk = f"{CHUNK:x}\r\n".encode() + b"a" * CHUNK + b"\r\n"
    try:
        sock.sendall(head.encode())
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += CHUNK
        else:
            sock.sendall(b"0\r\n\r\n")
        return _read_status(sock), sent
    finally:
        sock.close()


def measure(*, mib: int, path: str, src: str | None) -> dict[str, object]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{tmp}/bench.db"
        cmd = [sys.executable, "-c", "from careloop.cli import main; main()", "serve"]
        cmd += ["--database", database, "--port", str(port), "--no-worker"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_ready(port, proc, time.monotonic() + 60)
            before = _memory_kib(proc.pid)
            status, sent = send_chunked(port, path, mib * 1024 * 1024)
            time.sleep(0.5)
            after = _memory_kib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "path": path,
        "body_mib": mib,
        "status": status,
        "sent_mib": round(sent / 2**20, 1),
        "rss_before_mib": round(before["VmRSS"] / 1024, 1),
        "rss_after_mib": round(after["VmRSS"] / 1024, 1),
        "rss_growth_mib": round((after["VmRSS"] - before["VmRSS"]) / 1024, 1),
        "peak_growth_mib": round((after["VmHWM"] - before["VmRSS"]) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="body size in MiB")
    parser.add_argument("--path", default="/api/auth/session", help="route to post to")
    parser.add_argument("--src", help="PYTHONPATH of the careloop tree to measure")
    parser.add_argument("--json", action="store_true", help="one JSON line only")
    args = parser.parse_args()
    result = measure(mib=args.mib, path=args.path, src=args.src)
    if args.json:
        print(json.dumps(result))
        return
    for name, value in result.items():
        print(f"{name:>16}: {value}")


if __name__ == "__main__":
    main()
