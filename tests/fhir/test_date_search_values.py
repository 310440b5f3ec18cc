"""A date search value that is not a date is answered as such, not as an unknown prefix: an
EHR's developer who sent ``birthdate=notadate`` read "prefix 'no' not supported"."""

from __future__ import annotations

import pytest

from careloop.errors import InvalidInput
from careloop.fhir.params import parse_query
from tests.fhir.conftest import FhirServer


@pytest.mark.parametrize("value", ["notadate", "ge", "1951-13-45", "gebad", "2024-02-30"])
def test_a_value_that_is_not_a_date_is_called_not_a_date(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query("Patient", [("birthdate", value)])
    assert caught.value.field == "birthdate"
    assert "not a FHIR date" in str(caught.value)
    assert "prefix" not in str(caught.value).split("(")[0]


@pytest.mark.parametrize("value", ["ap1951", "sa2024-01-01", "eb2024"])
def test_a_date_after_a_prefix_we_do_not_serve_names_the_prefix(value: str) -> None:
    with pytest.raises(InvalidInput, match=f"prefix '{value[:2]}' not supported"):
        parse_query("Patient", [("birthdate", value)])


@pytest.mark.parametrize("value", ["1951", "ge1951-03", "le1951-03-01", "gt2024-01-01T10:00:00Z"])
def test_dates_with_and_without_a_prefix_are_accepted(value: str) -> None:
    (criterion,) = parse_query("Patient", [("birthdate", value)]).criteria
    assert criterion.values == (value,)


def test_the_fhir_server_answers_400_naming_the_parameter(fhir_server: FhirServer) -> None:
    with fhir_server.http("clinician") as http:
        answer = http.get("/Patient", params={"birthdate": "notadate"})
    assert answer.status_code == 400
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "birthdate: not a FHIR date" in answer.text
    assert "prefix" not in outcome["issue"][0].get("diagnostics", "").split("(")[0]
