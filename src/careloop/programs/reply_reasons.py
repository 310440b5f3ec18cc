"""What a patient's replies say about why they stayed away, for a program's ``eligible`` reason.

A program with ``reasons_from_replies: true`` adds one clause to the record's reason: the
patient's ``replied`` events in the program's period, most recent first, at most three, each
a barrier the reply named (``channels.barriers``) or what the reply did (a visit cancelled,
a request to reschedule, an opt-out). Only the codes on the events are read: the reply's
words are never in an event (PHI), and never in the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.channels.barriers import Barrier
from careloop.channels.labels import CHANNEL_WORDS
from careloop.clock import ensure_utc
from careloop.db import any_of
from careloop.events import EventKind
from careloop.models import Event

MAX_REPLY_REASONS = 3
CANCELLED_BY_REPLY = "cancelled-by-reply"
ASKED_TO_RESCHEDULE = "asked-to-reschedule"
OPTED_OUT_BY_REPLY = "opted-out"

_BARRIER_LABELS: dict[Barrier, str] = {
    Barrier.TRANSPORTATION: "no ride",
    Barrier.COST: "the cost",
    Barrier.TIME: "work or no time",
    Barrier.CAREGIVING: "caring for someone",
    Barrier.FEELS_WELL: "feels well, sees no need",
}
# What a reply did (its ``handled_as``, set by conversations and access) that says something
# about why the patient stayed away; other outcomes (a check-in answer, HELP) say nothing.
_HANDLED_AS_CODES = {
    "visit-cancelled": CANCELLED_BY_REPLY,
    "rescheduling": ASKED_TO_RESCHEDULE,
    "reschedule": ASKED_TO_RESCHEDULE,
    "opted-out": OPTED_OUT_BY_REPLY,
}
_BY_CHANNEL = {code: words.by for code, words in CHANNEL_WORDS.items()}


# The help a win-back message leads with (its ``help_offer`` field), per reason: the words name
# the help, never the reason (minimum necessary on a shared phone).
GENERAL_OFFER = "general"
_OFFERS = {
    str(Barrier.TRANSPORTATION): "ride",
    "transportation_need": "ride",
    str(Barrier.COST): "cost",
    str(Barrier.TIME): "hours",
    str(Barrier.CAREGIVING): "hours",
    CANCELLED_BY_REPLY: "new-time",
    ASKED_TO_RESCHEDULE: "new-time",
    "missed_appointment": "new-time",
}


def help_offer(gap: str | None, codes: Iterable[str] = ()) -> str:
    """The help that answers a patient's likely reason: what their replies said (most recent
    first) before the record's gap; ``general`` when neither names a barrier help answers."""
    for code in [*codes, gap or ""]:
        if code in _OFFERS:
            return _OFFERS[code]
    return GENERAL_OFFER


@dataclass(frozen=True, slots=True)
class ReplyReasons:
    codes: tuple[str, ...]
    clause: str  # "in their replies: no ride (3 Oct), cancelled a visit by text (12 Aug)"


def _label(code: str, channel: str) -> str:
    how = _BY_CHANNEL.get(channel, "by reply")
    if code == CANCELLED_BY_REPLY:
        return f"cancelled a visit {how}"
    if code == ASKED_TO_RESCHEDULE:
        return f"asked to reschedule {how}"
    if code == OPTED_OUT_BY_REPLY:
        return f"opted out {how}"
    return _BARRIER_LABELS[Barrier(code)]


def _codes(payload: dict[str, Any]) -> list[str]:
    codes = [str(Barrier(code)) for code in payload.get("barriers") or ()]
    done = _HANDLED_AS_CODES.get(str(payload.get("handled_as") or ""))
    return [done, *codes] if done else codes


def reasons_from(events: Iterable[tuple[datetime, dict[str, Any]]]) -> ReplyReasons | None:
    """The clause for one patient's ``replied`` events (any order); None when they say nothing.

    Most recent first; a code named again earlier is shown once, at its latest date.
    """
    seen: dict[str, str] = {}
    for occurred_at, payload in sorted(events, key=lambda e: e[0], reverse=True):
        for code in _codes(payload):
            if code not in seen and len(seen) < MAX_REPLY_REASONS:
                when = f"{occurred_at.day} {occurred_at:%b}"
                seen[code] = f"{_label(code, str(payload.get('channel') or ''))} ({when})"
    if not seen:
        return None
    return ReplyReasons(tuple(seen), "in their replies: " + ", ".join(seen.values()))


def reply_reasons(
    session: Session, *, patient_ids: list[str], start: datetime, end: datetime
) -> dict[str, ReplyReasons]:
    """Each patient's reasons from their replies between ``start`` and ``end``."""
    if not patient_ids:
        return {}
    rows = session.execute(
        select(Event.patient_id, Event.occurred_at, Event.payload).where(
            Event.kind == str(EventKind.REPLIED),
            any_of(session, Event.patient_id, patient_ids),
            Event.occurred_at >= start,
            Event.occurred_at <= end,
        )
    )
    by_patient: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
    for pid, occurred_at, payload in rows:
        by_patient.setdefault(str(pid), []).append((ensure_utc(occurred_at), payload or {}))
    found = {pid: reasons_from(events) for pid, events in by_patient.items()}
    return {pid: reasons for pid, reasons in found.items() if reasons is not None}
