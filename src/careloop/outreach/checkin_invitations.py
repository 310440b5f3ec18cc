"""The program check-ins a patient was invited to and may still answer.

A check-in step's invitation goes by text as a conversation, but by email or the portal it
carries a link to the portal's check-in page (``checkin_link``): that page asks the
questionnaire of the step the patient was invited to, read here from their enrolments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.models import Enrollment
from careloop.outreach.config import OutreachSettings
from careloop.outreach.program_files import outreach_programs_by_name
from careloop.outreach.states import EnrollmentState


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckinInvitation:
    program: str
    questionnaire: str
    """The questionnaire id the check-in step asks."""
    invited_at: datetime
    """When the journey's latest step went out: an answer since then answers it."""


def checkin_invitations(
    session: Session, *, settings: OutreachSettings, patient_id: str
) -> list[CheckinInvitation]:
    """The patient's enrolments waiting for an answer (``contacted``) whose journey has
    reached a check-in step, latest first. The programs are looked at only when there is one,
    and read again only when their files changed (:mod:`.program_files`)."""
    waiting = session.scalars(
        select(Enrollment)
        .where(
            Enrollment.patient_id == patient_id,
            Enrollment.state == EnrollmentState.CONTACTED,
            Enrollment.last_step_at.is_not(None),
        )
        .order_by(Enrollment.last_step_at.desc())
    ).all()
    if not waiting:
        return []
    programs = outreach_programs_by_name(settings)
    found = []
    for row in waiting:
        program = programs.get(row.program)
        reached = program.steps[: row.next_step] if program is not None else ()
        asked = [step.questionnaire for step in reached if step.questionnaire]
        if asked and row.last_step_at is not None:
            found.append(
                CheckinInvitation(
                    program=row.program, questionnaire=asked[-1], invited_at=row.last_step_at
                )
            )
    return found
