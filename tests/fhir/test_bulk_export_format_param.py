"""The $export kick-off takes FHIR's general ``_format=json`` (careloop's own searches accept
it, and generic clients such as HAPI's add it to every request once set to JSON): the export
starts, while the filters careloop does not apply are still refused."""

from __future__ import annotations

from sqlalchemy import select

from careloop.models import BulkExport
from tests.fhir.conftest import FhirServer

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def test_a_kick_off_with_the_general_format_parameter_starts_the_export(
    fhir_server: FhirServer,
) -> None:
    with fhir_server.http("clinician") as http:
        search = http.get("/Patient", params={"_format": "json"})
        kick_off = http.get(
            "/Patient/$export", params={"_type": "Patient", "_format": "json"}, headers=ASYNC
        )
    assert search.status_code == 200, search.text  # the same client's search is served
    assert kick_off.status_code == 202, kick_off.text
    with fhir_server.rt.transaction() as session:
        assert session.scalars(select(BulkExport.types)).all() == [["Patient"]]
