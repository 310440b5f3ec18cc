"""A caregiver the EHR has ended (``RelatedPerson.active: false``: a divorce, a carer who
left) loses the proxy access the patient once granted, on their very next request, as a
revoked grant does; the importer never deletes a caregiver, so this is how one leaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.governance.conftest import CAREGIVER_A, CAREGIVER_PHONE, PATIENT_A, enrol, load

from careloop.governance.portal import InMemoryCodeSender
from careloop.runtime import Runtime

CAREGIVER_EMAIL = "carlos.govtest@example.org"


def _caregiver(*, active: bool) -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "id": CAREGIVER_A,
        "active": active,
        "patient": {"reference": f"Patient/{PATIENT_A}"},
        "name": [{"given": ["Carlos"], "family": "Govtest"}],
        "telecom": [
            {"system": "phone", "value": CAREGIVER_PHONE, "use": "mobile"},
            {"system": "email", "value": CAREGIVER_EMAIL},
        ],
    }


def test_an_ended_caregiver_loses_the_patients_record_and_gets_no_code(
    population: Runtime,
    tmp_path: Path,
    portal_client: Any,
    api_client: Any,
    sender: InMemoryCodeSender,
) -> None:
    load(population, tmp_path, _caregiver(active=True))
    for system, value in (("sms", CAREGIVER_PHONE), ("email", CAREGIVER_EMAIL)):
        enrol(
            population, patient_id=PATIENT_A, system=system, value=value, caregiver_id=CAREGIVER_A
        )
    patient = api_client("patient", patient_id=PATIENT_A)
    granted = patient.post(
        f"/api/patients/{PATIENT_A}/proxy-grants",
        json={"caregiver_id": CAREGIVER_A, "scopes": ["record", "messages"]},
    )
    assert granted.status_code == 201
    caregiver = portal_client("sms", CAREGIVER_PHONE)
    assert caregiver.get(f"/api/patients/{PATIENT_A}").status_code == 200

    load(population, tmp_path, _caregiver(active=False))  # the EHR ends the relationship
    codes_before = len(sender.sent)
    asked = [
        caregiver.post("/api/portal/code", json={"system": s, "value": v})
        for s, v in (("sms", CAREGIVER_PHONE), ("email", CAREGIVER_EMAIL))
    ]

    assert caregiver.get(f"/api/patients/{PATIENT_A}").status_code == 404
    assert caregiver.get("/api/auth/me").json()["patient_ids"] == []
    assert [a.status_code for a in asked] == [202, 202]
    assert sender.sent[codes_before:] == []
