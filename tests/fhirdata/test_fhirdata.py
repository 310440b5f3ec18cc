"""The one reading of FHIR dates, references and codings (issue 13)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.fhirdata import dates
from careloop.fhirdata.bundles import collection, resources_of
from careloop.fhirdata.codings import codes, codings, first_coding, has_code
from careloop.fhirdata.references import patient_id, reference_id, reference_of, target_id

days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
moments = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2100, 12, 30), timezones=st.just(UTC)
)


@given(days)
def test_a_date_is_the_whole_day_in_utc(day: date) -> None:
    start, end = dates.interval(day.isoformat())
    assert start == datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert end - start == timedelta(days=1) - timedelta(seconds=1)
    assert dates.day(day.isoformat()) == day


@given(days)
def test_a_partial_date_spans_its_month_and_year(day: date) -> None:
    month_start, month_end = dates.interval(day.isoformat()[:7])
    year_start, year_end = dates.interval(day.isoformat()[:4])
    assert year_start <= month_start <= dates.start(day.isoformat()) <= month_end <= year_end
    assert dates.day(day.isoformat()[:7]) == day.replace(day=1)
    assert dates.day(day.isoformat()[:4]) == day.replace(month=1, day=1)


@given(moments, st.integers(min_value=-12, max_value=14))
def test_a_datetime_with_a_zone_is_one_instant_in_utc(moment: datetime, hours: int) -> None:
    local = moment.astimezone(timezone(timedelta(hours=hours)))
    assert dates.interval(local.isoformat()) == (moment, moment)
    assert dates.instant(local.isoformat().replace("+00:00", "Z")) == moment


def test_a_time_without_a_zone_is_read_as_utc() -> None:
    assert dates.start("2024-03-01T10:00:00") == datetime(2024, 3, 1, 10, tzinfo=UTC)


@given(st.one_of(st.text(max_size=30), st.none(), st.integers(), st.lists(st.text())))
def test_instant_never_raises(value: object) -> None:
    result = dates.instant(value)
    assert result is None or result.tzinfo is not None


def test_zoned_keeps_a_moment_as_written_and_guesses_no_zone() -> None:
    assert dates.zoned("2024-03-01T10:00:00+02:00") == datetime(
        2024, 3, 1, 10, tzinfo=timezone(timedelta(hours=2))
    )
    assert dates.zoned("2024-03-01T08:00:00Z") == datetime(2024, 3, 1, 8, tzinfo=UTC)
    # A visit's start without a zone, or a bare day, is not a moment to act on.
    for unsure in ("2024-03-01T10:00:00", "2024-03-01", "soon", None, 20240301):
        assert dates.zoned(unsure) is None


@pytest.mark.parametrize("bad", ["", "20", "2024-13", "2024-02-30", "yesterday"])
def test_interval_refuses_what_is_not_a_fhir_date(bad: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        dates.interval(bad)
    assert dates.instant(bad) is None


@given(st.text(alphabet="abcdef0123456789-", min_size=1, max_size=20))
def test_every_form_of_a_reference_gives_its_id(fhir_id: str) -> None:
    for ref in (
        f"Patient/{fhir_id}",
        f"urn:uuid:{fhir_id}",
        f"https://x.org/fhir/Patient/{fhir_id}",
    ):
        assert reference_id(ref) == fhir_id
    assert target_id({"reference": f"Patient/{fhir_id}"}) == fhir_id
    assert patient_id(f"Patient/{fhir_id}") == fhir_id
    assert patient_id(f"Group/{fhir_id}") is None


def test_a_reference_without_a_target_is_none() -> None:
    assert reference_of({"display": "Dr. Who"}) is None
    assert reference_of("Patient/1") is None
    assert target_id(None) is None


def test_codings_read_concepts_lists_and_bare_codings() -> None:
    concept = {"coding": [{"system": "http://loinc.org", "code": "8480-6"}, {"code": "x"}]}
    bare = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
    assert list(codings(concept)) == [("http://loinc.org", "8480-6"), ("", "x")]
    assert list(codings([concept, bare, "junk", None])) == [
        ("http://loinc.org", "8480-6"),
        ("", "x"),
        ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB"),
    ]
    assert codes(concept) == {"8480-6", "x"}
    assert has_code(concept, {"x"})
    assert not has_code(concept, {"y"})
    assert first_coding(concept)["code"] == "8480-6"
    assert first_coding({"text": "no codes"}) == {}


def test_resources_of_looks_inside_bundles() -> None:
    obs = {"resourceType": "Observation", "id": "1"}
    bundle = {"resourceType": "Bundle", "entry": [{"resource": obs}, {"resource": {}}]}
    assert list(resources_of([bundle, obs, "junk"], "Observation")) == [obs, obs]


def test_a_collection_holds_the_resources_it_was_given_in_order() -> None:
    patient = {"resourceType": "Patient", "id": "p1"}
    obs = {"resourceType": "Observation", "id": "o1"}
    bundle = collection([patient, obs])
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    assert list(resources_of([bundle], "Observation")) == [obs]
    assert [e["resource"] for e in bundle["entry"]] == [patient, obs]
