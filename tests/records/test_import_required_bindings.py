"""``careloop import``: a code outside the value set FHIR R4 binds it to (required) is reported
by file, entry or line, type and field, and skipped; the good records of the same file are
kept; the report carries no patient data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from careloop.cli import app
from careloop.records import service
from careloop.runtime import Runtime

runner = CliRunner()
NAME, PHONE = "Quixley", "+15550199123"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _patient(pid: str, **changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": NAME, "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1961-02-03",
        "telecom": [{"system": "phone", "value": PHONE, "use": "mobile"}],
    } | changes


def _observation(oid: str, pid: str, **changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2025-03-01T10:00:00Z",
        "valueQuantity": {"value": 70, "unit": "kg"},
    } | changes


def _condition(
    cid: str, pid: str, clinical: str, *, system: str | None = CLINICAL
) -> dict[str, Any]:
    coding = {"code": clinical} if system is None else {"system": system, "code": clinical}
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [coding]},
        "code": {"text": "hypertension"},
        "subject": {"reference": f"Patient/{pid}"},
    }


def _write(tmp_path: Path) -> tuple[Path, Path]:
    bundle = tmp_path / "bundle.json"
    entries = [
        _patient("p-1"),
        _observation("o-good", "p-1"),
        _observation("o-bogus", "p-1", status="bogus"),
        _condition("c-good", "p-1", "active"),
        _condition("c-bad", "p-1", "maybe"),
        # No system on the coding: read by its code, as the engines read it; a bad code still fails.
        _condition("c-no-system", "p-1", "active", system=None),
        _condition("c-no-system-bad", "p-1", "maybe", system=None),
    ]
    bundle.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in entries],
            }
        )
    )
    ndjson = tmp_path / "Patient.ndjson"
    lines = [
        _patient("p-2"),
        _patient("p-3", telecom=[{"system": "beeper", "value": PHONE}]),
        _patient("p-4", gender="F"),
    ]
    ndjson.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return bundle, ndjson


def test_records_with_codes_outside_their_value_sets_are_reported_and_the_rest_kept(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    bundle, ndjson = _write(tmp_path)
    result = runner.invoke(
        app, ["import", str(bundle), str(ndjson), "--database", database_url, "--json"]
    )
    summary = json.loads(result.stdout)
    assert result.exit_code == 0
    assert summary["resources"] == {"Condition": 2, "Observation": 1, "Patient": 2}
    reasons = {(r["file"], r["entry"]): r["reason"] for r in summary["rejected"]}
    assert set(reasons) == {
        (str(bundle), 2),
        (str(bundle), 4),
        (str(bundle), 6),
        (str(ndjson), 2),
        (str(ndjson), 3),
    }
    assert reasons[str(bundle), 2].startswith(
        "Observation.status: 'bogus' is not a code of http://hl7.org/fhir/ValueSet/observation-status"
    )
    assert reasons[str(bundle), 4].startswith(
        "Condition.clinicalStatus: no coding from http://hl7.org/fhir/ValueSet/condition-clinical"
    )
    assert reasons[str(ndjson), 2].startswith("Patient.telecom[0].system: 'beeper' is not a code")
    assert reasons[str(ndjson), 3].startswith("Patient.gender: 'F' is not a code")
    assert NAME not in result.stdout
    assert PHONE not in result.stdout
    with rt.transaction() as session:
        assert service.count_resources(session) == {"Condition": 2, "Observation": 1, "Patient": 2}


def test_the_text_report_names_each_rejected_record_without_a_traceback(
    database_url: str, tmp_path: Path
) -> None:
    bundle, ndjson = _write(tmp_path)
    result = runner.invoke(
        app,
        ["import", str(bundle), str(ndjson), "--database", database_url],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0
    rejected = [line for line in result.stdout.splitlines() if line.startswith("rejected")]
    assert len(rejected) == 5
    assert f"rejected {bundle} entry 2: Observation.status: 'bogus'" in result.stdout
    assert f"rejected {ndjson} line 3: Patient.gender: 'F'" in result.stdout
    assert "Traceback" not in result.stdout + (result.stderr or "")
