"""Codes and timing parsed once per fact, shared by every program's record of a patient.

A slice of the nightly cycle evaluates eight programs on one decoding of each patient's facts
(``records.projection.SharedFacts``); each program's ``PatientRecord`` then reuses the code
pairs and timing intervals the earlier programs computed from the same dicts. The verdicts
must be exactly those of records that compute everything afresh.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import SHARED_DATA

from careloop.programs.definition import load_programs
from careloop.programs.eligibility import evaluate_record
from careloop.programs.measures.record import PatientRecord
from careloop.programs.windows import resolve_window
from careloop.records.importer import import_paths
from careloop.records.projection import (
    SharedFacts,
    load_patient_facts,
    share_facts,
    shared_derived,
)
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

SYNTHEA = SHARED_DATA / "synthea-r4" / "patients"


def test_programs_sharing_derived_values_give_the_verdicts_of_fresh_records(
    rt: Runtime,
) -> None:
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[SYNTHEA],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )
    assert summary.rejected == []
    programs = [
        p for p in load_programs().values() if p.load_codes is not None and p.package is None
    ]
    codes = frozenset().union(*(p.load_codes or () for p in programs))
    always = frozenset().union(*(p.always_types for p in programs))
    now = datetime(2020, 11, 1, tzinfo=UTC)
    shared_verdicts, fresh_verdicts, eligible, seen = [], [], 0, set()
    with rt.transaction() as session:
        share_facts(session, SharedFacts(codes=codes, always=always))
        for program in programs:
            window = resolve_window(program.definition.period, now=now)
            loaded = load_patient_facts(
                session, only_codes=program.load_codes or (), always_types=program.always_types
            )
            for pid, resources in loaded:
                derived = shared_derived(session, pid)
                assert derived is not None  # the facts came from the shared rows
                shared = evaluate_record(program, PatientRecord(resources, derived=derived), window)
                fresh = evaluate_record(program, PatientRecord(list(resources)), window)
                shared_verdicts.append(shared)
                fresh_verdicts.append(fresh)
                eligible += shared.eligible
                seen.add(pid)
        reused = sum(len(shared_derived(session, pid) or {}) for pid in seen)
    assert shared_verdicts == fresh_verdicts
    assert len(shared_verdicts) == 100 * len(programs)
    assert eligible > 0  # some care gaps found, not only "not in population"
    assert reused > 0  # values were actually shared between the programs


def test_a_derived_value_is_never_reused_for_another_dict_with_the_same_id() -> None:
    first = {"resourceType": "Observation", "code": {"coding": [{"system": "s", "code": "a"}]}}
    second = {"resourceType": "Observation", "code": {"coding": [{"system": "s", "code": "b"}]}}
    # As if ``first`` had died and ``second`` had been given its address.
    stale = {(id(second), "codes:code"): (first, (("s", "a"),))}
    record = PatientRecord([{"resourceType": "Patient", "id": "p"}, second], derived=stale)
    assert record.retrieve("Observation", frozenset({("s", "b")})) == [second]
    assert record.retrieve("Observation", frozenset({("s", "a")})) == []
