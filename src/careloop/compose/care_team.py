"""Composition at the edge: the care team's worklist and check-ins behind outreach's port.

Imported only by faces (CLI commands, the web router, the worker entry point), never by the
outreach services, so the dependency order (careteam above outreach) holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.outreach.ports import CareTeam, CheckinAnswer

ACTOR = "system:outreach"


@dataclass(frozen=True)
class WorklistCareTeam:
    """The real care team: ``careteam.alerts.create_task`` and ``careteam.intake``."""

    def create_task(
        self,
        session: Session,
        *,
        patient_id: str,
        rule_id: str,
        title: str,
        summary: str,
        program: str | None,
        now: datetime,
        urgent: bool = False,
    ) -> int | None:
        from careloop.careteam.alerts import create_task
        from careloop.clock import FrozenClock
        from careloop.feedback.ruleset import Severity

        raised = create_task(
            session,
            patient_id=patient_id,
            rule_id=rule_id,
            title=title,
            summary=summary,
            severity=Severity.HIGH if urgent else Severity.ROUTINE,
            clock=FrozenClock(now),
            actor=ACTOR,
            program=program,
            team="care-coordination",
        )
        return raised.item_id

    def checkin_reply(
        self, session: Session, *, patient_id: str, text: str, now: datetime, keypad: bool
    ) -> CheckinAnswer:
        from careloop.careteam.intake import handle_checkin_reply

        reply = handle_checkin_reply(
            session, patient_id=patient_id, text=text, now=now, keypad=keypad
        )
        if reply.conversation_id is None:
            return CheckinAnswer(handled=False)
        return CheckinAnswer(handled=True, reply_text=reply.message)

    def start_checkin(
        self, session: Session, *, patient_id: str, questionnaire: str, channel: str, now: datetime
    ) -> str | None:
        from careloop.careteam.intake import start_checkin
        from careloop.errors import NotFound

        try:
            _, prompt = start_checkin(
                session,
                patient_id=patient_id,
                questionnaire=questionnaire,
                now=now,
                channel=channel,
            )
        except NotFound:
            return None
        return prompt


def default_care_team() -> CareTeam:
    return WorklistCareTeam()
