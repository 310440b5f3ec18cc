"""How long a failed sign-in takes, by what was wrong: can time tell usernames apart?

Calls ``security.auth.authenticate_password`` in-process on a fresh SQLite file, ``-n``
times per case, and prints the median and 10th/90th percentiles in milliseconds. Run it on
another tree with ``PYTHONPATH=/path/to/src`` to compare (the signature used is the common
one, without source back-off).

    .venv/bin/python benchmarks/signin_timing.py -n 40
    PYTHONPATH=/work/main/src .venv/bin/python benchmarks/signin_timing.py -n 40
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from careloop.clock import FrozenClock
from careloop.errors import NotAuthenticated
from careloop.runtime import open_runtime
from careloop.security.auth import authenticate_password, create_user

PASSWORD = "correct horse battery staple"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="attempts per case")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
