"""A program's record over the shared fact index answers as a record of its own facts does.

A nightly slice indexes each patient's facts once (``measures.shared_record.FactIndex``) and
gives every program a ``ProgramRecord`` that selects the program's facts while it reads. The
per-patient engine builds a ``PatientRecord`` from the program's own filtered list instead.
Differential, on the 100 Synthea patients and the shared eCQM test cases, SQLite and
PostgreSQL: for every shipped program, every type, every code pair found and every
reference, both records give the same resources in the same order, and the same verdicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.orm import Session
from tests.conftest import SHARED_DATA
from tests.programs.test_projection_differential import (
    CASES,
    FOLDERS,
    _import,
    _without_identifiers,
)

from careloop.programs.definition import Program, load_programs
from careloop.programs.eligibility import evaluate_record
from careloop.programs.measures.record import PatientRecord, codings
from careloop.programs.measures.shared_record import FactIndex, ProgramRecord, fact_index
from careloop.programs.windows import resolve_window
from careloop.records.fact_columns import FactRow
from careloop.records.projection import (
    SharedFacts,
    load_patient_facts,
    share_facts,
    shared_derived,
    shared_fact_rows,
)
from careloop.records.service import patient_ids
from careloop.runtime import Runtime

SYNTHEA = SHARED_DATA / "synthea-r4" / "patients"
NOW = datetime(2020, 11, 1, tzinfo=UTC)


def _programs() -> list[Program]:
    return [p for p in load_programs().values() if p.load_codes is not None and p.package is None]


def _answers(record: PatientRecord, index: FactIndex) -> dict[str, Any]:
    """Everything a criterion can ask a record, as ids of the facts answered, in order."""
    types = [*index.by_type, "ObservationNotDone", "NoSuchType"]
    keys = ("code", "type", "vaccineCode", "medicationCodeableConcept")
    pairs = {  # every code pair of each type's facts, at any of the code paths
        rtype: sorted({p for row in entries for k in keys for p in codings(row.fact.get(k))})
        for rtype, entries in index.by_type.items()
    }
    every = frozenset(p for found in pairs.values() for p in found)
    facts = [row.fact for rows in index.by_type.values() for row in rows]
    ids = sorted({str(fact["id"]) for fact in facts if "id" in fact})
    return {
        "patient": id(record.patient),
        "birth_date": record.birth_date,
        "of_type": {t: [id(r) for r in record.of_type(t)] for t in types},
        "retrieve": {
            (t, pair): [id(r) for r in record.retrieve(t, frozenset({pair}))]
            for t, found in pairs.items()
            for pair in found
        },
        "retrieve_all": {t: [id(r) for r in record.retrieve(t, every)] for t in types},
        "by_reference": {ref: id(record.by_reference(ref)) for ref in ids},
        "candidates": {
            (t, pair): _candidates(record, t, frozenset({pair}))
            for t, found in pairs.items()
            for pair in found
        },
        "candidates_all": {t: _candidates(record, t, every) for t in types},
        "candidates_whole": {t: _candidates(record, t, frozenset()) for t in types},
    }


def _candidates(record: PatientRecord, rtype: str, codes: frozenset[Any]) -> list[int]:
    """The facts of the rows a compiled retrieve starts from (``candidate_rows``); a record
    of resources has no rows, and its retrieve (or whole type, without codes) answers."""
    rows = record.candidate_rows(rtype, codes)
    if rows is None:
        return [id(r) for r in (record.retrieve(rtype, codes) if codes else record.of_type(rtype))]
    return [id(row.fact) for row in rows]


def shared_records(
    session: Session, program: Program, ids: list[str]
) -> Iterator[tuple[str, FactIndex, ProgramRecord]]:
    """Each patient's record for ``program`` as a night slice builds it, on the facts the
    session shares (``share_facts``), with the patient's shared index."""
    rows = shared_fact_rows(
        session,
        patient_ids=ids,
        only_codes=program.load_codes,
        always_types=program.always_types,
    )
    assert rows is not None
    for pid, facts in rows:
        derived = shared_derived(session, pid)
        assert derived is not None
        index = fact_index(facts, derived)
        record = ProgramRecord(
            index,
            always=frozenset(program.always_types),
            codes=frozenset(program.load_codes or ()),
            derived=derived,
        )
        yield pid, index, record


def _compare(rt: Runtime, *, now: datetime = NOW) -> tuple[int, int]:
    """Records and verdicts compared, and facts a program's filter left out (so it mattered)."""
    programs = _programs()
    codes = frozenset().union(*(p.load_codes or () for p in programs))
    always = frozenset().union(*(p.always_types for p in programs))
    compared = left_out = 0
    with rt.transaction() as session:
        share_facts(session, SharedFacts(codes=codes, always=always))
        ids = patient_ids(session)
        for program in programs:
            window = resolve_window(program.definition.period, now=now)
            own = dict(
                load_patient_facts(
                    session,
                    patient_ids=ids,
                    only_codes=program.load_codes or (),
                    always_types=program.always_types,
                )
            )
            for pid, index, shared in shared_records(session, program, ids):
                alone = PatientRecord(own[pid])
                left_out += len(index.rows) - len(own[pid])
                assert _answers(shared, index) == _answers(alone, index), (program.name, pid)
                if alone.patient:
                    assert evaluate_record(program, shared, window) == evaluate_record(
                        program, alone, window
                    )
                compared += 1
    return compared, left_out


def test_program_records_over_one_index_answer_as_their_own_records_on_synthea(
    rt: Runtime,
) -> None:
    _import(rt, SYNTHEA)
    compared, left_out = _compare(rt)
    assert compared == 100 * len(_programs())
    assert left_out > 0  # the programs' filters left facts out: the selection was tested


@pytest.mark.parametrize("folder", FOLDERS)
def test_program_records_over_one_index_answer_as_their_own_records_on_ecqm_cases(
    rt: Runtime, tmp_path: Path, folder: str
) -> None:
    _without_identifiers(CASES / folder, tmp_path)
    _import(rt, tmp_path)
    compared, _ = _compare(rt)
    assert compared > 0


def test_a_program_record_needs_its_patient_selected() -> None:
    patient = {"resourceType": "Patient", "id": "p"}
    index = FactIndex([FactRow("Patient", frozenset(), "", orjson.dumps(patient))])
    with pytest.raises(ValueError, match="patient"):
        ProgramRecord(index, always=frozenset(), codes=frozenset({"x"}), derived={})
