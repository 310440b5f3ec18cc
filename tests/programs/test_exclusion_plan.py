"""A program's record-level exclusions are looked up once per window, and a process that
evaluates a program over many windows (a server, months of nights) keeps a bounded few."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from careloop.programs.definition import load_programs
from careloop.programs.eligibility import _PLANS, evaluate_record
from careloop.programs.measures.record import PatientRecord
from careloop.programs.windows import resolve_window


def _record(*, deceased: bool) -> PatientRecord:
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1950-02-03"}
    if deceased:
        patient["deceasedDateTime"] = "2026-01-15"
    return PatientRecord([patient])


def test_a_year_of_nights_keeps_few_exclusion_plans_and_the_same_answers() -> None:
    """The deceased exclusion answers alike on every night of a year, and the lookups kept
    for the program stay within 16 windows."""
    program = load_programs()["annual-wellness-visit"]
    first = datetime(2026, 3, 1, 15, tzinfo=UTC)
    for day in range(365):
        window = resolve_window(program.definition.period, now=first + timedelta(days=day))
        gone = evaluate_record(program, _record(deceased=True), window)
        assert (gone.eligible, gone.excluded) == (False, "deceased")
        alive = evaluate_record(program, _record(deceased=False), window)
        assert alive.excluded is None
        entry = _PLANS[id(program)]
        assert entry[0] is program
        assert 1 <= len(entry[1]) <= 16
