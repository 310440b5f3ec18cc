"""What outreach needs from the care team, behind a small protocol.

The care team sits above outreach in the dependency order (its worklist uses outreach), so
outreach never imports it: the edge (CLI, web app, worker) passes an implementation in.
:class:`RecordingCareTeam` is the in-memory one for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class CheckinAnswer:
    """What a check-in in progress made of a reply: the message to send back (if any)."""

    handled: bool
    reply_text: str | None = None


class CareTeam(Protocol):
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
        """Put a task on the worklist (a call to make, a reply to read); its id."""
        ...

    def checkin_reply(
        self, session: Session, *, patient_id: str, text: str, now: datetime, keypad: bool
    ) -> CheckinAnswer:
        """Hand a reply to a check-in in progress; ``handled=False`` when none is open."""
        ...

    def start_checkin(
        self, session: Session, *, patient_id: str, questionnaire: str, channel: str, now: datetime
    ) -> str | None:
        """Open a check-in conversation; its first question (None: unknown questionnaire)."""
        ...


@dataclass
class RecordingCareTeam:
    """Keeps tasks in a list and has no check-ins open (unless ``checkin_open``)."""

    tasks: list[dict[str, object]] = field(default_factory=list)
    checkin_open: bool = False
    checkin_replies: list[str] = field(default_factory=list)

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
        self.tasks.append({"patient_id": patient_id, "rule_id": rule_id, "title": title})
        return len(self.tasks)

    def checkin_reply(
        self, session: Session, *, patient_id: str, text: str, now: datetime, keypad: bool
    ) -> CheckinAnswer:
        if not self.checkin_open:
            return CheckinAnswer(handled=False)
        self.checkin_replies.append(text)
        return CheckinAnswer(handled=True, reply_text="Thank you.")

    def start_checkin(
        self, session: Session, *, patient_id: str, questionnaire: str, channel: str, now: datetime
    ) -> str | None:
        self.checkin_open = True
        return f"{questionnaire}: question 1 of 3. Reply with a number from 0 to 10."
