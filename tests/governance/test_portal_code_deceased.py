"""A sign-in code texted to a deceased patient's phone. The txt branch re-reads the record at
every code request (``governance.portal._why_code_withheld``) so a number the record no longer
lets a text reach gets no code, but it ignores the record's ``deceased`` flag read in the same
snapshot: after the EHR records the death, whoever now holds that phone still receives codes
and can open the patient's portal (their PHI). Outreach never texts a deceased patient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.governance.conftest import _patient, enrol, load

from careloop.governance.portal import InMemoryCodeSender
from careloop.runtime import Runtime

PATIENT = "gov-pat-died"
MOBILE = "+15550100151"


def test_a_deceased_patients_number_gets_no_sign_in_code(
    rt: Runtime, tmp_path: Path, api_client: Any, sender: InMemoryCodeSender
) -> None:
    telecom = [{"system": "phone", "value": MOBILE, "use": "mobile"}]
    load(rt, tmp_path, _patient(PATIENT, given="Dora", telecom=telecom))
    enrol(rt, patient_id=PATIENT, system="sms", value=MOBILE)
    died = _patient(PATIENT, given="Dora", telecom=telecom, deceasedDateTime="2026-01-05T10:00:00Z")
    load(rt, tmp_path, died)

    client = api_client(None)
    client.app.state.code_sender = sender
    asked = client.post("/api/portal/code", json={"system": "sms", "value": MOBILE})

    assert asked.status_code == 202
    assert sender.sent == []
