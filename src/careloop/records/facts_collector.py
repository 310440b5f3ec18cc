"""Decoded facts kept out of the cyclic garbage collector while a session holds them.

Used by :mod:`careloop.records.projection`'s shared facts; the process-wide counting of
holds is :mod:`careloop.collector`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from careloop import collector

_HELD = "careloop.records.facts_held_from_gc"


class SessionFactsCollector:
    """Shared facts kept out of the cyclic garbage collector's passes while a session uses them.

    A slice decodes ~30,000 facts (~400,000 dicts and lists) and holds them to the end of its
    transaction; each full pass of the collector walked them all and freed nothing (JSON trees
    hold no cycles): half of identification's CPU. So the collector is paused while a batch is
    decoded, and the session holds the facts frozen (:mod:`careloop.collector`) until its
    transaction ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, session: Session) -> Iterator[None]:
        # Frozen before the collector is back on: the first object allocated after it is
        # (the context manager's own StopIteration) would otherwise start a young pass over
        # the whole batch just decoded (~0.2 s for 500 patients).
        with collector.paused():
            try:
                yield
            finally:
                with self._lock:
                    if session.info.get(_HELD):
                        collector.refreeze()  # this batch's facts join the ones held
                    else:
                        session.info[_HELD] = True
                        collector.hold()

    def release(self, session: Session) -> None:
        """The session's transaction ended: its facts go back to the collector."""
        if not session.info.get(_HELD):
            return
        with self._lock:
            if session.info.pop(_HELD, False):
                collector.release()
