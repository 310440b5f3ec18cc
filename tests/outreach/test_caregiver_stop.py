"""A caregiver's STOP stops texts to the caregiver's number, never the patient's own care.

Caregivers get copies of a patient's reminders. A STOP answering such a copy was taken as the
patient's own: the patient's SMS consent denied, their queued texts dead-lettered and their
journeys ended. Through the signed Twilio webhook and the worker, as in production.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.outreach.conftest import APPOINTMENTS, Loop, make_patient, program
from twilio.request_validator import RequestValidator

from careloop.conversations.caregiver_replies import STOPPED_RULE
from careloop.governance.consent import consent_decision
from careloop.models import Enrollment, OutboxMessage
from careloop.outreach.eligibility import Candidate
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime

TOKEN = "test-auth-token"
BASE = "http://127.0.0.1:8000"
PATIENT = "+15550100061"
CAREGIVER = "+15550100062"
SENDER = "+15550009999"


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__SMS__AUTH_TOKEN", TOKEN)


def _post(client: Any, body: str, sid: str, *, sender: str = CAREGIVER) -> Any:
    params = {"From": sender, "To": SENDER, "Body": body, "MessageSid": sid}
    path = "/webhooks/twilio/sms"
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def _copies_sent(rt: Runtime, make_loop: Callable[..., Loop]) -> Loop:
    """The 3-day reminder sent to the patient and, as a copy, to the caregiver."""
    make_patient(rt, patient_id="pa", phone=PATIENT, caregiver={"phone": CAREGIVER})
    with rt.transaction() as session:
        set_stated_preferences(
            session, clock=rt.clock, patient_id="pa", changes={"quiet_hours": "00-00"}, actor="t"
        )
    visit = rt.clock.now() + timedelta(days=5)
    loop = make_loop(
        [program(APPOINTMENTS, actions={"channels": ["sms"]})],
        {
            "appointments-test": [
                Candidate(
                    "pa",
                    "Appointment/a1",
                    anchors={"appointment": visit},
                    fields={"appointment_at": visit.isoformat(), "appointment_place": "Clinic"},
                )
            ]
        },
    )
    loop.tick()
    loop.advance(timedelta(days=2))
    loop.tick()
    loop.advance(timedelta(hours=10))  # the send window the engine chose
    loop.work()
    assert sorted(s.message.to for s in loop.sms.sent) == [PATIENT, CAREGIVER]
    return loop


def _rows(rt: Runtime) -> list[OutboxMessage]:
    with rt.transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_caregivers_stop_leaves_the_patients_consent_and_journey_alone(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    loop = _copies_sent(rt, make_loop)

    response = _post(api_client(None), "STOP", "SMcgstop")

    with rt.transaction() as session:
        decision = consent_decision(
            session, patient_id="pa", purpose="care-reminders", channel="sms", now=rt.clock.now()
        )
        enrollment = session.scalars(select(Enrollment)).one()
    assert response.status_code == 200
    assert decision.allowed
    assert enrollment.state not in ("opted-out", "responded")
    confirmations = [m for m in _rows(rt) if m.extra.get("transactional")]
    assert [(m.to_address, m.recipient_kind) for m in confirmations] == [(CAREGIVER, "caregiver")]
    assert (STOPPED_RULE, "A caregiver stopped texts; the patient is still texted") in loop.tasks()
