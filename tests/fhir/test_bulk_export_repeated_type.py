"""A repeated ``_type`` is one comma-delimited list (Bulk Data IG v2: the server SHALL treat
it so): ``_type=Patient&_type=Observation`` exports both types, not only the last one named."""

from __future__ import annotations

from sqlalchemy import select

from careloop.models import BulkExport
from tests.fhir.conftest import FhirServer

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def test_a_repeated_type_exports_every_type_named(fhir_server: FhirServer) -> None:
    with fhir_server.http("clinician") as http:
        kick_off = http.get(
            "/Patient/$export",
            params=[("_type", "Patient"), ("_type", "Observation")],
            headers=ASYNC,
        )
    assert kick_off.status_code == 202, kick_off.text
    with fhir_server.rt.transaction() as session:
        assert session.scalars(select(BulkExport.types)).all() == [["Patient", "Observation"]]
