"""The R4 REST server as an integration engineer tries it: the SMART on FHIR python client
(``fhirclient``) and plain HTTP, every answer validated with ``fhir.resources``."""

from __future__ import annotations

from pathlib import Path

import httpx
from fhirclient import client
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient

from careloop.clock import FrozenClock
from careloop.events import list_events
from careloop.models import AuditEvent
from tests.feedback.loop_payloads import LOINC, blood_pressure, glucose
from tests.fhir.conftest import MRN, FhirServer, add_patients, valid


def _client(server: FhirServer, role: str = "clinician") -> client.FHIRClient:
    smart = client.FHIRClient(settings={"app_id": "careloop-tests", "api_base": server.url + "/"})
    smart.server.session.headers["Authorization"] = f"Bearer {server.token(role)}"
    return smart


def test_a_clinician_reads_capability_finds_a_patient_creates_and_follows_an_observation(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "fc-1", "fc-2")
    smart = _client(fhir_server)
    capability = smart.server.capabilityStatement
    assert capability.fhirVersion == "4.0.1"
    served = {r.type: r for r in capability.rest[0].resource}
    assert {"Patient", "Observation", "Flag", "Task", "CarePlan", "Communication"} <= set(served)
    assert {p.name for p in served["Patient"].searchParam} >= {"identifier", "name", "birthdate"}

    patient = Patient.read("fc-1", smart.server)
    assert patient.id == "fc-1"
    found = list(Patient.where({"identifier": f"{MRN}|fc-1"}).perform_resources_iter(smart.server))
    assert [p.id for p in found] == ["fc-1"]

    body = blood_pressure("fc-1", 128, 82, clock.now())
    del body["id"]  # the server assigns it
    reading = Observation(body)
    created = reading.create(smart.server)
    assert created["resourceType"] == "Observation"
    by_patient = list(
        Observation.where({"patient": "fc-1", "code": f"{LOINC}|85354-9"}).perform_resources_iter(
            smart.server
        )
    )
    assert [o.id for o in by_patient] == [created["id"]]


def test_create_answers_201_with_the_resource_and_a_location_that_resolves(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "loc-1")
    with fhir_server.http("clinician") as http:
        created = http.post(
            "/fhir/Observation".removeprefix("/fhir"), json=glucose("loc-1", 100, clock.now())
        )
        followed = http.get(created.headers["location"])
        plain = http.get(f"/Observation/{created.json()['id']}")
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/fhir+json")
    assert valid(created.json())["meta"]["versionId"]
    assert followed.status_code == 200
    assert followed.json() == created.json()
    assert plain.headers["etag"] == f'W/"{created.json()["meta"]["versionId"]}"'


def test_if_none_exist_makes_a_device_upload_idempotent(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "idem-1")
    reading = glucose("idem-1", 100, clock.now())
    reading["identifier"] = [{"system": "urn:meter:42", "value": "r-1"}]
    resent = dict(reading, id="another-id")
    condition = {"If-None-Exist": "identifier=urn:meter:42|r-1"}
    with fhir_server.http("clinician") as http:
        first = http.post("/Observation", json=reading, headers=condition)
        second = http.post("/Observation", json=resent, headers=condition)
        total = http.get("/Observation", params={"patient": "idem-1"}).json()["total"]
    assert (first.status_code, second.status_code, total) == (201, 200, 1)
    assert second.json()["id"] == reading["id"]


def test_an_observation_without_subject_or_code_is_a_4xx_operation_outcome(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "bad-1")
    no_subject = glucose("bad-1", 100, clock.now())
    del no_subject["subject"]
    no_code = glucose("bad-1", 100, clock.now())
    del no_code["code"]
    with fhir_server.http("clinician") as http:
        answers = [http.post("/Observation", json=body) for body in (no_subject, no_code)]
    assert [a.status_code for a in answers] == [422, 422]
    assert [valid(a.json())["issue"][0]["expression"][0] for a in answers] == ["subject", "code"]
    with fhir_server.rt.transaction() as session:
        assert len(list_events(session, kinds=["reading_rejected"])) == 2


def test_the_crisis_alert_reads_as_a_flag_and_a_task_of_the_patient(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "crisis-1")
    with fhir_server.http("clinician") as http:
        posted = http.post(
            "/Observation",
            json=blood_pressure("crisis-1", 192, 104, clock.now()),
            headers={"Prefer": "return=OperationOutcome"},
        )
        flags = valid(http.get("/Flag", params={"patient": "crisis-1", "status": "active"}).json())
        tasks = valid(http.get("/Task", params={"patient": "Patient/crisis-1"}).json())
    assert posted.status_code == 201
    notes = [i["diagnostics"] for i in valid(posted.json())["issue"]]
    assert "tell the patient now: advice bp_crisis" in notes  # the app shows the advice
    (flag_ref,) = [n.removeprefix("alert raised: ") for n in notes if n.startswith("alert raised")]
    (flag,) = [e["resource"] for e in flags["entry"]]
    (task,) = [e["resource"] for e in tasks["entry"]]
    assert f"Flag/{flag['id']}" == flag_ref
    assert flag["code"]["coding"][0]["code"] == "bp-crisis"
    assert (task["focus"]["reference"], task["priority"], task["status"]) == (
        flag_ref,
        "stat",
        "requested",
    )


def test_search_pages_with_next_links_and_sorts(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "page-1")
    from datetime import timedelta

    with fhir_server.http("clinician") as http:
        for day in range(5):
            at = clock.now() - timedelta(days=day)
            http.post("/Observation", json=glucose("page-1", 100 + day, at))
        first = valid(
            http.get(
                "/Observation", params={"patient": "page-1", "_count": 2, "_sort": "-date"}
            ).json()
        )
        pages = [first]
        while next_link := [x["url"] for x in pages[-1]["link"] if x["relation"] == "next"]:
            pages.append(valid(http.get(next_link[0]).json()))
        since = http.get(
            "/Observation",
            params={
                "patient": "page-1",
                "date": "ge" + (clock.now() - timedelta(days=1)).date().isoformat(),
            },
        )
    dates = [e["resource"]["effectiveDateTime"] for p in pages for e in p["entry"]]
    assert [len(p["entry"]) for p in pages] == [2, 2, 1]
    assert dates == sorted(dates, reverse=True)
    assert first["total"] == 5
    assert since.json()["total"] == 2


def test_include_brings_the_patient_and_every_read_is_audited(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "inc-1")
    with fhir_server.http("clinician") as http:
        http.post("/Observation", json=glucose("inc-1", 100, clock.now()))
        bundle = valid(
            http.get(
                "/Observation", params={"patient": "inc-1", "_include": "Observation:patient"}
            ).json()
        )
    modes = [(e["search"]["mode"], e["resource"]["resourceType"]) for e in bundle["entry"]]
    assert modes == [("match", "Observation"), ("include", "Patient")]
    with fhir_server.rt.transaction() as session:
        reads = session.query(AuditEvent).filter(AuditEvent.resource == "fhir:Observation").all()
    assert [(r.action, r.patient_id) for r in reads] == [("read", "inc-1")]


def test_errors_are_operation_outcomes_naming_the_element(fhir_server: FhirServer) -> None:
    with fhir_server.http("clinician") as http:
        unknown_param = http.get("/Patient", params={"shoe-size": "9"})
        bad_date = http.get("/Observation", params={"date": "yesterday"})
        unknown_type = http.get("/Spaceship/1")
        missing = http.get("/Patient/nobody")
    anonymous = httpx.get(fhir_server.url + "/Patient")
    assert [r.status_code for r in (unknown_param, bad_date, unknown_type, missing, anonymous)] == [
        400,
        400,
        404,
        404,
        401,
    ]
    assert valid(unknown_param.json())["issue"][0]["expression"] == ["shoe-size"]
    assert valid(bad_date.json())["issue"][0]["expression"] == ["date"]
    for answer in (unknown_type, missing, anonymous):
        assert valid(answer.json())["resourceType"] == "OperationOutcome"


def test_a_patient_reaches_only_their_own_resources(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "own-1", "own-2")
    with fhir_server.http("clinician") as nurse:
        theirs = nurse.post("/Observation", json=glucose("own-2", 100, clock.now())).json()["id"]
    with fhir_server.http("patient", patient_id="own-1") as me:
        patients = me.get("/Patient").json()
        other = me.get(f"/Observation/{theirs}")
    assert [e["resource"]["id"] for e in patients["entry"]] == ["own-1"]
    assert other.status_code == 404


def test_search_by_name_and_birthdate_in_a_form_body_keeps_phi_out_of_the_url(
    fhir_server: FhirServer, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "post-1", "post-2")
    with fhir_server.http("clinician") as http:
        by_post = http.post("/Patient/_search", data={"name": "family1", "birthdate": "1951-03-01"})
        by_phone = http.get("/Patient", params={"telecom": "+16175550000"})
        bad = http.post("/Patient/_search", data={"birthdate": "1951-13-45"})
    assert [e["resource"]["id"] for e in valid(by_post.json())["entry"]] == ["post-2"]
    assert [e["resource"]["id"] for e in by_phone.json()["entry"]] == ["post-1"]
    assert bad.status_code == 400
    assert "1951" not in bad.text
