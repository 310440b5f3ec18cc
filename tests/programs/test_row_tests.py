"""A row refused on its columns is a fact the retrieve's filter refuses (``row_tests``).

Differential, per resource type and timing field: the columns import writes
(``records.extract``: status, start and end) against the engine's timing
(``measures.fields``, and the programs' ``occurrence``) and relations, on every Encounter,
CarePlan, Observation and Immunization of the Synthea patients, on generated resources of
every date shape, and through whole programs:
the verdicts of a night's records (rows) equal those of records of decoded facts at several
dates, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import SHARED_DATA
from tests.programs.test_projection_differential import _import
from tests.programs.test_shared_record import _compare, _programs

from careloop.programs.definition import load_programs
from careloop.programs.eligibility import evaluate_record
from careloop.programs.expressions import time_of
from careloop.programs.measures.criteria import STATUS_PROFILES
from careloop.programs.measures.row_tests import (
    POINT_TESTS,
    RELATION_TESTS,
    TIMED_FIELDS,
    status_row_test,
    timing_row_test,
)
from careloop.programs.measures.shared_record import FactIndex, ProgramRecord
from careloop.programs.measures.timing import POINT_RELATIONS, RELATIONS
from careloop.programs.windows import resolve_window
from careloop.records.extract import (
    ResourceProblem,
    index_resource,
    resource_status,
    resource_times,
)
from careloop.records.fact_columns import FactRow
from careloop.runtime import Runtime

SYNTHEA = SHARED_DATA / "synthea-r4" / "patients"
BIRTH = date(1960, 5, 17)


def _row(resource: dict[str, Any]) -> FactRow:
    """The row a night reads for ``resource``: the columns as import writes them."""
    start, end = resource_times(resource)
    return FactRow(
        resource["resourceType"],
        frozenset(),
        "",
        orjson.dumps(resource),
        resource_status(resource),
        start.timestamp() if start is not None else None,
        end.timestamp() if end is not None else None,
        True,
    )


def _refused_but_kept(resource: dict[str, Any], low: datetime, high: datetime) -> list[str]:
    """Each (field, relation) whose row test refuses ``resource`` while the engine's
    relation holds on it (must be none), and the refusals as ``ok:`` entries."""
    row = _row(resource)
    found = []
    for field, types in TIMED_FIELDS.items():
        if resource["resourceType"] not in types:
            continue
        point = field == "effective_latest"
        for name in POINT_TESTS if point else RELATION_TESTS:
            test = timing_row_test(resource["resourceType"], field, name)
            assert test is not None
            if test(row, low.timestamp(), high.timestamp()):
                continue
            relation = POINT_RELATIONS.get(name, RELATIONS[name]) if point else RELATIONS[name]
            held = relation(time_of(field)(resource, BIRTH), low, high)
            found.append(f"{'WRONG' if held else 'ok'}:{field}:{name}")
    return found


def _synthea_resources() -> list[dict[str, Any]]:
    wanted = {"Encounter", "CarePlan", "Observation", "Immunization"}
    found = []
    for path in sorted(SYNTHEA.glob("*.json")):
        for entry in orjson.loads(path.read_bytes()).get("entry", ()):
            if entry["resource"]["resourceType"] in wanted:
                found.append(entry["resource"])
    return found


def test_no_synthea_row_is_refused_that_the_engine_keeps() -> None:
    resources = _synthea_resources()
    windows = []
    for year in (2012, 2016, 2019, 2020):
        start = datetime(year, 1, 1, tzinfo=UTC)
        windows.append((start, datetime(year, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)))
        windows.append((start - timedelta(days=183), start))
    refused = 0
    for resource in resources:
        for low, high in windows:
            answers = _refused_but_kept(resource, low, high)
            assert not [a for a in answers if a.startswith("WRONG")], (resource["id"], answers)
            refused += len(answers)
    assert refused > len(resources)  # most rows lie outside most windows: refused unread


_ZONES = st.sampled_from(["Z", "+00:00", "-05:00", "+14:00", "-12:00", "+05:30", ""])


@st.composite
def _fhir_dates(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31)))
    shape = draw(st.sampled_from(["year", "month", "date", "datetime", "fraction"]))
    if shape == "year":
        return f"{moment.year:04d}"
    if shape == "month":
        return f"{moment.year:04d}-{moment.month:02d}"
    if shape == "date":
        return moment.date().isoformat()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if shape == "fraction":
        text += f".{moment.microsecond // 1000:03d}"
    return text + draw(_ZONES)


_MAYBE_DATE = st.one_of(st.none(), st.just(""), _fhir_dates())


@st.composite
def _resources(draw: st.DrawFn) -> dict[str, Any]:
    rtype = draw(st.sampled_from(["Encounter", "CarePlan", "Observation", "Immunization"]))
    resource: dict[str, Any] = {"resourceType": rtype, "id": "r"}
    status = draw(st.sampled_from([None, "finished", "final", "cancelled", "active"]))
    if status is not None:
        resource["status"] = status
    drawn = (("start", draw(_MAYBE_DATE)), ("end", draw(_MAYBE_DATE)))
    period = {key: value for key, value in drawn if value is not None}
    if rtype == "Observation":
        # One value of the choice effective[x]: import refuses two.
        kind = draw(st.sampled_from(["DateTime", "Period", "Instant", "none"]))
        if kind == "Period":
            resource["effectivePeriod"] = period
        elif kind != "none":
            resource["effective" + kind] = draw(_fhir_dates())
        if draw(st.booleans()):
            resource["issued"] = draw(_fhir_dates())
    elif rtype == "Immunization":
        # occurrence[x] is a dateTime or a string in R4 (import refuses any other choice).
        kind = draw(st.sampled_from(["DateTime", "String", "none"]))
        if kind != "none":
            resource["occurrence" + kind] = draw(_fhir_dates())
        if draw(st.booleans()):
            resource["recorded"] = draw(_fhir_dates())
    else:
        if draw(st.booleans()):
            resource["period"] = period
        if rtype == "CarePlan" and draw(st.booleans()):
            resource["created"] = draw(_fhir_dates())
    return resource


@settings(max_examples=400, deadline=None)
@given(
    _resources(),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31)),
    st.integers(min_value=-30, max_value=800),
)
def test_no_generated_row_is_refused_that_the_engine_keeps(
    resource: dict[str, Any], low: datetime, days: int
) -> None:
    low = low.replace(tzinfo=UTC)
    try:
        resource_times(resource)
    except (ValueError, TypeError, KeyError):
        return  # import refuses it: no row exists
    answers = _refused_but_kept(resource, low, low + timedelta(days=days))
    assert not [a for a in answers if a.startswith("WRONG")], answers


@given(_resources(), st.sampled_from(sorted(STATUS_PROFILES)))
def test_a_row_refused_on_its_status_has_a_status_the_filter_refuses(
    resource: dict[str, Any], profile: str
) -> None:
    allowed = frozenset(STATUS_PROFILES[profile][0])
    if not status_row_test(allowed)(_row(resource)):
        assert resource.get("status") not in allowed


def test_rows_whose_columns_are_not_computed_are_never_refused() -> None:
    test = timing_row_test("Encounter", "period", "overlaps_day")
    assert test is not None
    row = FactRow("Encounter", frozenset(), "", b"{}", None, None, None, False)
    assert test(row, 0.0, 1.0)
    assert status_row_test(frozenset({"finished"}))(row)
    assert timing_row_test("Procedure", "performed", "overlaps_day") is None


def test_import_refuses_an_observation_with_two_effective_values() -> None:
    # What the Observation rows rely on: the engine and the columns read the same value.
    observation = {
        "resourceType": "Observation",
        "id": "o",
        "status": "final",
        "code": {"text": "x"},
        "effectiveDateTime": "2020-01-01",
        "effectivePeriod": {"start": "2010-01-01"},
    }
    with pytest.raises(ResourceProblem):
        index_resource(observation)


@pytest.mark.parametrize("now", ["2013-03-01", "2017-07-15", "2023-06-30"])
def test_night_records_give_the_verdicts_of_decoded_records_at_any_date(
    rt: Runtime, now: str
) -> None:
    # test_shared_record compares them at 2020-11-01; other windows refuse other rows.
    _import(rt, SYNTHEA)
    compared, _ = _compare(rt, now=datetime.fromisoformat(now).replace(tzinfo=UTC))
    assert compared == 100 * len(_programs())


CVX = "http://hl7.org/fhir/sid/cvx"


def _flu_shot(day: str, *, text: bytes) -> FactRow:
    """An influenza Immunization's row given on ``day``, its fact as ``text``."""
    at = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
    return FactRow(
        "Immunization", frozenset({"140"}), f"{CVX}\x1f140", text, "completed", at, at, True
    )


def _flu_verdict(shots: list[FactRow]) -> tuple[bool, str]:
    program = load_programs()["flu-shot-this-season"]
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1950-02-03"}
    rows = [FactRow("Patient", frozenset(), "", orjson.dumps(patient)), *shots]
    record = ProgramRecord(
        FactIndex(rows),
        always=frozenset(program.always_types),
        codes=frozenset(program.load_codes or ()),
        derived={},
    )
    window = resolve_window(program.definition.period, now=datetime(2026, 12, 1, tzinfo=UTC))
    verdict = evaluate_record(program, record, window)
    return verdict.eligible, verdict.reason


def test_a_flu_shot_of_an_earlier_season_is_refused_without_reading_its_fact() -> None:
    """The flu-shot program finds this season's shot, or its absence, from the rows' dates:
    the facts of earlier seasons' shots are never read (here they could not be)."""
    earlier = [_flu_shot(f"{year}-10-15", text=b"unreadable") for year in range(2015, 2026)]
    this_season = orjson.dumps(
        {
            "resourceType": "Immunization",
            "id": "this-season",
            "status": "completed",
            "vaccineCode": {"coding": [{"system": CVX, "code": "140"}]},
            "occurrenceDateTime": "2026-10-20T10:00:00-04:00",
        }
    )
    assert _flu_verdict([*earlier, _flu_shot("2026-10-20T14:00:00", text=this_season)]) == (
        False,
        "care up to date",
    )
    eligible, reason = _flu_verdict(earlier)
    assert eligible
    assert reason.startswith("no flu vaccine recorded this season")
