"""What the import COPYs is what was sent: awkward characters survive, codes and facts follow."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from careloop.cli import app
from careloop.models import FhirResource, ResourceFact, ResourceFactBody
from careloop.runtime import Runtime

runner = CliRunner()

PATIENT = {
    "resourceType": "Patient",
    "id": "copy-pat",
    "gender": "female",
    "name": [{"family": "Copyperson"}],
    "telecom": [{"system": "email", "value": "copy@example.org"}],
    "text": {"status": "generated", "div": "<div>Copyperson</div>"},
}
NOTE = 'tab\there, back\\slash, "quotes", new\nline, \\N, \\t, ünïcödé ✓'
OBSERVATION = {
    "resourceType": "Observation",
    "id": "copy-obs",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2", "display": NOTE}]},
    "subject": {"reference": "urn:uuid:copy-pat"},
    "effectiveDateTime": "2024-03-01T10:00:00+01:00",
    "valueQuantity": {"value": 172.5, "unit": "cm"},
    "note": [{"text": NOTE}],
}
ODD = {"resourceType": "Basic", "id": "odd\tid\\with\nbreaks", "code": {"text": NOTE}}


def _bundle(tmp_path: Path) -> Path:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:copy-pat", "resource": PATIENT},
            {"fullUrl": "urn:uuid:copy-obs", "resource": OBSERVATION},
            {"resource": ODD},
        ],
    }
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(bundle))
    return path


def test_awkward_characters_are_stored_as_sent_and_codes_and_facts_follow(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    path = _bundle(tmp_path)
    for _ in range(2):  # first as new rows (COPY on PostgreSQL), then as updates
        result = runner.invoke(app, ["import", str(path), "--database", database_url, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["rejected"] == []
        with rt.transaction() as session:
            rows = {
                (r.resource_type, r.fhir_id): r for r in session.scalars(select(FhirResource)).all()
            }
            facts = {f.fhir_id: f for f in session.scalars(select(ResourceFact)).all()}
            bodies = {b.fhir_id: b for b in session.scalars(select(ResourceFactBody)).all()}
        observation = rows[("Observation", "copy-obs")]
        assert observation.resource == {**OBSERVATION, "subject": {"reference": "Patient/copy-pat"}}
        assert observation.patient_id == "copy-pat"
        assert observation.effective_start is not None
        assert observation.effective_start.isoformat() == "2024-03-01T09:00:00+00:00"
        assert rows[("Basic", ODD["id"])].resource == ODD
        assert {key: row.codes for key, row in rows.items()} == {
            ("Observation", "copy-obs"): "http://loinc.org|8302-2",
            ("Patient", "copy-pat"): "",
            ("Basic", ODD["id"]): "",
        }
        assert facts["copy-obs"].codes == "8302-2"
        assert "note" not in bodies["copy-obs"].fact  # no measure reads notes
        assert bodies["copy-obs"].fact["code"]["coding"][0]["display"] == NOTE
        assert bodies["copy-obs"].fact["valueQuantity"] == {"value": 172.5, "unit": "cm"}
        assert facts["copy-obs"].patient_id == "copy-pat"
        # a Patient's fact: no name, contacts or narrative
        assert bodies["copy-pat"].fact == {
            "resourceType": "Patient",
            "id": "copy-pat",
            "gender": "female",
        }
