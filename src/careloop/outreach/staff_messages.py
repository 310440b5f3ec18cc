"""One-off messages a staff member writes (``careloop send``), through the outbox.

Staff words are their own (not the content library's), but everything else is the journeys'
path: the engine, with the channel forced, decides whether and when the message may go
(consent for the purpose and channel, a usable contact point, quiet hours in the patient's
zone, the contact budget), the decision is logged, and the row is queued in the caller's
transaction for the worker. The same text to the same patient on the same channel within
ten minutes is one message (a repeated command or a double click queues nothing new).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.content.render import email_html
from careloop.content.service import render_for_sending
from careloop.content.vocab import GENERIC_MESSAGE
from careloop.errors import CareloopError, Conflict, InvalidInput
from careloop.models import OutboxMessage
from careloop.outreach.audience import Recipient, build_snapshots
from careloop.outreach.budget import contact_budget, hold_over_budget, scheduled_contacts
from careloop.outreach.config import (
    OutreachSettings,
    care_team_for,
    default_sender,
    outreach_settings,
)
from careloop.outreach.decided import decide_for
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.outreach.voice_calls import voicemail_line
from careloop.personalize.actions import SEND_WINDOWS, ActionSpace
from careloop.personalize.contact_budget import RemovalReason
from careloop.personalize.decision_log import record_decision
from careloop.personalize.snapshot import EngineConfig, ProgramSpec
from careloop.records.contacts_phone import LANDLINE, UNREADABLE, why_not_textable
from careloop.records.service import get_patient
from careloop.settings import Settings

STAFF_CHANNELS = ("sms", "email", "voice", "portal")
STAFF_PURPOSE = "care-reminders"
STAFF_ENGINE = EngineConfig(weekly_budget=7)
_SAME_CLICK_SECONDS = 600


@dataclass(frozen=True, slots=True)
class StaffMessage:
    outbox_id: int
    channel: str
    due_at: datetime
    already_queued: bool


def _windows_from(now: datetime, zone: str) -> tuple[str, ...]:
    """Staff want it sent now: the send window the patient's local time is in, if any (the
    engine still refuses quiet hours and an exhausted budget); else every window."""
    hour = now.astimezone(ZoneInfo(zone)).hour
    for window in SEND_WINDOWS:
        start, end = (int(h) for h in window.split("-"))
        if start <= hour < end:
            return (window,)
    return SEND_WINDOWS


def send_staff_message(
    session: Session,
    *,
    patient_id: str,
    channel: str,
    text: str,
    now: datetime,
    clock: Clock,
    settings: Settings,
) -> StaffMessage:
    """Queue ``text`` for the patient on ``channel``; raises when it may not go at all."""
    if channel not in STAFF_CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(STAFF_CHANNELS)}", field="channel")
    body = text.strip()
    if not body:
        raise InvalidInput("the message is empty", field="text")
    if len(body) > 1600:
        raise InvalidInput("the message is longer than 1600 characters", field="text")
    bucket = int(now.timestamp()) // _SAME_CLICK_SECONDS
    digest = hashlib.sha256(f"{patient_id}|{channel}|{body}|{bucket}".encode()).hexdigest()
    key = f"staff:{digest[:40]}"
    existing = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    if existing is not None:
        return StaffMessage(existing.id, existing.channel, existing.due_at, already_queued=True)
    own, channels = outreach_settings(settings)
    snapshots, recipients = build_snapshots(
        session,
        patient_ids=[patient_id],
        purpose=STAFF_PURPOSE,
        now=now,
        budget_period=STAFF_ENGINE.budget_period,
    )
    spec = ProgramSpec(
        name="staff-message",
        purpose=STAFF_PURPOSE,
        action_space=ActionSpace(
            channels=(channel,), send_windows=_windows_from(now, recipients[patient_id].timezone)
        ),
    )
    seed = int.from_bytes(bytes.fromhex(digest[:16]), "big")
    # The engine's send times are whole minutes at or after ``now``: from the start of this
    # minute, a patient whose current minute may be texted is due at once, not at the next
    # minute (which a ``careloop worker --once`` run straight after would find not yet due).
    this_minute = now.replace(second=0, microsecond=0)
    batch = decide_for(
        session, snapshots=snapshots, spec=spec, config=STAFF_ENGINE, now=this_minute, seed=seed
    )
    # The configured budget (per day and per week) holds for staff messages too.
    contacts = scheduled_contacts(session, patient_ids=[patient_id], now=now)[patient_id]
    # Not held by the spacing between contacts: the person chose to send it now.
    decision = hold_over_budget(
        batch.decision(0), contacts=contacts, budget=contact_budget(own.budget), spaced=False
    )
    record_decision(session, clock=clock, decision=decision, features=batch.features[0])
    if decision.action is None or decision.send_at is None:
        reasons = {r.reason for r in decision.removals}
        raise Conflict(refusal_words(channel, reasons, points=_points(session, patient_id)))
    recipient = recipients[patient_id]
    address = recipient.addresses.get(channel)
    if address is None:
        raise Conflict(f"the patient has no usable {channel} address")
    signed = channel in ("email", "portal")
    letter = f"{body}\n\n-- \n{care_team_for(own, decision.language)}" if signed else body
    subject = (
        _subject(session, language=decision.language, settings=own, recipient=recipient)
        if signed
        else None
    )
    row = enqueue(
        session,
        message=NewMessage(
            idempotency_key=key,
            patient_id=patient_id,
            purpose=STAFF_PURPOSE,
            channel=channel,
            to_address=address,
            # A letter is signed, in the patient's language (RFC 3676 signature separator).
            body=letter,
            subject=subject,
            # An email is multipart/alternative like the library's: the same words as HTML.
            html=email_html(text=letter, subject=subject or "", language=decision.language)
            if channel == "email"
            else None,
            due_at=decision.send_at,
            sender=default_sender(channels, channel),
            language=decision.language,
            decision_id=decision.decision_id,
            propensity=decision.propensity,
            # A machine hears only who called and the number (staff words may say anything).
            extra={"staff": True}
            | (
                {"voicemail_text": voicemail_line(own, language=decision.language)}
                if channel == "voice"
                else {}
            ),
        ),
        now=now,
    )
    assert row is not None  # the key was free a moment ago, in this transaction
    return StaffMessage(row.id, row.channel, row.due_at, already_queued=False)


_NO_ADDRESS = {
    "sms": "the patient has no mobile number on file, and a text goes only to a mobile (a home"
    " or work number may be a landline); add their mobile to the record, or call them",
    "voice": "the patient has no phone number on file",
    "email": "the patient has no email address on file",
    "portal": "the patient has no portal account",
}
_REFUSALS: dict[RemovalReason, str] = {
    RemovalReason.DECEASED: "the patient's record says they have died",
    RemovalReason.OPTED_OUT: "the patient has asked not to be contacted (they opted out)",
    RemovalReason.LANGUAGE_UNSUPPORTED: "careloop has no messages in the patient's language",
    RemovalReason.CONTACT_BUDGET: "the patient has already had as many messages as the contact"
    " budget allows today or this week; try again later, or call them",
    RemovalReason.QUIET_HOURS: "it is the patient's quiet hours (their local night)",
    RemovalReason.CLIPPED_BY_QUIET_HOURS: "it is the patient's quiet hours (their local night)",
}


# Why no number on file takes a text, by what the record says of its phones (never the number).
_NO_TEXT = {
    "landline": "the patient's number on file as a mobile is a landline (the phone company's"
    " line-type look-up says so), and a landline cannot take texts; add their mobile to the"
    " record, or call them",
    "unreadable": "the patient's phone number on file could not be read as a phone number, so"
    " it is never texted or dialled; correct it in the record, or write to them",
}
# A channel with nothing at all on file for it: no consent can be read from nothing, and a
# nurse told "has not agreed" would think the patient refused.
_NOTHING_ON_FILE = {
    "sms": "the patient has no phone number on file; add their mobile to the record",
    "voice": "the patient has no phone number on file",
    "email": "the patient has no email address on file",
}
_SYSTEMS = {"sms": ("phone", "sms"), "voice": ("phone", "sms"), "email": ("email",)}
Points = list[dict[str, object]]


def _points(session: Session, patient_id: str) -> Points:
    return [dict(p) for p in get_patient(session, patient_id).contact_points or []]


def _of(channel: str, points: Points) -> Points:
    return [p for p in points if p.get("system") in _SYSTEMS.get(channel, ()) and p.get("value")]


def _no_text_words(phones: Points) -> str:
    """Why no phone on file may be texted: a number looked up as a landline, a number that
    could not be read; else (home or work lines only) the general words."""
    readable = [p for p in phones if p.get("dialable") is not False]
    if any(p.get("line_type") == LANDLINE for p in readable):
        return _NO_TEXT["landline"]
    # A number that could have taken the text (not a home, work or old line) but could not
    # be read: "no mobile on file" beside it would contradict the record.
    if (phones and not readable) or any(why_not_textable(p) == UNREADABLE for p in phones):
        return _NO_TEXT["unreadable"]
    return _NO_ADDRESS["sms"]


def _no_address(channel: str, points: Points | None) -> str:
    if points is None or channel not in _SYSTEMS:
        return _NO_ADDRESS[channel]
    on_file = _of(channel, points)
    if not on_file:
        return _NOTHING_ON_FILE[channel]
    if channel == "sms":
        return _no_text_words(on_file)
    if channel == "voice" and all(p.get("dialable") is False for p in on_file):
        return _NO_TEXT["unreadable"]  # a number is on file: "no phone number" is not so
    return _NO_ADDRESS[channel]


def _no_consent(channel: str, points: Points | None) -> str:
    if points is not None and channel in _SYSTEMS and not _of(channel, points):
        return _NOTHING_ON_FILE[channel]
    return f"the patient has not agreed to {channel} messages for care reminders"


def refusal_words(
    channel: str, reasons: set[RemovalReason], *, points: Points | None = None
) -> str:
    """Why a staff message may not go, in a nurse's words, the engine's codes after them
    (``no_contact_point`` alone told a nurse nothing about a home phone on file). ``points``:
    the patient's contact points, to say what is on file (a landline, no email at all)."""
    words = [
        _no_address(channel, points)
        if reason == RemovalReason.NO_CONTACT_POINT
        else _no_consent(channel, points)
        if reason == RemovalReason.NO_CONSENT
        else _REFUSALS[reason]
        for reason in sorted(reasons)
    ]
    if not words:
        return "the message may not be sent: no send time is allowed"
    codes = ", ".join(sorted(str(r) for r in reasons))
    return f"the message may not be sent: {'; '.join(dict.fromkeys(words))} ({codes})"


def _subject(
    session: Session, *, language: str, settings: OutreachSettings, recipient: Recipient
) -> str:
    """The approved generic subject ("You have a new message from your care team") in the
    patient's language: the words around staff text are the content library's."""
    fields = {
        "portal_link": settings.portal_link,
        "clinic_phone": settings.clinic_phone,
        # The frame's greeting needs them; only its subject is used, which names nobody.
        "first_name": recipient.first_name or "-",
        "last_name": recipient.last_name or "-",
    }
    try:
        rendered = render_for_sending(
            session,
            message=GENERIC_MESSAGE,
            language=language,
            reading_level="standard",
            tone="formal",
            channel="email",
            fields={**fields, "care_team_name": care_team_for(settings, language)},
            locale=language.replace("-", "_"),
            timezone="UTC",
            detailed_consent=False,
        )
    except CareloopError:
        return f"Message from {settings.care_team_name}"
    return rendered.subject or f"Message from {settings.care_team_name}"
