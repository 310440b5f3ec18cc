"""A batch process settled for the collector still frees everything it should: the collector
stays on for cycles made later, garbage from before is not frozen, and what was frozen while
alive is freed by reference counting once dropped."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from careloop import collector
from careloop.collector import BATCH_GEN0_THRESHOLD, settle_batch_process


class _Node:
    """An object in a reference cycle: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


class _Leaf:
    """No cycle: reference counting alone frees it."""


def _give_everything_back() -> None:
    """This test process is not a batch process: an earlier in-process command (``careloop
    import`` or ``worker`` run by another test) may have settled it; all holds are ended."""
    collector._settled = False
    while collector.holds():
        collector.release()


@pytest.fixture
def settled() -> Iterator[None]:
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    _give_everything_back()
    gc.enable()
    try:
        yield
    finally:
        _give_everything_back()
        gc.set_threshold(*threshold)
        if not enabled:
            gc.disable()


def test_the_collector_stays_on_and_frees_later_cycles(settled: None) -> None:
    settle_batch_process()
    later = weakref.ref(_Node())
    assert gc.isenabled()
    assert gc.get_threshold()[0] >= BATCH_GEN0_THRESHOLD
    gc.collect()
    assert later() is None


def test_garbage_from_before_is_collected_not_frozen(settled: None) -> None:
    before = weakref.ref(_Node())
    settle_batch_process()
    assert before() is None


def test_objects_alive_at_the_freeze_are_freed_when_dropped(settled: None) -> None:
    kept: list[object] = [_Leaf(), {"nested": [_Leaf()]}]
    leaf = weakref.ref(kept[0])
    settle_batch_process()
    assert gc.get_freeze_count() > 0
    assert leaf() is not None
    del kept
    assert leaf() is None


def test_one_holders_release_does_not_unfreeze_another_holders_objects(settled: None) -> None:
    """An import and a nightly slice in one process (or a settled worker's lifelong hold):
    only the last release gives the frozen objects back to the collector."""
    collector.hold()
    collector.hold()
    collector.release()
    assert gc.get_freeze_count() > 0
    collector.release()
    assert gc.get_freeze_count() == 0
    collector.release()  # one too many: ignored, nothing below zero
    collector.hold()
    assert collector.holds() == 1


def test_a_settled_process_frees_the_cycles_a_later_hold_froze(settled: None) -> None:
    """A nightly slice's facts held and released in a settled worker: a cycle that was
    garbage when the slice froze its facts is freed by the release after which what the
    holds froze since the last full pass is more than a quarter of what that pass left."""
    settle_batch_process()
    cycle = weakref.ref(_Node())
    collector.hold()
    kept = [[] for _ in range(gc.get_freeze_count() // collector.FULL_PASS_GROWTH + 1)]
    collector.refreeze()
    collector.release()
    assert cycle() is None
    assert collector.holds() == 1  # the lifelong hold stays
    assert kept


def test_a_small_holds_release_walks_the_process_no_more(settled: None) -> None:
    """A slice that leaves little frozen ends without a full pass (each walks the whole
    process); its garbage cycle waits for the pass a later, larger release brings."""
    settle_batch_process()
    cycle = weakref.ref(_Node())
    passes: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            passes.append(1)

    gc.callbacks.append(count)
    try:
        collector.hold()
        collector.release()
    finally:
        gc.callbacks.remove(count)
    assert passes == []
    assert cycle() is not None
    collector.hold()
    kept = [[] for _ in range(gc.get_freeze_count() // collector.FULL_PASS_GROWTH + 1)]
    collector.refreeze()
    collector.release()
    assert cycle() is None
    assert kept


def test_a_release_after_the_process_grew_in_memory_walks_it(
    settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few objects frozen, but the process grew (a frozen cycle can hold a slice's texts,
    which the collector does not count): the release runs the full pass."""
    settle_batch_process()
    cycle = weakref.ref(_Node())
    grown = collector._resident_bytes() + collector.FULL_PASS_MEMORY + 1
    monkeypatch.setattr(collector, "_resident_bytes", lambda: grown)
    collector.hold()
    collector.release()
    assert cycle() is None
