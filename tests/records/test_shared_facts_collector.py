"""Shared facts are kept out of the garbage collector's passes only while their transaction
lasts: garbage made meanwhile is freed once it ends (committed, rolled back or closed), and the
collector is left as the caller had it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from careloop import collector
from careloop.records.extract import SUPPORTED_TYPES
from careloop.records.projection import (
    SKIPPED_TYPES,
    SharedFacts,
    keep_facts,
    load_patient_facts,
    share_facts,
    shared_derived,
)
from careloop.runtime import Runtime
from tests.records.test_shared_facts import _import_two

CODE = "77353-1"
EVERY_TYPE = tuple(sorted(SUPPORTED_TYPES - SKIPPED_TYPES))


def _containers(value: object) -> int:
    """The dicts and lists in a decoded JSON tree (what the collector tracks)."""
    if isinstance(value, dict):
        return 1 + sum(_containers(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_containers(v) for v in value)
    return 0


@pytest.fixture(autouse=True)
def _not_settled() -> None:
    """These tests are about a session's own holds: a process settled by an in-process
    ``careloop import`` run earlier frees frozen garbage only by its bounded full passes
    (``careloop.collector``), so its lifelong hold is ended first."""
    collector._settled = False
    while collector.holds():
        collector.release()


class _Node:
    """An object in a reference cycle: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


def _read_and_leave_a_cycle(session: Session) -> weakref.ref[_Node]:
    cycle = weakref.ref(_Node())  # garbage already when the facts are read
    share_facts(session, SharedFacts(codes={CODE}, always=("Patient",)))
    facts = dict(load_patient_facts(session, only_codes={CODE}))
    assert len(facts) == 2
    assert all(facts.values())
    return cycle


def _commit(rt: Runtime) -> weakref.ref[_Node]:
    with rt.transaction() as session:
        return _read_and_leave_a_cycle(session)


def _roll_back(rt: Runtime) -> weakref.ref[_Node]:
    session = rt.sessions()
    try:
        cycle = _read_and_leave_a_cycle(session)
        session.rollback()
    finally:
        session.close()
    return cycle


def _close(rt: Runtime) -> weakref.ref[_Node]:
    session = rt.sessions()
    cycle = _read_and_leave_a_cycle(session)
    session.close()
    return cycle


@pytest.mark.parametrize("end", [_commit, _roll_back, _close])
def test_garbage_made_during_a_shared_read_is_freed_when_the_transaction_ends(
    rt: Runtime, tmp_path: Path, end: Callable[[Runtime], weakref.ref[_Node]]
) -> None:
    _import_two(rt, tmp_path)
    cycle = end(rt)
    gc.collect()
    assert cycle() is None
    assert gc.isenabled()


def test_garbage_waits_for_the_last_of_two_overlapping_transactions(
    rt: Runtime, tmp_path: Path
) -> None:
    _import_two(rt, tmp_path)
    with rt.transaction() as outer:
        share_facts(outer, SharedFacts(codes={CODE}, always=("Patient",)))
        assert len(dict(load_patient_facts(outer, only_codes={CODE}))) == 2
        inner_cycle = _commit(rt)
        gc.collect()
        assert inner_cycle() is not None  # the outer transaction still holds its facts out
    gc.collect()
    assert inner_cycle() is None


def test_a_collector_turned_off_by_the_caller_stays_off(rt: Runtime, tmp_path: Path) -> None:
    _import_two(rt, tmp_path)
    gc.disable()
    try:
        with rt.transaction() as session:
            share_facts(session, SharedFacts(codes={CODE}, always=("Patient",)))
            assert len(dict(load_patient_facts(session, only_codes={CODE}))) == 2
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_a_sessions_own_facts_are_freed_when_its_transaction_ends(
    rt: Runtime, tmp_path: Path, end: str
) -> None:
    # Freed by reference counting alone (the collector is off), so the collector's pass at
    # the end of the hold, which comes after, never walks them.
    _import_two(rt, tmp_path)
    session = rt.sessions()
    gc.disable()
    try:
        own = SharedFacts(codes={CODE}, always=("Patient",))
        facts = weakref.ref(own)
        share_facts(session, own)
        del own
        assert len(dict(load_patient_facts(session, only_codes={CODE}))) == 2
        assert facts() is not None  # in use while the transaction lasts
        getattr(session, end)()
        assert facts() is None
    finally:
        gc.enable()
        session.close()


def test_facts_kept_for_a_run_outlive_the_transaction(rt: Runtime, tmp_path: Path) -> None:
    _import_two(rt, tmp_path)
    kept = keep_facts()
    with rt.transaction() as session:
        share_facts(session, kept)
        read = dict(load_patient_facts(session, only_codes={CODE}))
        assert len(read) == 2
    with rt.transaction() as session:
        assert shared_derived(session, "x") is None  # a new session shares nothing itself
        share_facts(session, kept)
        assert len(dict(load_patient_facts(session, only_codes={CODE}))) == 2
    assert all(kept.derived(pid) is not None for pid in read)  # the rows read are still kept


def test_a_batch_decoded_is_frozen_before_the_collector_is_back_on(
    rt: Runtime, tmp_path: Path
) -> None:
    # With a pass at every allocation, the first object allocated once the collector is
    # back on would start a pass over the whole batch just decoded, were it not frozen yet.
    _import_two(rt, tmp_path)
    young: list[int] = []

    def count_young(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            young.append(len(gc.get_objects(generation=0)))

    thresholds = gc.get_threshold()
    with rt.transaction() as session:
        share_facts(session, SharedFacts())  # every fact: thousands of dicts and lists
        gc.collect()
        gc.callbacks.append(count_young)
        gc.set_threshold(1, 10**6, 10**6)
        try:
            facts = dict(load_patient_facts(session, only_codes=(), always_types=EVERY_TYPE))
        finally:
            gc.set_threshold(*thresholds)
            gc.callbacks.remove(count_young)
        decoded = sum(_containers(found) for found in facts.values())
    assert decoded > 2000
    assert young  # passes did run around the read
    assert max(young) < decoded / 4
