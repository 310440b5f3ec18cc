"""A reply card's conversation: what the patient (or caregiver) wrote, in its context.

A task "read the patient's reply" used to show only the latest text; a nurse answering it
needs what was asked and answered before. The card shows the last few messages (minimum
necessary: the whole history is the patient page's Messages panel), oldest first, each with
its time, channel and who wrote it, and the page audits the read as message content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from careloop.careteam.worklist import WorklistEntry
from careloop.conversations.free_text import RED_FLAG_RULE
from careloop.outreach.messages import ConversationItem, recent_conversations
from careloop.security.principal import Principal

REPLY_RULE = "outreach-reply"
REPLY_RULES = frozenset({REPLY_RULE, RED_FLAG_RULE})
THREAD_LENGTH = 6
"""Messages a reply card shows."""
REPLY_REF = re.compile(r"\s*\(reply #(?P<id>[^)\s]+)\)")
"""How a task's summary names the reply it is about (by its provider id)."""


@dataclass(frozen=True)
class ThreadLine:
    """One message of a reply card's conversation: when, by which channel, who wrote it."""

    message: ConversationItem
    who: str


class HasThread(Protocol):
    @property
    def entry(self) -> WorklistEntry: ...
    @property
    def thread(self) -> tuple[ThreadLine, ...]: ...


def about_a_reply(entry: WorklistEntry) -> bool:
    """A task to read what a patient (or caregiver) wrote."""
    summary = str((entry.latest or {}).get("summary") or "")
    return bool(entry.patient_id) and (
        entry.rule_id in REPLY_RULES or REPLY_REF.search(summary) is not None
    )


def _who_wrote(item: ConversationItem, names: Mapping[str, str]) -> str:
    if item.direction == "in":
        if item.sender_kind == "caregiver":
            return item.sender_name or "Caregiver"
        return "Patient"
    to = " (to the caregiver)" if item.recipient_kind == "caregiver" else ""
    if item.from_care_team:
        author = names.get(item.author or "", "") if item.author else ""
        return f"Care team{f', {author}' if author else ''}{to}"
    return f"careloop, automated{to}"


def reply_threads(
    session: Session,
    entries: list[WorklistEntry],
    principal: Principal,
    names: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, tuple[ThreadLine, ...]]:
    """The conversation of each patient a reply card is about, for a caller who may read
    the patient's messages; the caller audits the read (:data:`MESSAGES_READ`)."""
    if not principal.can("patients:read"):
        return {}
    wanted = {e.patient_id for e in entries if e.patient_id and about_a_reply(e)}
    found = recent_conversations(session, patient_ids=wanted, per_patient=THREAD_LENGTH, now=now)
    return {
        pid: tuple(ThreadLine(item, _who_wrote(item, names)) for item in items)
        for pid, items in found.items()
    }


def thread_patients(views: Iterable[HasThread]) -> list[str]:
    """The patients whose conversation the cards show (for the caller's audit)."""
    return sorted({v.entry.patient_id for v in views if v.thread and v.entry.patient_id})
