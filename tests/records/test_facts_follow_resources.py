"""A fact goes with its resource (a trigger, migration 0570), and nothing checks it row by row
as it is inserted (the foreign key's per-row check and lock cost the import's server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, func, inspect, select, text
from typer.testing import CliRunner

from careloop.cli import app
from careloop.models import FhirResource, Patient, ResourceFact
from careloop.runtime import Runtime

runner = CliRunner()


def _observation(number: int, patient: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{patient}-{number}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2024-03-01T10:00:00+00:00",
        "valueQuantity": {"value": 170 + number, "unit": "cm"},
    }


def _import(rt: Runtime, url: str, tmp_path: Path) -> None:
    entries = []
    for patient in ("follow-a", "follow-b"):
        entries.append({"resource": {"resourceType": "Patient", "id": patient, "gender": "male"}})
        entries += [{"resource": _observation(n, patient)} for n in range(3)]
    path = tmp_path / "follow.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    result = runner.invoke(app, ["import", str(path), "--database", url, "--json"])
    assert result.exit_code == 0, result.output


def _facts(rt: Runtime) -> set[str]:
    with rt.transaction() as session:
        return set(session.scalars(select(ResourceFact.fhir_id)))


def test_deleting_resources_deletes_their_facts(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    _import(rt, database_url, tmp_path)
    assert len(_facts(rt)) == 8
    with rt.transaction() as session:
        session.execute(delete(FhirResource).where(FhirResource.fhir_id == "obs-follow-a-1"))
    assert "obs-follow-a-1" not in _facts(rt)
    assert len(_facts(rt)) == 7


def test_deleting_a_patient_deletes_the_facts_of_their_resources(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    _import(rt, database_url, tmp_path)
    with rt.transaction() as session:
        session.execute(delete(Patient).where(Patient.id == "follow-a"))  # cascades to resources
    assert _facts(rt) == {"follow-b", "obs-follow-b-0", "obs-follow-b-1", "obs-follow-b-2"}


def test_resource_facts_has_no_foreign_key_to_check_on_insert(rt: Runtime) -> None:
    assert inspect(rt.engine).get_foreign_keys("resource_facts") == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_truncating_the_resources_empties_the_facts(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    _import(rt, database_url, tmp_path)
    with rt.transaction() as session:
        session.execute(text("TRUNCATE fhir_resources"))
    with rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ResourceFact)) == 0
