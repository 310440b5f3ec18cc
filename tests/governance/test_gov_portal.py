"""Portal sign-in by one-time code, and caregivers acting only within a proxy grant."""

from __future__ import annotations

from datetime import timedelta

from tests.governance.conftest import (
    A_EMAIL,
    A_PHONE,
    CAREGIVER_A,
    CAREGIVER_PHONE,
    PATIENT_A,
    PATIENT_B,
    enrol,
)

from careloop.clock import FrozenClock
from careloop.governance.portal import InMemoryCodeSender
from careloop.runtime import Runtime


def test_a_patient_signs_in_by_code_and_reaches_only_their_record(
    population: Runtime, portal_client, sender: InMemoryCodeSender
) -> None:  # type: ignore[no-untyped-def]
    enrol(population, patient_id=PATIENT_A, system="email", value=A_EMAIL)
    client = portal_client("email", "alma.govtest@EXAMPLE.org ")
    assert sender.sent[-1][:2] == ("email", A_EMAIL.lower())
    assert client.get("/api/auth/me").json()["patient_ids"] == [PATIENT_A]
    assert client.get(f"/api/patients/{PATIENT_A}").status_code == 200
    assert client.get(f"/api/patients/{PATIENT_B}").status_code == 404


def test_an_unknown_contact_gets_the_same_answer_and_no_code(
    population: Runtime, api_client, sender: InMemoryCodeSender
) -> None:  # type: ignore[no-untyped-def]
    enrol(population, patient_id=PATIENT_A, system="sms", value=A_PHONE)
    client = api_client(None)
    client.app.state.code_sender = sender
    known = client.post("/api/portal/code", json={"system": "sms", "value": A_PHONE})
    unknown = client.post("/api/portal/code", json={"system": "sms", "value": "+15559990000"})
    assert known.status_code == unknown.status_code == 202
    assert set(known.json()) == set(unknown.json())
    assert known.json()["message"] == unknown.json()["message"]
    assert len(sender.sent) == 1


def test_five_wrong_codes_burn_the_challenge(
    population: Runtime, api_client, sender: InMemoryCodeSender
) -> None:  # type: ignore[no-untyped-def]
    enrol(population, patient_id=PATIENT_A, system="sms", value=A_PHONE)
    client = api_client(None)
    client.app.state.code_sender = sender
    challenge = client.post("/api/portal/code", json={"system": "sms", "value": A_PHONE}).json()
    code = sender.sent[-1][2]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        body = {"challenge_id": challenge["challenge_id"], "code": wrong}
        assert client.post("/api/portal/verify", json=body).status_code == 401
    right = {"challenge_id": challenge["challenge_id"], "code": code}
    assert client.post("/api/portal/verify", json=right).status_code == 401


def test_a_code_expires_after_ten_minutes(
    population: Runtime, api_client, sender: InMemoryCodeSender, clock: FrozenClock
) -> None:  # type: ignore[no-untyped-def]
    enrol(population, patient_id=PATIENT_A, system="sms", value=A_PHONE)
    client = api_client(None)
    client.app.state.code_sender = sender
    challenge = client.post("/api/portal/code", json={"system": "sms", "value": A_PHONE}).json()
    clock.advance(timedelta(minutes=10, seconds=1))
    body = {"challenge_id": challenge["challenge_id"], "code": sender.sent[-1][2]}
    assert client.post("/api/portal/verify", json=body).status_code == 401


def test_code_requests_are_rate_limited_per_contact_point(
    population: Runtime, api_client, sender: InMemoryCodeSender
) -> None:  # type: ignore[no-untyped-def]
    client = api_client(None)
    client.app.state.code_sender = sender
    answers = [
        client.post("/api/portal/code", json={"system": "sms", "value": A_PHONE}).status_code
        for _ in range(4)
    ]
    assert answers == [202, 202, 202, 429]


def test_a_portal_token_expires(population: Runtime, portal_client, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    enrol(population, patient_id=PATIENT_A, system="sms", value=A_PHONE)
    client = portal_client("sms", A_PHONE)
    clock.advance(timedelta(minutes=31))
    assert client.get(f"/api/patients/{PATIENT_A}").status_code == 401


def test_a_caregiver_acts_only_within_the_granted_scope_until_revoked(
    population: Runtime, portal_client, api_client
) -> None:  # type: ignore[no-untyped-def]
    enrol(
        population,
        patient_id=PATIENT_A,
        system="sms",
        value=CAREGIVER_PHONE,
        caregiver_id=CAREGIVER_A,
    )
    caregiver = portal_client("sms", CAREGIVER_PHONE)
    assert caregiver.get(f"/api/patients/{PATIENT_A}").status_code == 404
    patient = api_client("patient", patient_id=PATIENT_A)
    grant = patient.post(
        f"/api/patients/{PATIENT_A}/proxy-grants",
        json={"caregiver_id": CAREGIVER_A, "scopes": ["messages"]},
    )
    assert grant.status_code == 201
    assert caregiver.get(f"/api/patients/{PATIENT_A}").status_code == 404
    regrant = patient.post(
        f"/api/patients/{PATIENT_A}/proxy-grants",
        json={"caregiver_id": CAREGIVER_A, "scopes": ["record", "consent"]},
    )
    assert caregiver.get(f"/api/patients/{PATIENT_A}").status_code == 200
    assert caregiver.get(f"/api/patients/{PATIENT_A}/consent").status_code == 200
    assert caregiver.get(f"/api/patients/{PATIENT_B}").status_code == 404
    assert caregiver.get(f"/api/patients/{PATIENT_A}/proxy-grants").status_code == 403
    revoked = patient.delete(f"/api/patients/{PATIENT_A}/proxy-grants/{regrant.json()['id']}")
    assert revoked.status_code == 200
    assert caregiver.get(f"/api/patients/{PATIENT_A}").status_code == 404


def test_only_contact_points_on_the_record_can_be_enrolled(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    staff = api_client("coordinator")
    ok = staff.post(
        f"/api/patients/{PATIENT_A}/portal-contacts", json={"system": "sms", "value": A_PHONE}
    )
    assert ok.status_code == 201
    foreign = staff.post(
        f"/api/patients/{PATIENT_A}/portal-contacts",
        json={"system": "email", "value": "someone.else@example.org"},
    )
    assert foreign.status_code == 422
    assert foreign.json()["field"] == "value"


def test_a_server_without_a_secret_key_finds_contacts_another_process_enrolled(
    population: Runtime,
) -> None:
    """`make demo` enrols a portal contact in its own process; `careloop serve` (no secret
    configured, so a random key of its own) must still send that patient a code."""
    from careloop.governance.portal import adopt_process_key, request_code

    enrol(population, patient_id=PATIENT_A, system="sms", value=A_PHONE)  # the demo's key
    serving_key = b"k" * 32  # the server process's own random key
    now = population.clock.now()
    with population.transaction() as session:
        assert (
            request_code(session, key=serving_key, system="sms", value=A_PHONE, now=now)[1] is None
        )
        assert adopt_process_key(session, key=serving_key, configured=True) == 0
        assert adopt_process_key(session, key=serving_key, configured=False) == 1
        _challenge, pending = request_code(
            session, key=serving_key, system="sms", value=A_PHONE, now=now
        )
    assert pending is not None
    assert pending.to == "+15550100101"  # A_PHONE, as stored
