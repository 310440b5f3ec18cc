"""The loop through the HTTP API: FHIR in, alert on the worklist, the team acts on it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from careloop.clock import FrozenClock
from careloop.events import list_events
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients, blood_pressure, diary, glucose, phq9, single

OUTCOME = {"Prefer": "return=OperationOutcome"}


def new_alerts(response) -> list[int]:  # type: ignore[no-untyped-def]
    """The alerts a FHIR create raised, from its OperationOutcome (``Prefer`` above)."""
    notes = [i["diagnostics"] for i in response.json()["issue"]]
    return [int(n.rsplit("-", 1)[1]) for n in notes if n.startswith("alert raised")]


def error_field(response) -> str:  # type: ignore[no-untyped-def]
    """The element an OperationOutcome names."""
    return str(response.json()["issue"][0]["expression"][0])


def test_a_crisis_reading_appears_on_the_worklist_and_repeats_are_absorbed(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-1")
    nurse = api_client("clinician")
    first = nurse.post(
        "/fhir/Observation", json=blood_pressure("api-1", 192, 104, clock.now()), headers=OUTCOME
    )
    again = nurse.post(
        "/fhir/Observation", json=blood_pressure("api-1", 185, 100, clock.now()), headers=OUTCOME
    )
    assert first.status_code == 201
    assert again.status_code == 201
    assert new_alerts(first)
    assert not new_alerts(again)
    (entry,) = nurse.get("/api/worklist").json()
    assert (entry["rule_id"], entry["severity"], entry["occurrences"]) == ("bp-crisis", "urgent", 2)
    assert entry["due_at"].startswith((clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))


def test_the_same_reading_sent_twice_is_stored_once(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-2")
    reading = glucose("api-2", 48, clock.now())
    nurse = api_client("clinician")
    assert nurse.post("/fhir/Observation", json=reading).status_code == 201
    second = nurse.post("/fhir/Observation", json=reading)
    assert second.status_code == 200
    assert second.json()["id"] == reading["id"]
    assert nurse.get("/api/worklist").json()[0]["occurrences"] == 1


def test_a_bad_reading_answers_422_naming_the_field_and_is_recorded(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-3")
    response = api_client("clinician").post(
        "/fhir/Observation", json=single("api-3", "8867-4", 72, "bpm", clock.now())
    )
    assert response.status_code == 422
    assert error_field(response) == "Observation.valueQuantity.code"
    with rt.transaction() as session:
        (event,) = list_events(session, kinds=["reading_rejected"])
    assert event.payload["field"] == "Observation.valueQuantity.code"


def test_a_reading_for_an_unknown_patient_is_refused(clock: FrozenClock, api_client) -> None:  # type: ignore[no-untyped-def]
    response = api_client("clinician").post(
        "/fhir/Observation", json=glucose("nobody", 100, clock.now())
    )
    assert response.status_code == 422
    assert error_field(response) == "subject"


def test_a_patient_submits_their_own_check_in_but_not_someone_elses(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-4", "api-5")
    patient = api_client("patient", patient_id="api-4")
    own = patient.post(
        "/fhir/QuestionnaireResponse",
        json=diary("api-4", {"fatigue": 3}, clock.now()),
        headers=OUTCOME,
    )
    other = patient.post("/fhir/QuestionnaireResponse", json=diary("api-5", {}, clock.now()))
    assert own.status_code == 201
    assert new_alerts(own)
    assert other.status_code == 404
    with rt.transaction() as session:
        (event,) = list_events(session, kinds=["checkin_submitted"])
    assert event.payload["instrument"] == "symptom-diary"


def test_a_phq9_with_a_wrong_total_answers_422_naming_the_total(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-6")
    response = api_client("clinician").post(
        "/fhir/QuestionnaireResponse",
        json=phq9("api-6", [1, 1, 1, 1, 1, 1, 1, 1, 0], clock.now(), total=13),
    )
    assert response.status_code == 422
    assert error_field(response) == "item.44261-6"


def test_a_batch_bundle_answers_per_entry(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-7")
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": blood_pressure("api-7", 120, 80, clock.now()),
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": glucose("api-7", 100, clock.now() + timedelta(days=1)),
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": diary("api-7", {"pain": 4}, clock.now()),
                "request": {"method": "POST", "url": "QuestionnaireResponse"},
            },
        ],
    }
    reply = api_client("clinician").post("/fhir", json=bundle)
    assert reply.status_code == 200
    statuses = [e["response"]["status"] for e in reply.json()["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "201 Created"]
    assert reply.json()["entry"][1]["response"]["outcome"]["issue"][0]["expression"] == [
        "effectiveDateTime"
    ]


def test_a_transaction_bundle_is_all_or_nothing(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-8")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": blood_pressure("api-8", 190, 100, clock.now())},
            {"resource": glucose("api-8", 100, clock.now(), unit="g/L")},
        ],
    }
    nurse = api_client("clinician")
    reply = nurse.post("/fhir", json=bundle)
    assert reply.status_code == 400
    assert error_field(reply) == "entry[1].resource.Observation.valueQuantity.code"
    assert nurse.get("/api/worklist").json() == []


def test_acknowledge_assign_and_resolve_through_the_api(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-9")
    nurse = api_client("clinician")
    item = new_alerts(
        nurse.post("/fhir/Observation", json=glucose("api-9", 45, clock.now()), headers=OUTCOME)
    )[0]
    assigned = nurse.post(f"/api/alerts/{item}/assign", json={"assignee": "nurse-kim"})
    acked = nurse.post(f"/api/alerts/{item}/acknowledge")
    no_outcome = nurse.post(f"/api/alerts/{item}/resolve", json={"outcome": ""})
    resolved = nurse.post(
        f"/api/alerts/{item}/resolve", json={"outcome": "Called; juice taken, recheck 110"}
    )
    assert assigned.json()["assignee"] == "nurse-kim"
    assert acked.json()["status"] == "acknowledged"
    assert no_outcome.status_code == 422
    assert resolved.json()["status"] == "resolved"
    assert nurse.post(f"/api/alerts/{item}/acknowledge").status_code == 409
    assert nurse.get("/api/worklist").json() == []
    with rt.transaction() as session:
        kinds = [e.kind for e in list_events(session, patient_id="api-9")]
    assert {"alert_raised", "alert_assigned", "alert_acknowledged", "alert_resolved"} <= set(kinds)


def test_a_coordinator_works_tasks_but_not_clinical_alerts(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-10")
    item = new_alerts(
        api_client("clinician").post(
            "/fhir/Observation", json=glucose("api-10", 40, clock.now()), headers=OUTCOME
        )
    )[0]
    coordinator = api_client("coordinator")
    assert coordinator.get("/api/worklist").status_code == 200
    assert coordinator.post(f"/api/alerts/{item}/acknowledge").status_code == 403
    assert api_client("patient", patient_id="api-10").get("/api/worklist").status_code == 403


def test_the_worklist_filters_by_severity_and_program(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "api-11", "api-12")
    nurse = api_client("clinician")
    nurse.post("/fhir/Observation", json=glucose("api-11", 40, clock.now()))
    nurse.post("/fhir/QuestionnaireResponse", json=diary("api-12", {"diarrhea": 3}, clock.now()))
    everything = nurse.get("/api/worklist").json()
    assert [e["severity"] for e in everything] == ["urgent", "high"]
    assert [e["patient_id"] for e in nurse.get("/api/worklist?severity=high").json()] == ["api-12"]
    assert [e["rule_id"] for e in nurse.get("/api/worklist?program=diabetes-rpm").json()] == [
        "glucose-level-2-hypoglycemia"
    ]
    assert nurse.get("/api/worklist?team=oncology-nursing").json()[0]["proposals"]
