"""Long-lived objects kept out of the cyclic garbage collector's passes, with counted holds.

Each full pass of CPython's collector walks every tracked object alive. A batch process holds
hundreds of thousands that hold no reference cycles (loaded code, decoded JSON facts) and
that no pass can free: measured, the passes were half of the nightly identification's CPU
and up to a third of an import writer's (docs/benchmarks.md, ntB, imp and gcw sections).
``gc.freeze()`` moves every live object out of the passes (reference counting still frees
them); ``gc.unfreeze()`` gives them all back at once, for the whole process. So that one
user's release never undoes another's hold (an import and a nightly slice in one process, or
a batch worker's lifelong hold), holds are counted and only the last release unfreezes.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BATCH_GEN0_THRESHOLD = 50_000

_lock = threading.Lock()
_holds = 0
_settled = False  # this process holds for good (settle_batch_process)
_after_full_pass = (0, 0)  # objects frozen and resident bytes after the last full pass
FULL_PASS_GROWTH = 4
"""A settled process's full pass waits until the objects frozen since the last one are more
than 1/``FULL_PASS_GROWTH`` of what it left (CPython's own rule for its oldest generation)..."""
FULL_PASS_MEMORY = 64 * 2**20
"""... or until the process's resident memory grew by this much since it (a frozen cycle can
hold much that the collector does not count: a slice's texts)."""


def hold() -> None:
    """Freeze what is alive now and keep frozen until the matching :func:`release`
    (calling it again while held also freezes what has come since)."""
    global _holds
    with _lock:
        _holds += 1
        gc.freeze()


def refreeze() -> None:
    """While held, freeze what has come alive since (a later batch of the same holder)."""
    with _lock:
        if _holds > 0:
            gc.freeze()


def release() -> None:
    """End one :func:`hold`; the last one gives every frozen object back to the passes
    (a cycle that was already garbage while frozen is freed then, none is lost)."""
    global _holds
    with _lock:
        if _holds <= 0:
            return
        _holds -= 1
        if _holds == 0:
            gc.unfreeze()
        elif _holds == 1 and _settled and _frozen_enough_since_the_last_pass():
            # Only the lifelong hold is left: what the released holds froze (and any cycle
            # that was garbage then) goes through one full pass, the survivors frozen again.
            _full_pass()


def _frozen_enough_since_the_last_pass() -> bool:
    """Whether the holds released since the last full pass froze enough to pay for one.

    A full pass walks the whole process (a nightly worker's ~180,000 objects: ~0.13 s at
    load 8), while a slice's hold leaves ~1,000-20,000 frozen once its facts are dropped; a
    pass after every slice was 8 % of a worker's CPU (docs/benchmarks.md, ntw). The cycles
    frozen meanwhile are freed by the pass that comes, so the memory they keep is bounded
    by the same share, and by :data:`FULL_PASS_MEMORY` of resident memory."""
    frozen, resident = _after_full_pass
    if gc.get_freeze_count() - frozen > frozen // FULL_PASS_GROWTH:
        return True
    return _resident_bytes() - resident > FULL_PASS_MEMORY


def _resident_bytes() -> int:
    """This process's resident memory (Linux); 0 where it cannot be read (then only the
    count of frozen objects decides)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _full_pass() -> None:
    global _after_full_pass
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _after_full_pass = (gc.get_freeze_count(), _resident_bytes())


def holds() -> int:
    """How many holds are open (for tests and diagnostics)."""
    return _holds


@contextmanager
def paused() -> Iterator[None]:
    """No collector pass while a batch of acyclic objects is built; it stays off if the
    caller had turned it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def settle_batch_process() -> None:
    """Keep a batch process's loaded code and caches out of the collector's passes for good.

    Called once at a batch process's entry point, after its imports and warm-up: nightly
    slice workers, ``careloop worker`` and ``careloop import`` (whose parsers fork from it and
    inherit this); never in web servers. Garbage is collected first so no cycle is frozen;
    the hold is never released, and a larger first generation makes passes rarer. The
    collector stays on, so later cycles are still freed.
    """
    global _settled, _after_full_pass
    gc.collect()
    with _lock:
        if _settled:
            return
        _settled = True
    hold()
    _after_full_pass = (gc.get_freeze_count(), _resident_bytes())
    youngest, older, oldest = gc.get_threshold()
    gc.set_threshold(max(BATCH_GEN0_THRESHOLD, youngest), older, oldest)


def finish_process() -> None:
    """Before a batch process returns from its entry point: everything alive is frozen, so
    the interpreter's own collections at exit walk none of it (a worker's exit after its last
    send took 0.46 s of them at load 7, 0.04 s frozen; docs/benchmarks.md, dsp4). Atexit
    handlers and stream flushing still run; objects are still freed by reference counting."""
    gc.freeze()
