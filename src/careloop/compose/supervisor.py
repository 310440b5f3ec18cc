"""One process that imports and builds once, then forks its worker processes and keeps them up.

``careloop worker --processes N`` runs :func:`supervise`. A worker process started from scratch
spends 0.75-1.0 s of CPU (seconds of wall on a loaded host) on imports, settings and mappers
before its first claim (docs/benchmarks.md, dsp); a forked child inherits all of it and is
claiming within milliseconds, so a dead worker's replacement is at work at once.

A child's lifecycle::

    forked ──(returns 0, ``once``)──────────────────────────> done
      │
      └─(killed, crashed, or returned while not stopping)──> re-forked at once, same slot
                                                           (unless a crash loop: below)

- SIGTERM or SIGINT to the supervisor is forwarded to every child as SIGTERM; each finishes
  what it holds (its group recorded, its lock released) and exits; the supervisor then
  returns. A signal arriving during a fork reaches the new child too (signals are blocked
  while a child is forked and registered).
- More than ``max_deaths`` deaths within ``window_s`` is a crash loop: the others are told to
  stop and :attr:`SupervisorReport.crash_loop` is set (the CLI exits non-zero), rather than
  forking a failing process forever.
- A child's work is the caller's ``child(slot, stop)``; an exception in it is logged by class
  name only (a message may carry patient data) and the child exits 1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import NoReturn

log = logging.getLogger("careloop.supervisor")

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

Child = Callable[[int, Callable[[], bool]], int]
"""A child's work: its slot (0..N-1) and a ``stop()`` that turns true on SIGTERM/SIGINT; returns
its exit code. Runs in the forked process."""


@dataclass
class SupervisorReport:
    """What the supervisor did over its life."""

    processes: int
    forked: int = 0
    replaced: int = 0
    crash_loop: bool = False
    deaths: list[str] = field(default_factory=list)
    """Each unexpected exit, as ``"slot 1: signal SIGKILL"`` (never the child's output)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "processes": self.processes,
            "forked": self.forked,
            "replaced": self.replaced,
            "crash_loop": self.crash_loop,
            "deaths": list(self.deaths),
        }


@dataclass
class _State:
    children: dict[int, int] = field(default_factory=dict)
    """pid -> slot of every live child."""
    stopping: bool = False


def supervise(
    child: Child,
    *,
    processes: int,
    once: bool = False,
    max_deaths: int = 5,
    window_s: float = 60.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> SupervisorReport:
    """Fork ``processes`` children running ``child`` and re-fork each that dies until told to
    stop (or, with ``once``, until every child has returned 0). Call it from the main thread
    with no other thread running (``fork`` copies only the calling thread)."""
    if processes < 1:
        raise ValueError("processes must be at least 1")
    state = _State()
    report = SupervisorReport(processes=processes)
    supervisor = os.getpid()

    def tell_children(signum: int, _frame: FrameType | None) -> None:
        if os.getpid() != supervisor:  # pragma: no cover - a child replaces it before unblocking
            return
        state.stopping = True
        _signal_all(state.children)

    previous = {s: signal.signal(s, tell_children) for s in STOP_SIGNALS}
    deaths: deque[float] = deque()
    try:
        for slot in range(processes):
            _fork(child, slot, state, report)
        while state.children:
            pid, status = os.wait()
            if pid not in state.children:
                continue
            slot = state.children.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            if state.stopping or (once and code == 0):
                continue
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            report.deaths.append(f"slot {slot}: {how}")
            now = monotonic()
            deaths.append(now)
            while deaths and now - deaths[0] > window_s:
                deaths.popleft()
            if len(deaths) > max_deaths:
                log.error(
                    "worker processes died %d times within %.0f s: a crash loop; stopping",
                    len(deaths),
                    window_s,
                )
                report.crash_loop = True
                state.stopping = True
                _signal_all(state.children)
                continue
            replaced = _fork(child, slot, state, report)
            if replaced is None:  # a stop signal came after the reap: nothing to re-fork
                continue
            report.replaced += 1
            log.warning(
                "worker process %d (slot %d) ended by %s; re-forked as %d", pid, slot, how, replaced
            )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return report


def _signal_all(children: dict[int, int]) -> None:
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):  # exited, not yet waited for
            os.kill(pid, signal.SIGTERM)


def _fork(child: Child, slot: int, state: _State, report: SupervisorReport) -> int | None:
    """Fork one child for ``slot``; a stop signal arriving meanwhile waits until the child
    is registered, so it is forwarded to it as well. ``None`` (no fork) once stopping: a
    signal handled before the block was forwarded only to the children alive then."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered is written twice, once by each process
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        if state.stopping:
            return None
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:
            _run_child(child, slot, supervisor)
        state.children[pid] = slot
        report.forked += 1
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return pid


def _run_child(child: Child, slot: int, supervisor: int) -> NoReturn:
    """The child's side: its own stop flag, then its work; never returns into the caller's
    stack (``os._exit``: the supervisor's ``finally`` blocks and exit hooks are not its own).
    A child whose supervisor is gone (SIGKILLed: nothing forwarded) stops as if told to: no
    worker runs on unsupervised, unseen by the service manager. ``supervisor`` is the pid read
    before the fork: read after it, a supervisor killed in between would leave init's pid."""
    code = 1
    try:
        stop = {"now": False}

        def stopping(_signum: int, _frame: FrameType | None) -> None:
            stop["now"] = True

        for signum in STOP_SIGNALS:
            signal.signal(signum, stopping)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        code = child(slot, lambda: stop["now"] or os.getppid() != supervisor)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        log.error(
            "worker process %d (slot %d) failed: %s", os.getpid(), slot, exc.__class__.__name__
        )
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)


__all__ = ["Child", "SupervisorReport", "supervise"]
