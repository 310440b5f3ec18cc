"""The night's fact read leaves out the facts of the types seldom decoded and fetches one when
it is decoded after all (``records.projection_defer``); a status-only ``exists`` answers from
the status column (``programs.measures.retrieve``). Neither may change a verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from careloop.programs.definition import load_programs
from careloop.programs.measures.criteria import Context, Library, compile_retrieve
from careloop.programs.measures.retrieve import CompiledRetrieve
from careloop.programs.service import evaluate_program
from careloop.programs.windows import resolve_window
from careloop.records import projection_defer
from careloop.records.fact_columns import FactRow
from careloop.records.projection import SharedFacts, share_facts
from careloop.records.projection_defer import DeferredFactRow, FactTally, seeding
from careloop.runtime import Runtime
from tests.records.test_shared_facts import _import_two

NOW = datetime(2020, 11, 1, tzinfo=UTC)
LIB = Library(name="test", valuesets={}, codes={}, definitions={}, python={})


def _verdicts(rt: Runtime, *, defer: bool) -> tuple[list[Any], list[FactRow]]:
    programs = [p for p in load_programs().values() if p.load_codes is not None]
    codes = set().union(*(p.load_codes or () for p in programs))
    always = set().union(*(p.always_types for p in programs))
    verdicts: list[Any] = []
    with rt.sessions() as session:
        shared = SharedFacts(codes=codes, always=always, defer=defer)
        share_facts(session, shared)
        for program in programs:
            window = resolve_window(program.definition.period, now=NOW)
            for v in evaluate_program(session, program=program, window=window, now=NOW):
                verdicts.append((program.name, v.patient_id, v.eligible, v.reason, v.care_gap))
        rows = [row for kept in shared._rows.values() for row in kept]
        session.rollback()
    return verdicts, rows


def test_facts_left_out_of_the_read_give_the_same_verdicts(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _import_two(rt, tmp_path)
    shipped, _ = _verdicts(rt, defer=False)
    # Every type this night reads deferred: each fact decoded is then fetched on its own.
    tally = projection_defer.TALLY
    types = ("Patient", "Encounter", "Observation", "Condition", "Procedure", "Immunization")
    monkeypatch.setattr(tally, "seeded", True)
    monkeypatch.setattr(tally, "read", dict.fromkeys(types, 1000))
    monkeypatch.setattr(tally, "decoded", {})
    deferred, rows = _verdicts(rt, defer=True)
    assert deferred == shipped
    assert any(v[2] for v in shipped)
    if rt.engine.dialect.name == "postgresql":
        assert all(isinstance(row, DeferredFactRow) for row in rows if row.rtype in types)
        assert tally.decoded.get("Patient", 0) >= 2  # decoded, so fetched, and counted
    else:  # SQLite reads every fact with its row
        assert not any(isinstance(row, DeferredFactRow) for row in rows)


def test_a_seeded_tally_defers_only_the_types_seldom_decoded() -> None:
    tally = FactTally()
    with seeding(tally):
        assert tally.deferred() == []  # while seeding every fact is shipped
        for _ in range(100):
            tally.count_read("Encounter")
            tally.count_read("Immunization")
        for _ in range(10):
            tally.count_read("AllergyIntolerance")  # too few rows to judge
        for _ in range(4):
            tally.count_decoded("Encounter")
        for _ in range(80):
            tally.count_decoded("Immunization")
    assert tally.deferred() == ["Encounter"]
    for _ in range(10):
        tally.count_decoded("Encounter")  # decoded after all: shipped again
    assert tally.deferred() == []


class _Record:
    def __init__(self, rows: list[FactRow]) -> None:
        self.rows = rows

    def candidate_rows(self, rtype: str, codes: Any) -> list[FactRow]:
        return [row for row in self.rows if row.rtype == rtype]


def _encounter(status: str, *, timed: bool = True, broken: bool = True) -> FactRow:
    # ``broken``: its JSON cannot be decoded, so an answer given from it would raise.
    text = b"not json" if broken else orjson.dumps({"resourceType": "Encounter", "status": status})
    return FactRow("Encounter", frozenset(), None, text, status, 0.0, 1.0, timed)


def _exists(retrieve: Any, rows: list[FactRow]) -> bool:
    assert isinstance(retrieve, CompiledRetrieve)
    ctx = Context(record=_Record(rows), start=NOW, end=NOW)  # type: ignore[arg-type]
    return retrieve.any(ctx)


def test_a_status_only_exists_answers_from_the_status_column_without_decoding() -> None:
    performed = compile_retrieve({"resource": "Encounter", "filter": "encounter_performed"}, LIB)
    assert _exists(performed, [_encounter("cancelled", broken=False), _encounter("finished")])
    assert not _exists(performed, [_encounter("cancelled", broken=False)])
    # A row whose columns were not computed is decided on its fact.
    assert _exists(performed, [_encounter("finished", timed=False, broken=False)])
    assert not _exists(performed, [_encounter("cancelled", timed=False, broken=False)])
    # A status filter alone is exact; beside another filter (a category), or on a type whose
    # status column may be a clinical status, the fact is read.
    assert _exact({"resource": "Encounter", "status": ["finished"]})
    assert not _exact({"resource": "Observation", "filter": "assessment_performed"})
    assert not _exact({"resource": "Condition", "status": ["active"]})


def _exact(spec: dict[str, Any]) -> bool:
    retrieve = compile_retrieve(spec, LIB)
    assert isinstance(retrieve, CompiledRetrieve)
    return retrieve.exact
