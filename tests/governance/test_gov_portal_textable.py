"""Portal sign-in texts a code only to a number that can take a text (issue 15, item 1).

A patient's home phone (FHIR ``use=home``) may be a landline: enrolling it for texts is
refused, naming the field and why, without the number; a home line enrolled before the rule
(or whose record changed since) gets no code, with the same answer an unknown number gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.governance.conftest import _patient, enrol, load

from careloop.crypto import signing_key
from careloop.governance.portal import InMemoryCodeSender, contact_digest
from careloop.models import PortalContact
from careloop.runtime import Runtime

PATIENT_H = "gov-pat-home"
CARER_H = "gov-rp-home"
H_HOME = "+15550100131"
H_WORK = "+15550100132"
H_MOBILE = "+15550100133"
CARER_HOME = "+15550100134"
REFUSED = "this number is a home line; texts need a mobile number"


@pytest.fixture
def homes(rt: Runtime, tmp_path: Path) -> Runtime:
    """The governance population plus a patient with a home, a work and a mobile number,
    and her caregiver who has only a home line."""
    patient = _patient(
        PATIENT_H,
        given="Hana",
        telecom=[
            {"system": "phone", "value": H_HOME, "use": "home"},
            {"system": "phone", "value": H_WORK, "use": "work"},
            {"system": "phone", "value": H_MOBILE, "use": "mobile"},
        ],
    )
    carer = {
        "resourceType": "RelatedPerson",
        "id": CARER_H,
        "patient": {"reference": f"Patient/{PATIENT_H}"},
        "name": [{"given": ["Hugo"], "family": "Govtest"}],
        "telecom": [{"system": "phone", "value": CARER_HOME, "use": "home"}],
    }
    load(rt, tmp_path, patient, carer)
    return rt


def _enrolment(api_client: Any, value: str, **extra: str) -> Any:
    staff = api_client("coordinator")
    return staff.post(
        f"/api/patients/{PATIENT_H}/portal-contacts",
        json={"system": "sms", "value": value, **extra},
    )


def test_enrolling_a_home_line_for_texts_is_refused_naming_the_field_and_why(
    homes: Runtime, api_client: Any
) -> None:
    refused = _enrolment(api_client, "(555) 010-0131")
    assert refused.status_code == 422
    assert refused.json()["field"] == "value"
    assert REFUSED in refused.text
    assert "0131" not in refused.text  # the number is PHI: never in the answer
    work = _enrolment(api_client, H_WORK)
    assert work.status_code == 422
    assert "this number is a work line; texts need a mobile number" in work.text
    assert _enrolment(api_client, H_MOBILE).status_code == 201


def test_a_caregivers_home_line_is_not_enrolled_for_texts(homes: Runtime, api_client: Any) -> None:
    refused = _enrolment(api_client, CARER_HOME, caregiver_id=CARER_H)
    assert refused.status_code == 422
    assert REFUSED in refused.text


def test_the_console_invite_never_texts_a_home_line(
    homes: Runtime, api_client: Any, sender: InMemoryCodeSender
) -> None:
    """The record's home line is never the invite's number: the mobile gets the code."""
    staff = api_client("coordinator")
    staff.app.state.code_sender = sender
    sent = staff.post(
        f"/console/patients/{PATIENT_H}/portal-invite",
        data={"channel": "sms"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert "invite=sent" in sent.headers["location"]
    assert [(channel, to) for channel, to, _ in sender.sent] == [("sms", H_MOBILE)]


def test_a_home_line_enrolled_before_the_rule_gets_no_sign_in_code(
    homes: Runtime, api_client: Any, sender: InMemoryCodeSender
) -> None:
    """An enrolment written before the rule (as main wrote it) must not keep receiving
    codes: the answer is the one an unknown number gets, and nothing is texted."""
    enrol(homes, patient_id=PATIENT_H, system="sms", value=H_MOBILE)
    key = signing_key(homes.settings)
    with homes.transaction() as session:
        mobile = session.scalars(select(PortalContact)).one()
        session.add(
            PortalContact(
                digest=contact_digest(key, "sms", H_HOME),
                system="sms",
                value=H_HOME,
                user_id=mobile.user_id,
                patient_id=PATIENT_H,
                caregiver_id=None,
                verified_at=mobile.verified_at,
                verified_by="user:before-the-rule",
            )
        )
    client = api_client(None)
    client.app.state.code_sender = sender
    home = client.post("/api/portal/code", json={"system": "sms", "value": H_HOME})
    unknown = client.post("/api/portal/code", json={"system": "sms", "value": "+15559990000"})
    assert home.status_code == unknown.status_code == 202
    assert home.json()["message"] == unknown.json()["message"]
    assert sender.sent == []
    client.post("/api/portal/code", json={"system": "sms", "value": H_MOBILE})
    assert [to for _channel, to, _code in sender.sent] == [H_MOBILE]


def test_a_number_the_record_now_calls_a_home_line_gets_no_code(
    homes: Runtime, api_client: Any, sender: InMemoryCodeSender, tmp_path: Path
) -> None:
    """Enrolled as a mobile, then the EHR says the number is the home line: codes stop."""
    enrol(homes, patient_id=PATIENT_H, system="sms", value=H_MOBILE)
    moved = _patient(
        PATIENT_H,
        given="Hana",
        telecom=[{"system": "phone", "value": H_MOBILE, "use": "home"}],
    )
    load(homes, tmp_path, moved)
    client = api_client(None)
    client.app.state.code_sender = sender
    asked = client.post("/api/portal/code", json={"system": "sms", "value": H_MOBILE})
    assert asked.status_code == 202
    assert sender.sent == []
