"""Exam preparation with teach-back: instructions before the appointment, then a question.

A journey per appointment (``start_prep``). ``prep_pass`` sends the instruction and its
comprehension question ``send_before_hours`` ahead (``data/prep.yaml``), through
``request_message``. ``answer_prep`` reads the keypad answer: right → understood; wrong once →
the re-teach message in plainer words, and the question again; wrong twice → a nurse task
due before the day (the nurse calls; no third text). ``record_outcome`` closes the journey
with what happened at the exam (``adequate`` or ``rescheduled-for-prep``), which the report
counts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.careteam.alerts import create_task
from careloop.clock import Clock
from careloop.db import get_or_missing
from careloop.errors import InvalidInput, NotFound
from careloop.feedback.ruleset import Severity
from careloop.medications.reminders import send_window_from
from careloop.medications.service import patient_of
from careloop.models import PrepJourney
from careloop.outreach.requests import RequestedMessage, request_message
from careloop.personalize.actions import ActionSpace, SendWindow
from careloop.records.service import get_patient
from careloop.settings import Settings

OUTCOMES = ("adequate", "rescheduled-for-prep")
OPEN = ("scheduled", "asked", "retaught")
CALL_BEFORE = timedelta(hours=2)
"""The nurse's call is due this long before the exam, whatever the task's usual SLA."""
PROGRAM_PREFIX = "prep:"
"""The outbox program of a preparation's messages is ``prep:<kind>``: a reply to one is a
teach-back answer."""
_ANSWER_WORDS = {
    "one": 1, "two": 2, "three": 3, "uno": 1, "dos": 2, "tres": 3, "dois": 2,
    "一": 1, "二": 2, "三": 3,
}  # fmt: skip
"""Keys said in words, in the library's languages: "uno" is as clear an answer as "1". Not
the words that are also articles ("una comida normal" is option 2's text, not key 1)."""


@dataclass(frozen=True, slots=True)
class PrepKind:
    name: str
    title: str
    send_before: timedelta
    instruction: str
    question: str
    reteach: str
    correct: str


@cache
def prep_kinds() -> dict[str, PrepKind]:
    """The bundled preparation programs (``data/prep.yaml``)."""
    text = resources.files("careloop.medications").joinpath("data/prep.yaml")
    raw = yaml.safe_load(text.read_text(encoding="utf-8"))["kinds"]
    return {
        name: PrepKind(
            name=name,
            title=str(k["title"]),
            send_before=timedelta(hours=float(k["send_before_hours"])),
            instruction=str(k["instruction"]),
            question=str(k["question"]),
            reteach=str(k["reteach"]),
            correct=str(k["correct"]),
        )
        for name, k in raw.items()
    }


def start_prep(
    session: Session, *, patient_id: str, kind: str, appointment_at: datetime, now: datetime
) -> PrepJourney:
    """Open a preparation journey for an appointment (one per patient, kind and time)."""
    patient_of(session, patient_id)
    if kind not in prep_kinds():
        raise InvalidInput(f"kind must be one of {', '.join(sorted(prep_kinds()))}", field="kind")
    if appointment_at <= now:
        raise InvalidInput("the appointment is in the past", field="appointment_at")
    existing = session.scalar(
        select(PrepJourney).where(
            PrepJourney.patient_id == patient_id,
            PrepJourney.kind == kind,
            PrepJourney.appointment_at == appointment_at,
        )
    )
    if existing is not None:
        return existing
    journey = PrepJourney(
        patient_id=patient_id,
        kind=kind,
        appointment_at=appointment_at,
        step=0,
        wrong_answers=0,
        status="scheduled",
        updated_at=now,
    )
    session.add(journey)
    session.flush()
    return journey


def _send(
    session: Session,
    journey: PrepJourney,
    message: str,
    *,
    now: datetime,
    clock: Clock,
    settings: Settings,
    after: RequestedMessage | None = None,
    at_once: bool = False,
) -> RequestedMessage:
    """Queue one message of the journey, in a send window that ends before the exam.

    ``after`` pins it to that message's channel and the half hour from its send time (a
    question comes with what it asks about). ``at_once`` sends it as soon as the day allows
    (a re-teach answers the patient's reply while they are there): the half hour from
    ``now`` inside the usual sending day, else the next window that ends before the exam;
    when the patient's own quiet hours refuse that, the engine chooses as it would."""
    zone = ZoneInfo(get_patient(session, journey.patient_id).timezone)
    if after is not None and after.channel is not None and after.due_at is not None:
        local = after.due_at.astimezone(zone)
        return _request(
            session, journey, message, now=now, clock=clock, settings=settings,
            send_windows=(send_window_from(local.hour * 60 + local.minute),),
            allowed_channels=(after.channel,),
        )  # fmt: skip
    local = now.astimezone(zone)
    fits = windows_before(local, journey.appointment_at)
    right_now = send_window_from(local.hour * 60 + local.minute)
    if at_once:
        soonest = right_now if _in_sending_day(local) or not fits else fits[0]
        sent = _request(
            session, journey, message, now=now, clock=clock, settings=settings,
            send_windows=(soonest,),
        )  # fmt: skip
        if sent.outbox_id is not None:
            return sent
    return _request(
        session, journey, message, now=now, clock=clock, settings=settings,
        send_windows=tuple(fits) or (right_now,),
    )  # fmt: skip


def _request(
    session: Session,
    journey: PrepJourney,
    message: str,
    *,
    now: datetime,
    clock: Clock,
    settings: Settings,
    send_windows: tuple[str, ...],
    allowed_channels: tuple[str, ...] | None = None,
) -> RequestedMessage:
    return request_message(
        session,
        patient_id=journey.patient_id,
        message=message,
        purpose="care-reminders",
        key=f"prep:{journey.id}:{message}:{journey.wrong_answers}",
        now=now,
        clock=clock,
        settings=settings,
        program=f"{PROGRAM_PREFIX}{journey.kind}",
        send_windows=send_windows,
        allowed_channels=allowed_channels,
    )


def _in_sending_day(local: datetime) -> bool:
    minute = local.hour * 60 + local.minute
    windows = [SendWindow.parse(label) for label in ActionSpace().send_windows]
    return any(w.start_minute <= minute < w.end_minute for w in windows)


def windows_before(local_now: datetime, appointment_at: datetime) -> list[str]:
    """The engine's send windows whose next opening (today's if it has not ended, else
    tomorrow's) ends before the appointment, soonest first: an instruction that could arrive
    after the exam teaches nothing, whichever window the engine would have liked best."""
    minute = local_now.hour * 60 + local_now.minute
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    fits = []
    for label in ActionSpace().send_windows:
        window = SendWindow.parse(label)
        day = midnight if minute < window.end_minute else midnight + timedelta(days=1)
        if day + timedelta(minutes=window.end_minute) <= appointment_at:
            fits.append((day + timedelta(minutes=window.start_minute), label))
    return [label for _, label in sorted(fits)]


def _teach(
    session: Session,
    journey: PrepJourney,
    kind: PrepKind,
    message: str,
    *,
    now: datetime,
    clock: Clock,
    settings: Settings,
    at_once: bool = False,
) -> None:
    """The instruction (or its plainer re-teach), then the question with it."""
    told = _send(
        session, journey, message, now=now, clock=clock, settings=settings, at_once=at_once
    )
    _send(session, journey, kind.question, now=now, clock=clock, settings=settings, after=told)


def prep_pass(session: Session, *, now: datetime, clock: Clock, settings: Settings) -> int:
    """Send every instruction (and its question) that is due; how many journeys were asked."""
    asked = 0
    due = session.scalars(
        select(PrepJourney).where(PrepJourney.status == "scheduled").order_by(PrepJourney.id)
    )
    for journey in due:
        kind = prep_kinds()[journey.kind]
        if journey.appointment_at - kind.send_before > now:
            continue
        if journey.appointment_at <= now:
            journey.status, journey.updated_at = "missed", now
            continue
        _teach(session, journey, kind, kind.instruction, now=now, clock=clock, settings=settings)
        journey.status, journey.updated_at = "asked", now
        asked += 1
    session.flush()
    return asked


def open_journey(session: Session, *, patient_id: str) -> PrepJourney | None:
    """The journey waiting for this patient's answer (the soonest appointment), if any."""
    return session.scalar(
        select(PrepJourney)
        .where(PrepJourney.patient_id == patient_id, PrepJourney.status.in_(("asked", "retaught")))
        .order_by(PrepJourney.appointment_at)
        .limit(1)
    )


def teach_back_key(text: str) -> int | None:
    """The one key a reply names, in digits or words ("2", "2 a normal meal", "uno"); None
    for no key or several ("1 or 2"), which shows no understanding either."""
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    keys = [
        int(word) if word.isdigit() else _ANSWER_WORDS[word]
        for word in re.findall(r"\d+|[a-z]+|[\u4e00-\u9fff]", plain)
        if word.isdigit() or word in _ANSWER_WORDS
    ]
    return keys[0] if len(keys) == 1 else None


def answer_prep(
    session: Session, *, patient_id: str, text: str, clock: Clock, settings: Settings
) -> PrepJourney:
    """Judge a teach-back answer; re-teach once, then hand over to a nurse."""
    journey = open_journey(session, patient_id=patient_id)
    if journey is None:
        raise NotFound("no preparation question is waiting for an answer")
    kind = prep_kinds()[journey.kind]
    now = clock.now()
    journey.updated_at = now
    if teach_back_key(text) == int(kind.correct):
        journey.status = "understood"
    elif journey.status == "asked":
        journey.wrong_answers += 1
        journey.status = "retaught"
        _teach(
            session,
            journey,
            kind,
            kind.reteach,
            now=now,
            clock=clock,
            settings=settings,
            at_once=True,
        )
    else:
        journey.wrong_answers += 1
        journey.status = "task"
        journey.task_item_id = _nurse_task(session, journey, kind, clock=clock)
    session.flush()
    return journey


def _when(session: Session, journey: PrepJourney) -> str:
    """The appointment in the patient's own zone, named ("Sun 6 Dec 07:05 EST"), never raw ISO."""
    try:
        zone = ZoneInfo(get_patient(session, journey.patient_id).timezone)
    except (NotFound, KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return journey.appointment_at.astimezone(zone).strftime("%a %d %b %H:%M %Z")


def _nurse_task(session: Session, journey: PrepJourney, kind: PrepKind, *, clock: Clock) -> int:
    raised = create_task(
        session,
        patient_id=journey.patient_id,
        rule_id=f"prep-teach-back-{journey.kind}",
        title=f"Call before the exam: {kind.title} not understood",
        summary=(
            f"Two wrong teach-back answers about {kind.title.lower()}; the appointment is "
            f"{_when(session, journey)}. Call to explain before the day."
        ),
        severity=Severity.HIGH,
        clock=clock,
        actor="medications",
        program=f"{PROGRAM_PREFIX}{journey.kind}",
        evidence=("teach-back: a second wrong answer after re-teaching",),
        due_by=journey.appointment_at - CALL_BEFORE,
    )
    return raised.item_id


def record_outcome(
    session: Session, *, journey_id: int, outcome: str, now: datetime
) -> PrepJourney:
    """What happened at the exam: prep adequate, or rescheduled because of the prep."""
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
    journey = get_or_missing(session, PrepJourney, journey_id, "no such preparation journey")
    journey.outcome, journey.updated_at = outcome, now
    session.flush()
    return journey
