"""One reading of a Patient's preferred language, home position and age (issue 13)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from careloop.fhirdata.dates import age_on
from careloop.fhirdata.patients import (
    GEOLOCATION_EXTENSION,
    geolocation,
    preferred_communication,
    preferred_language,
)
from careloop.records.demographics import demographics_from
from careloop.records.interpreter import interpreter_of

days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
codes = st.sampled_from(["en", "es", "es-MX", "pt-BR", "zh", "vi"])


def _communication(code: str, *, preferred: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": code}]}}
    if preferred:
        entry["preferred"] = True
    return entry


@given(st.lists(codes, min_size=1, max_size=4), st.data())
def test_the_preferred_entry_wins_else_the_first(langs: list[str], data: st.DataObject) -> None:
    marked = data.draw(st.none() | st.integers(0, len(langs) - 1))
    patient = {
        "resourceType": "Patient",
        "communication": [_communication(c, preferred=i == marked) for i, c in enumerate(langs)],
    }
    expected = langs[0] if marked is None else langs[marked]
    assert preferred_language(patient) == expected
    # The record's language and the interpreter's read the same entry.
    assert interpreter_of(patient)[1] == expected
    assert demographics_from([patient], default_timezone="UTC").language == expected


def test_no_communication_is_no_language() -> None:
    assert preferred_communication({"resourceType": "Patient"}) is None
    assert preferred_language({"resourceType": "Patient", "communication": ["x"]}) is None


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_a_geolocated_address_gives_its_position(lat: float, lng: float) -> None:
    address = {
        "extension": [
            {"url": "http://example.org/other"},
            {
                "url": GEOLOCATION_EXTENSION,
                "extension": [
                    {"url": "latitude", "valueDecimal": lat},
                    {"url": "longitude", "valueDecimal": lng},
                ],
            },
        ]
    }
    assert geolocation(address) == (lat, lng)


def test_an_address_without_coordinates_has_no_position() -> None:
    half = {"extension": [{"url": GEOLOCATION_EXTENSION, "extension": [{"url": "latitude"}]}]}
    assert geolocation(half) is None
    assert geolocation({"city": "Boston"}) is None
    assert geolocation(None) is None


@given(days, st.integers(0, 120))
def test_the_age_turns_on_the_birthday_and_not_the_day_before(born: date, years: int) -> None:
    try:
        birthday = born.replace(year=born.year + years)
    except ValueError:  # 29 February in a common year: the birthday falls on 1 March
        birthday = date(born.year + years, 3, 1)
    assert age_on(born, birthday) == years
    if years:
        assert age_on(born, birthday - timedelta(days=1)) == years - 1
