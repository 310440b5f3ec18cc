"""A caregiver's STOP stops texts to the caregiver's number, never the patient's own care.

Caregivers get copies of a patient's reminders. A STOP answering such a copy was taken as the
patient's own: the patient's SMS consent denied, their queued texts dead-lettered and their
journeys ended. Through the signed Twilio webhook and the worker, as in production.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.outreach.conftest import APPOINTMENTS, Loop, make_patient, program, reply
from tests.outreach.test_outreach_webhooks import _post as signed_post
from tests.outreach.test_outreach_webhooks import twilio_token

from careloop.channels.keywords import Keyword
from careloop.conversations.caregiver_replies import STOPPED_RULE, STOPPED_TITLE
from careloop.governance.consent import consent_decision
from careloop.models import Enrollment, InboundReply, NumberOptOut, OutboxMessage
from careloop.outreach.eligibility import Candidate
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime

PATIENT = "+15550100061"
CAREGIVER = "+15550100062"
SENDER = "+15550009999"
__all__ = ["twilio_token"]  # the webhook tests' fixture: the auth token the signature uses


def _post(client: Any, body: str, sid: str, *, sender: str = CAREGIVER) -> Any:
    params = {"From": sender, "To": SENDER, "Body": body, "MessageSid": sid}
    return signed_post(client, "/webhooks/twilio/sms", params)


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


def test_after_a_caregivers_stop_only_the_patient_is_texted(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    api_client: Callable[..., Any],
) -> None:
    loop = _copies_sent(rt, make_loop)
    _post(api_client(None), "STOP", "SMcgstop2")
    now = loop.clock.now()
    with rt.transaction() as session:  # a copy queued by another path, due now
        enqueue(
            session,
            message=NewMessage(
                idempotency_key="late-copy:cg:pa-cg",
                patient_id="pa",
                purpose="care-reminders",
                channel="sms",
                to_address=CAREGIVER,
                body="Reminder: Rosa has a visit.",
                due_at=now,
                recipient_kind="caregiver",
                caregiver_id="pa-cg",
            ),
            now=now,
        )
    loop.advance(timedelta(days=1, hours=18))  # the 1-day reminder's turn
    loop.tick()
    # The worker ``careloop worker --once`` builds (compose.worker.build_worker), pass after
    # pass through the day: the send window is the engine's choice, learned from what the
    # database holds, so the test does not guess it.
    for _hour in range(24):
        loop.work()
        if any(m.step == "remind-1d" and m.state != "queued" for m in _rows(rt)):
            break
        loop.advance(timedelta(hours=1))

    after = [(m.step, m.recipient_kind, m.to_address, m.state, m.dead_reason) for m in _rows(rt)]
    remind_1d = [a for a in after if a[0] == "remind-1d"]
    assert remind_1d == [("remind-1d", "patient", PATIENT, "sent", None)]
    assert (None, "caregiver", CAREGIVER, "dead", "number-opted-out") in after
    confirmation = [a for a in after if a[0] is None and a[3] == "sent"]
    assert confirmation == [(None, "caregiver", CAREGIVER, "sent", None)]


def test_start_from_the_caregiver_brings_the_copies_back(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    loop = _copies_sent(rt, make_loop)
    client = api_client(None)
    _post(client, "STOP", "SMcg-a")
    _post(client, "START", "SMcg-b")
    loop.advance(timedelta(days=1, hours=18))
    loop.tick()

    copies = [m for m in _rows(rt) if m.step == "remind-1d"]
    answers = [m.content_message for m in _rows(rt) if m.extra.get("transactional")]
    with rt.transaction() as session:
        history = [r.status for r in session.scalars(select(NumberOptOut))]
    assert sorted(m.to_address for m in copies) == [PATIENT, CAREGIVER]
    assert answers == ["opt_out_confirmation", "opt_in_confirmation"]
    assert history == ["denied", "granted"]


def test_a_number_that_is_a_patients_own_too_stops_in_both_roles(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    """The caregiver is a patient as well, with the same mobile: conservative, everything to
    that number stops; the patient they care for is still texted."""
    loop = _copies_sent(rt, make_loop)
    make_patient(rt, patient_id="pb", phone=CAREGIVER)

    _post(api_client(None), "STOP", "SMcg-both")

    with rt.transaction() as session:
        own, cared_for = (
            consent_decision(
                session, patient_id=p, purpose="care-reminders", channel="sms", now=rt.clock.now()
            ).allowed
            for p in ("pb", "pa")
        )
    assert (own, cared_for) == (False, True)
    assert (STOPPED_RULE, STOPPED_TITLE) in loop.tasks()


def test_a_caregivers_words_go_to_a_person_not_into_the_patients_answers(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    loop = _copies_sent(rt, make_loop)

    _post(api_client(None), "She is feeling much worse today", "SMcg-words")

    with rt.transaction() as session:
        stored = session.scalars(select(InboundReply)).one()
    assert ("outreach-reply", "Read the caregiver's reply") in loop.tasks()
    assert stored.handled_as == "care-team-inbox"


def test_the_console_shows_the_caregiver_who_stopped_texts(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    _copies_sent(rt, make_loop)
    _post(api_client(None), "STOP", "SMcg-console")

    page = api_client("clinician").get("/console/patients/pa")

    assert page.status_code == 200, page.text
    assert 'data-testid="caregiver-stopped">Replied STOP' in page.text


STEPS = st.lists(st.sampled_from(["copy", "own", "stop", "start", "work"]), max_size=12)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_no_copy_ever_goes_to_a_number_after_its_stop(
    rt: Runtime, make_loop: Callable[..., Loop], steps: list[str]
) -> None:
    """Whatever the order of copies queued, STOPs, STARTs and worker passes: a worker pass
    while the caregiver's last word is STOP texts the number nothing but a keyword's answer,
    and every text to the patient goes."""
    tag = uuid.uuid4().hex[:8]
    patient, caregiver = f"h-{tag}", f"+1555{int(tag, 16) % 10**7:07d}"
    own_phone = f"+1666{int(tag, 16) % 10**7:07d}"
    make_patient(
        rt,
        patient_id=patient,
        phone=own_phone,
        caregiver={"phone": caregiver},
    )
    loop = make_loop([], {})
    stopped = False
    for i, step in enumerate([*steps, "work"]):
        now = loop.clock.now()
        if step in ("copy", "own"):
            to_carer = step == "copy"
            with rt.transaction() as session:
                enqueue(
                    session,
                    message=NewMessage(
                        idempotency_key=f"{step}:{tag}:{i}",
                        patient_id=patient,
                        purpose="care-reminders",
                        channel="sms",
                        to_address=caregiver if to_carer else own_phone,
                        body="Reminder: a visit on Tuesday.",
                        due_at=now,
                        recipient_kind="caregiver" if to_carer else "patient",
                        caregiver_id=f"{patient}-cg" if to_carer else None,
                    ),
                    now=now,
                )
        elif step in ("stop", "start"):
            keyword = Keyword.OPT_OUT if step == "stop" else Keyword.OPT_IN
            reply(loop, sender=caregiver, body=step.upper(), keyword=keyword, sid=f"{tag}{i}")
            stopped = step == "stop"
        else:
            before = len(loop.sms.sent)
            loop.work()
            copies = [
                s.message.idempotency_key
                for s in loop.sms.sent[before:]
                if s.message.to == caregiver and not s.message.idempotency_key.startswith("reply:")
            ]
            assert not (stopped and copies), copies
        loop.advance(timedelta(minutes=1))
    with rt.transaction() as session:
        own = session.scalars(
            select(OutboxMessage.dead_reason).where(
                OutboxMessage.idempotency_key.like(f"own:{tag}:%")
            )
        ).all()
    # The patient's own texts are never refused for the caregiver's word (the contact
    # budget may hold some back: that is the patient's own limit, not the STOP).
    assert set(own) <= {None, "over-budget"}
