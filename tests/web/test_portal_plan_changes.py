"""The message about an approved plan change sends the patient to the portal to read it; the
portal's home says what changed and when, in the patient's language (it said nothing)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients

PID = "pc-1"


def test_the_portal_home_lists_an_approved_plan_change_in_the_patients_words(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    add_patients(rt, tmp_path, PID)
    change = {"kind": "symptom_diary", "reason": "Daily mouth-sore diary during cycle 3"}
    plan = api_client("nurse").post(f"/api/patients/{PID}/plan-adjustments", json=change).json()
    pending = api_client("patient", patient_id=PID).get("/portal?lang=es").text
    api_client("clinician").post(f"/api/plan-adjustments/{plan['id']}/approve")

    home = api_client("patient", patient_id=PID).get("/portal?lang=es")

    assert home.status_code == 200
    assert "Cambios en su plan de cuidado" not in pending
    [item] = re.findall(r'data-testid="plan-changes"><li>(.*?)</li>', home.text)
    assert item.endswith(" — Con qué frecuencia le preguntamos por sus síntomas")
    assert "mouth-sore" not in home.text  # the staff's reason is theirs, not the patient's
