"""How long a failed sign-in takes, by what was wrong: can time tell usernames apart?

Calls ``security.auth.authenticate_password`` in-process on a fresh SQLite file, ``-n``
times per case, and prints the median and 10th/90th percentiles in milliseconds. Run it on
another tree with ``PYTHONPATH=/path/to/src`` to compare (the signature used is the common
one, without source back-off).

    .venv/bin/python benchmarks/signin_timing.py -n 40
    PYTHONPATH=/work/main/src .venv/bin/python benchmarks/signin_timing.py -n 40

With ``--url`` it attacks a running ``careloop serve`` instead, as the reviewer did:
``POST /api/auth/token`` for an unknown user, a real user's wrong password and the right
one, interleaved, each from its own loopback address (127.0.x.y) so that neither the
rate limit nor the per-address back-off answers in their place, and prints the
unknown / wrong-password ratio of the medians (1.0 = nothing to learn from the time).

    .venv/bin/python benchmarks/signin_timing.py -n 15 --url http://127.0.0.1:8000 \
        --user nina --password-file pw
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from careloop.clock import FrozenClock
from careloop.errors import NotAuthenticated
from careloop.runtime import open_runtime
from careloop.security.auth import authenticate_password, create_user

PASSWORD = "correct horse battery staple"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="attempts per case")
    parser.add_argument("--url", help="a running careloop serve to attack over HTTP")
    parser.add_argument("--user", help="with --url: an existing account")
    parser.add_argument("--password-file", type=Path, help="with --url: its password")
    args = parser.parse_args()
    if args.url:
        password = args.password_file.read_text().strip()
        _over_http(args.url, args.user, password, args.n)
        return
    with tempfile.TemporaryDirectory() as tmp:
        clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
        rt = open_runtime(database=f"sqlite:///{tmp}/timing.db", clock=clock)
        with rt.transaction() as session:
            create_user(session, clock=clock, username="nurse", password=PASSWORD, role="clinician")

        def attempt(username: str, password: str) -> None:
            with rt.transaction() as session, contextlib.suppress(NotAuthenticated):
                authenticate_password(session, clock=clock, username=username, password=password)

        def reset() -> None:
            clock.advance(timedelta(hours=1))  # past any wait or lock-out
            attempt("nurse", PASSWORD)

        def back_off() -> None:
            reset()
            for _ in range(6):
                attempt("nurse", "wrong password")

        cases = {
            "unknown user": (reset, "nobody", PASSWORD),
            "wrong password": (reset, "nurse", "wrong password"),
            "locked/waiting": (back_off, "nurse", PASSWORD),
            "right password": (reset, "nurse", PASSWORD),
        }
        print(f"{'case':<16} {'median ms':>10} {'p10':>8} {'p90':>8}")
        for name, (prepare, username, password) in cases.items():
            times = []
            for _ in range(args.n):
                prepare()
                start = time.perf_counter()
                attempt(username, password)
                times.append((time.perf_counter() - start) * 1000)
            tenths = statistics.quantiles(times, n=10)
            median = statistics.median(times)
            print(f"{name:<16} {median:>10.1f} {tenths[0]:>8.1f} {tenths[-1]:>8.1f}")
        rt.engine.dispose()


def _over_http(url: str, user: str, password: str, n: int) -> None:
    cases = {
        "unknown user": ("no-such-user-" + user, password + "x"),
        "wrong password": (user, password + "x"),
        "right password": (user, password),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for attempt in range(n):
        for offset, (name, (username, secret)) in enumerate(cases.items()):
            number = 3 * attempt + offset
            source = f"127.0.{200 + number // 250}.{number % 250 + 2}"
            transport = httpx.HTTPTransport(local_address=source)
            with httpx.Client(base_url=url, transport=transport, timeout=120) as client:
                start = time.perf_counter()
                response = client.post(
                    "/api/auth/token", json={"username": username, "password": secret}
                )
                times[name].append((time.perf_counter() - start) * 1000)
            if response.status_code not in (200, 401):
                raise SystemExit(f"{name}: unexpected {response.status_code}")
    print(f"{'case':<16} {'median ms':>10} {'p10':>8} {'p90':>8}")
    for name, values in times.items():
        tenths = statistics.quantiles(values, n=10)
        print(f"{name:<16} {statistics.median(values):>10.1f} {tenths[0]:>8.1f} {tenths[-1]:>8.1f}")
    ratio = statistics.median(times["unknown user"]) / statistics.median(times["wrong password"])
    print(f"unknown user / wrong password: {ratio:.2f}")


if __name__ == "__main__":
    main()
