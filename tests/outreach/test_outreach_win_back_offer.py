"""The win-back message's first words follow the enrolment's ``help_offer`` (issue 25)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from tests.outreach.conftest import SCREENING, Loop, make_patient, program

from careloop.models import OutboxMessage
from careloop.outreach.eligibility import Candidate
from careloop.runtime import Runtime

WIN_BACK = program(
    SCREENING,
    name="win-back-test",
    actions={"channels": ["sms"]},
    steps=[{"id": "invite", "message": "win_back_invite", "wait": {"after": "enrollment"}}],
)


def test_the_sms_leads_with_the_enrolments_help_or_the_generic_words(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="wb-ride", phone="+15550100011")
    make_patient(rt, patient_id="wb-es", phone="+15550100012", language="es")
    make_patient(rt, patient_id="wb-none", phone="+15550100013")
    loop = make_loop(
        [WIN_BACK],
        {
            "win-back-test": [
                Candidate("wb-ride", "period:2026", fields={"help_offer": "ride"}),
                Candidate("wb-es", "period:2026", fields={"help_offer": "ride"}),
                # an enrolment made by hand carries no reason: the generic words
                Candidate("wb-none", "period:2026"),
            ]
        },
    )
    loop.tick()
    with rt.transaction() as session:
        bodies = dict(
            session.execute(
                select(OutboxMessage.patient_id, OutboxMessage.body).where(
                    OutboxMessage.channel == "sms"
                )
            ).all()
        )
    assert set(bodies) == {"wb-ride", "wb-es", "wb-none"}
    # first after the greeting ("Hi Rosa! " or "Riverside Clinic: ")
    assert 0 < bodies["wb-ride"].index("We can arrange a ride to your visit.") < 25
    assert 0 < bodies["wb-es"].index("Le podemos dar transporte a su cita.") < 25
    generic = ("We have not seen you", "It has been a while", "Your care team has not seen")
    assert any(0 < bodies["wb-none"].find(words) < 25 for words in generic)
    assert "ride to your visit" not in bodies["wb-none"]
    assert "transportation" not in " ".join(bodies.values()).lower()
