"""walk branch: the $export kick-off now refuses every query parameter but _type, _since and
_outputFormat, so a valid request an EHR client sends is refused: ``_format=json`` (FHIR's
general parameter, which careloop's own searches accept, and which HAPI's generic client
adds to every request once its encoding is set to JSON) gets 400 and no export starts."""

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
