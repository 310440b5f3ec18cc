"""The nightly slice's batched paths give what the per-patient paths they replace give.

A slice reads each patient's facts once for all its programs (the union of their codes), enrolls
a program's candidates in a few statements, and reads interpreter needs and preference
profiles per batch; each is compared here with the one-at-a-time path on the Synthea sample.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from careloop.compose.nightly import night_facts
from careloop.models import Enrollment, Event
from careloop.outreach import enrollment as lifecycle
from careloop.outreach.config import outreach_settings
from careloop.outreach.eligibility import Candidate
from careloop.outreach.service import load_outreach_programs
from careloop.personalize.service import get_profile, get_profiles, set_stated_preferences
from careloop.programs.service import evaluate_program
from careloop.programs.windows import resolve_window
from careloop.records.interpreter import interpreter_for, interpreter_needs
from careloop.records.projection import share_facts
from careloop.records.service import patient_ids
from careloop.runtime import Runtime
from tests.ops.test_nightly import _population

NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _programs(rt: Runtime) -> list[Any]:
    own, _ = outreach_settings(rt.settings)
    return [p for p in load_outreach_programs(own) if p.source is not None]


def _verdicts(rt: Runtime, *, shared: bool) -> dict[str, list[tuple[Any, ...]]]:
    programs = _programs(rt)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with rt.transaction() as session:
        if shared:
            facts = night_facts(programs)
            assert facts is not None
            share_facts(session, facts)
        ids = patient_ids(session)
        for program in programs:
            source = program.source
            window = resolve_window(source.definition.period, now=NIGHT)
            out[program.name] = sorted(
                (v.patient_id, v.eligible, v.reason, repr(v.care_gap), v.excluded)
                for v in evaluate_program(
                    session, program=source, window=window, now=NIGHT, patient_ids=ids, batch=7
                )
            )
    return out


def test_one_read_of_the_facts_for_all_programs_finds_what_each_programs_own_read_finds(
    rt: Runtime,
) -> None:
    _population(rt)
    alone = _verdicts(rt, shared=False)
    together = _verdicts(rt, shared=True)

    assert together == alone
    assert len(alone) >= 6
    assert sum(v[1] for found in alone.values() for v in found) > 10  # care gaps were found


def _written(
    rt: Runtime, *, batched: bool, rows: bool = False
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    program = _programs(rt)[0]
    with rt.transaction() as session:
        ids = patient_ids(session)
    candidates = [Candidate(patient_id=pid, episode="period:2026", announced=k % 2 == 0)
                  for k, pid in enumerate(ids)]  # fmt: skip
    candidates.append(candidates[3])  # a duplicate candidate is enrolled once
    session = rt.sessions()
    try:
        lifecycle.enroll(  # enrolled before: neither path enrolls this episode again
            session, clock=rt.clock, program=program, patient_id=ids[1], episode="period:2026",
            now=NIGHT,
        )  # fmt: skip
        before = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
        first = session.scalar(select(Enrollment.id).order_by(Enrollment.id.desc()).limit(1)) or 0
        if rows:
            lifecycle.enroll_rows(
                session, clock=rt.clock, program=program, candidates=candidates, now=NIGHT
            )
        elif batched:
            lifecycle.enroll_many(
                session, clock=rt.clock, program=program, candidates=candidates, now=NIGHT
            )
        else:
            for c in candidates:
                lifecycle.enroll(
                    session, clock=rt.clock, program=program, patient_id=c.patient_id,
                    episode=c.episode, now=NIGHT, announced=c.announced,
                )  # fmt: skip
        session.flush()
        enrollments = [
            (e.id - first, e.patient_id, e.program, e.episode, e.arm, e.state, e.step_due_at,
             e.follow_until, e.anchors, e.fields)
            for e in session.scalars(
                select(Enrollment).where(Enrollment.id > first).order_by(Enrollment.id)
            )
        ]  # fmt: skip
        events = [
            (e.kind, e.patient_id, e.subject_type, int(e.subject_id or 0) - first, e.payload)
            for e in session.scalars(select(Event).where(Event.id > before).order_by(Event.id))
        ]
    finally:
        session.rollback()
        session.close()
    return enrollments, events


def test_enrolling_a_batch_writes_what_enrolling_one_by_one_writes(rt: Runtime) -> None:
    _population(rt)
    one_by_one = _written(rt, batched=False)
    batched = _written(rt, batched=True)

    assert batched == one_by_one
    enrollments, events = batched
    assert len(enrollments) == 19  # 20 patients, one enrolled before, one duplicate candidate
    assert {e[5] for e in enrollments} == {"enrolled"}
    assert sorted({e[0] for e in events}) == ["eligible", "enrolled"]


def test_enrolling_a_batch_as_rows_writes_what_enrolling_one_by_one_writes(
    rt: Runtime,
) -> None:
    _population(rt)
    one_by_one = _written(rt, batched=False)
    as_rows = _written(rt, batched=True, rows=True)

    assert as_rows == one_by_one
    assert len(as_rows[0]) == 19


def test_needs_and_profiles_read_per_batch_equal_the_per_patient_reads(rt: Runtime) -> None:
    _population(rt)
    with rt.transaction() as session:
        ids = patient_ids(session)
        set_stated_preferences(
            session, clock=rt.clock, patient_id=ids[2], changes={"language": "es"}, actor="test"
        )
    with rt.transaction() as session:
        needs = interpreter_needs(session, patient_ids=ids)
        profiles = get_profiles(session, patient_ids=[*ids, "nobody"])
        assert needs == {pid: interpreter_for(session, patient_id=pid) for pid in ids}
        assert profiles == {pid: get_profile(session, patient_id=pid) for pid in [*ids, "nobody"]}
        assert profiles[ids[2]].stated.language == "es"


@pytest.mark.parametrize(
    "enroll", [lifecycle.enroll_many, lifecycle.enroll_rows], ids=["objects", "rows"]
)
def test_enrollments_written_in_a_batch_are_updated_like_flushed_ones(
    rt: Runtime, enroll: Any
) -> None:
    _population(rt)
    program = _programs(rt)[0]
    with rt.transaction() as session:
        ids = patient_ids(session)
        created = enroll(
            session, clock=rt.clock, program=program, now=NIGHT,
            candidates=[Candidate(patient_id=pid, episode="period:2026") for pid in ids],
        )  # fmt: skip
        assert [e.patient_id for e in created] == ids
        first = session.get(Enrollment, created[0].id)
        assert first is not None
        assert (first.arm, first.unanswered) == (created[0].arm, 0)
        first.next_step = 3  # a change after the batch is written by the next flush
    with rt.transaction() as session:
        rows = session.execute(
            select(Enrollment.id, Enrollment.next_step, Enrollment.anchors).order_by(Enrollment.id)
        ).all()
    assert [r.id for r in rows] == [e.id for e in created]
    assert [r.next_step for r in rows] == [3] + [0] * (len(ids) - 1)
    assert {repr(r.anchors) for r in rows} == {"{}"}
