"""The care team prescribes a tool from the patient view; a coordinator may not."""

from __future__ import annotations

from pathlib import Path

from tools_fixtures import consent_and_content, import_patients, reachable_patient

from careloop.runtime import Runtime

DIABETES = {
    "resourceType": "Condition",
    "clinicalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active",
            }
        ]
    },
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    "onsetDateTime": "2015-01-01T00:00:00Z",
}


def test_a_clinician_prescribes_a_tool_for_the_patients_needs(
    rt: Runtime, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    import_patients(rt, tmp_path, [[reachable_patient("rosa", phone="+15550100081"), DIABETES]])
    consent_and_content(rt, ["rosa"])
    clinician = api_client("clinician")
    coordinator = api_client("coordinator")

    before = clinician.get("/console/patients/rosa")
    refused = coordinator.post(
        "/console/patients/rosa/tools", data={"tool": "eat-well-app"}, follow_redirects=False
    )
    done = clinician.post(
        "/console/patients/rosa/tools", data={"tool": "eat-well-app"}, follow_redirects=False
    )
    after = clinician.get(done.headers["location"])

    assert before.status_code == 200
    suggested = before.text.split("For this patient's needs")[1].split("</optgroup>")[0]
    assert "Eat Well" in suggested
    assert "blood pressure cuff" not in suggested
    assert refused.status_code == 403
    assert done.status_code == 303
    assert "the tool is on the care plan and its link was sent" in after.text
    assert "Eat Well (dietary change app) · prescribed" in after.text
