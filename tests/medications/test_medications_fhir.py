"""``POST /fhir/MedicationAdministration``: a dose confirmed by a device or a nurse."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from careloop.clock import FrozenClock
from careloop.models import AuditEvent, DoseConfirmation
from careloop.runtime import Runtime
from tests.medications.conftest import RXNORM, add_resources, make_patient, medication

ZONE = ZoneInfo("America/New_York")


def _administration(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "status": "completed",
        "subject": {"reference": "Patient/p-fhir"},
        "effectiveDateTime": "2026-03-03T07:35:00-05:00",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "860975"}]},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def _setup(rt: Runtime, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 3, 3, 7, 40, tzinfo=ZONE))
    make_patient(rt, patient_id="p-fhir")
    add_resources(rt, "p-fhir", medication("MedicationRequest", "mr-f", when=clock.now()))


def test_staff_post_confirms_the_nearest_dose(rt: Runtime, clock: FrozenClock, api_client) -> None:  # type: ignore[no-untyped-def]
    _setup(rt, clock)
    nurse = api_client("clinician")
    reply = nurse.post("/fhir/MedicationAdministration", json=_administration())
    assert reply.status_code == 201, reply.text
    assert reply.json()["id"].startswith("ma-")
    by_request = nurse.post(
        "/fhir/MedicationAdministration",
        json=_administration(
            medicationCodeableConcept=None,
            request={"reference": "MedicationRequest/mr-f"},
            effectiveDateTime="2026-03-03T20:05:00-05:00",
        ),
    )
    assert by_request.status_code == 201, by_request.text
    with rt.transaction() as session:
        rows = list(session.scalars(select(DoseConfirmation).order_by(DoseConfirmation.id)))
        audited = session.scalars(select(AuditEvent).where(AuditEvent.patient_id == "p-fhir")).all()
    assert [(r.answer, r.channel, r.local_minute) for r in rows] == [
        ("taken", "fhir", 7 * 60 + 35),
        ("taken", "fhir", 20 * 60 + 5),
    ]
    assert rows[0].confirmed_at == datetime(2026, 3, 3, 12, 35, tzinfo=ZONE) - timedelta(hours=5)
    assert any(e.action == "create" for e in audited)


def test_patients_may_not_post_and_bad_input_names_the_field(
    rt: Runtime,
    clock: FrozenClock,
    api_client,  # type: ignore[no-untyped-def]
) -> None:
    _setup(rt, clock)
    patient = api_client("patient", patient_id="p-fhir")
    assert patient.post("/fhir/MedicationAdministration", json=_administration()).status_code == 403
    nurse = api_client("clinician")
    for changes, field in (
        ({"status": "in-progress"}, "status"),
        ({"effectiveDateTime": None}, "effectiveDateTime"),
        ({"medicationCodeableConcept": None}, "medicationCodeableConcept"),
        ({"subject": {"reference": "Patient/nobody"}}, "subject"),
    ):
        reply = nurse.post("/fhir/MedicationAdministration", json=_administration(**changes))
        assert 400 <= reply.status_code < 500, (changes, reply.status_code)
        assert reply.json()["resourceType"] == "OperationOutcome"
        assert field in str(reply.json()["issue"]), (field, reply.json())
    with rt.transaction() as session:
        assert session.scalars(select(DoseConfirmation)).all() == []
