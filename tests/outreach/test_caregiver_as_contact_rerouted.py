"""rev1 review of cgstop: "Send my reminders to my caregiver" is dropped after the caregiver's
STOP, and the patient's own phone is texted instead.

``audience._recipient`` sends a patient's messages to the first caregiver when the patient
stated ``caregiver_as_contact`` and falls back to the patient when no caregiver is reachable.
cgstop removes a stopped number from ``caregiver_recipients``, so after the caregiver's STOP
the fallback fires: the patient, who asked not to be texted directly, gets the next reminder
on her own phone, and nobody chose that (the task even says "the patient is still texted").
Before cgstop the STOP ended the texts. The patient's messages should then stop (or wait for
the care team), not change recipient.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tests.outreach.conftest import APPOINTMENTS, Loop, make_patient, program, reply

from careloop.channels.keywords import Keyword
from careloop.outreach.eligibility import Candidate
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime

PATIENT = "+15550100081"
CAREGIVER = "+15550100082"


def test_a_caregivers_stop_does_not_reroute_the_patients_reminders_to_her_own_phone(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="pc", phone=PATIENT, caregiver={"phone": CAREGIVER})
    with rt.transaction() as session:
        set_stated_preferences(
            session,
            clock=rt.clock,
            patient_id="pc",
            changes={"quiet_hours": "00-00", "caregiver_as_contact": True},
            actor="t",
        )
    visit = rt.clock.now() + timedelta(days=5)
    loop = make_loop(
        [program(APPOINTMENTS, actions={"channels": ["sms"]})],
        {
            "appointments-test": [
                Candidate(
                    "pc",
                    "Appointment/c1",
                    anchors={"appointment": visit},
                    fields={"appointment_at": visit.isoformat(), "appointment_place": "Clinic"},
                )
            ]
        },
    )
    loop.tick()
    loop.advance(timedelta(days=2))
    loop.tick()
    loop.advance(timedelta(hours=10))
    loop.work()
    assert PATIENT not in {s.message.to for s in loop.sms.sent}
    assert CAREGIVER in {s.message.to for s in loop.sms.sent}

    reply(loop, sender=CAREGIVER, body="STOP", keyword=Keyword.OPT_OUT, sid="SMcac-stop")
    loop.advance(timedelta(days=1, hours=18))
    loop.tick()
    loop.advance(timedelta(hours=12))
    loop.work()

    assert PATIENT not in {s.message.to for s in loop.sms.sent}
