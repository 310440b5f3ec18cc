"""Importing the 100 Synthea patients: counts, idempotency, deceased, time zones."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from careloop.models import FhirResource, Patient
from careloop.records import service
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.records.conftest import synthea_dir

_CODES = select(FhirResource.resource_type, FhirResource.fhir_id, FhirResource.codes).order_by(
    FhirResource.resource_type, FhirResource.fhir_id
)


def _import(rt: Runtime):  # type: ignore[no-untyped-def]
    return import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[synthea_dir()],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
    )


def test_all_100_patients_import_with_the_manifest_counts_and_a_second_import_changes_nothing(
    rt: Runtime,
    synthea_manifest: list[dict[str, str]],
    synthea_counts: Counter[str],
    synthea_distinct_counts: Counter[str],
) -> None:
    first = _import(rt)
    with rt.transaction() as session:
        stored_first = service.count_resources(session)
        codes_first = session.execute(_CODES).all()
    second = _import(rt)
    with rt.transaction() as session:
        stored_second = service.count_resources(session)
        codes_second = session.execute(_CODES).all()
        deceased = session.scalar(select(func.count()).where(Patient.deceased.is_(True)))
        patients = session.scalar(select(func.count()).select_from(Patient))
        row = next(r for r in synthea_manifest if r["deceasedDateTime"])
        record = service.get_patient_record(session, patient_id=row["patient_id"])

    assert first.rejected == []
    assert second.rejected == []
    assert len(first.patients) == 100
    # Every entry of every bundle was read; shared organizations are stored once.
    assert dict(first.resources) == dict(synthea_counts)
    assert stored_first == dict(synthea_distinct_counts)
    for name in ("Observation", "Encounter", "Condition", "Immunization", "Procedure"):
        assert stored_first[name] == sum(int(r[f"n_{name}"]) for r in synthea_manifest)
    assert stored_first["Patient"] == 100
    assert stored_second == stored_first
    assert codes_second == codes_first
    assert patients == 100
    assert deceased == sum(1 for r in synthea_manifest if r["deceasedDateTime"]) == 14

    # The record of one deceased patient, as a nurse would see it.
    assert record.deceased is True
    assert record.birth_date is not None
    assert record.birth_date.isoformat() == row["birthDate"]
    assert record.gender == row["gender"]
    assert record.timezone == "America/New_York"
    assert record.timezone_source == "geolocation"
    assert record.language is not None
    assert any(cp.system == "phone" for cp in record.contact_points)
    assert record.resource_counts["Encounter"] == int(row["n_Encounter"])
    dates = [item.date for item in record.timeline if item.date]
    assert dates == sorted(dates, reverse=True)
    assert any(ident.system == "http://hl7.org/fhir/sid/us-ssn" for ident in record.identifiers)
