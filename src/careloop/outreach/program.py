"""What outreach needs from a program: purpose, holdout share, journey, completion, fields.

Two sources build the same :class:`OutreachProgram`: a program definition of the programs
domain (``journey:`` as a list of send/wait/checkin/escalate steps, see
:func:`from_program_definition`), or a journey file of our own that adds what a sequence of
days cannot say (waits before a record date such as an appointment, branches on reply,
escalation, caregiver reminders; see :func:`from_mapping` and ``docs/outreach.md``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from careloop.errors import InvalidInput
from careloop.personalize.actions import ActionSpace
from careloop.personalize.snapshot import ProgramSpec


class WaitOrigin(StrEnum):
    ENROLLMENT = "enrollment"
    PREVIOUS = "previous"
    ANCHOR = "anchor"
    EVENT = "event"


class Branch(StrEnum):
    ALWAYS = "always"
    REPLY = "reply"
    NO_REPLY = "no-reply"


class Audience(StrEnum):
    PATIENT = "patient"
    CAREGIVER = "caregiver"


@dataclass(frozen=True, slots=True)
class Wait:
    """When a step is due: ``origin`` (+ ``anchor`` or ``event`` name) plus ``offset``."""

    origin: WaitOrigin
    offset: timedelta = timedelta(0)
    anchor: str | None = None
    event: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    message: str
    wait: Wait
    when: Branch = Branch.ALWAYS
    channel: str | None = None
    audience: Audience = Audience.PATIENT
    questionnaire: str | None = None
    """A check-in step: the care team opens this questionnaire as an SMS conversation."""
    risk: str | None = None
    """Only for enrollments whose no-show risk band is this (e.g. ``high``): an extra
    reminder for those most likely to miss the appointment."""
    by_visit: tuple[tuple[str, str], ...] = ()
    """Other words for other visits (``messages: {telehealth: ..., ride: ...}``): the
    enrollment's ``visit`` field (``fhirdata.visits``) picks them, else ``message``."""
    handoff: str | None = None
    """A step that is not a message of outreach's own but a hand-off to the workflow that
    ran the tick (:data:`HANDOFFS`), e.g. ``reschedule-offer``: access offers other times."""

    def message_for(self, visit: object) -> str:
        """The library message for this step and this kind of visit."""
        return dict(self.by_visit).get(str(visit), self.message)


HANDOFFS = ("reschedule-offer",)


RISK_BANDS = ("low", "medium", "high")
VISITS = ("in-person", "telehealth", "ride")


def _risk(value: Any, *, field: str) -> str | None:
    if value is None:
        return None
    if value not in RISK_BANDS:
        raise InvalidInput(f"risk must be one of {', '.join(RISK_BANDS)}", field=field)
    return str(value)


@dataclass(frozen=True, slots=True)
class Escalation:
    """After ``after_unanswered`` digital sends with no reply: a call task, and a voice call."""

    after_unanswered: int = 0
    call_task: bool = True
    voice_message: str | None = None
    wait: timedelta = timedelta(days=3)
    """After the last send, how long to wait for a reply before escalating."""


@dataclass(frozen=True, slots=True)
class Completion:
    """Done when confirmed by reply, or when a resource with one of ``codes`` is recorded."""

    on_confirm: bool = False
    codes: frozenset[str] = frozenset()
    description: str = ""


@dataclass(frozen=True)
class OutreachProgram:
    name: str
    purpose: str
    holdout_share: float
    steps: tuple[Step, ...]
    title: str = ""
    completion: Completion = Completion()
    escalation: Escalation = Escalation()
    caregiver_reminders: bool = False
    follow_days: int = 30
    anchor: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    action_space: ActionSpace = field(default_factory=ActionSpace)
    max_attempts: int = 5
    priority: int = 0
    """Higher goes first when programs compete for a patient's contact budget: the tick
    decides programs in this order (ties keep their configured order)."""
    min_gap_hours: float | None = None
    """The least time between one of this program's messages and any other contact to the
    patient (``min_gap_hours:`` in the program file), stricter or looser than the global
    ``outreach.budget.min_gap_hours``; None: the global one."""
    source: Any = None
    """The programs domain's compiled program, when this journey belongs to one: eligibility
    and completion are then asked of ``careloop.programs.service``."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout_share < 1.0:
            raise InvalidInput("holdout share must be in [0, 1)", field="holdout")
        if not self.steps:
            raise InvalidInput("a journey needs at least one step", field="journey")
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise InvalidInput("journey step ids must be unique", field="journey")

    @property
    def spec(self) -> ProgramSpec:
        """The engine's view of this program."""
        return ProgramSpec(name=self.name, purpose=self.purpose, action_space=self.action_space)


_DURATION = re.compile(r"^\s*([+-]?)\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_offset(value: object, *, field: str) -> timedelta:
    """``"-3d"``, ``"+2h"``, ``"30m"`` or a whole number of days."""
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(days=value)
    match = _DURATION.match(str(value))
    if not match:
        raise InvalidInput(f"{value!r} is not a duration like -3d or 2h", field=field)
    sign, amount, unit = match.groups()
    delta = timedelta(**{_UNITS[unit]: int(amount)})
    return -delta if sign == "-" else delta


def parse_wait(raw: object, *, field: str) -> Wait:
    """``{after: enrollment|previous, days: 2}``, ``{before: appointment, days: 3}``,
    ``{after: event, event: replied, hours: 4}``; or the short ``"appointment -3d"``."""
    if isinstance(raw, str):
        origin_text, _, offset_text = raw.strip().partition(" ")
        offset = parse_offset(offset_text or "0d", field=field)
        return _wait_for(origin_text, offset=offset, event=None, field=field)
    if not isinstance(raw, Mapping):
        raise InvalidInput("a wait is a mapping or a string", field=field)
    amount = timedelta(
        days=int(raw.get("days", 0)),
        hours=int(raw.get("hours", 0)),
        minutes=int(raw.get("minutes", 0)),
    )
    if "before" in raw:
        return _wait_for(str(raw["before"]), offset=-amount, event=None, field=field)
    origin = str(raw.get("after", "previous"))
    event = raw.get("event")
    return _wait_for(origin, offset=amount, event=str(event) if event else None, field=field)


def _wait_for(origin: str, *, offset: timedelta, event: str | None, field: str) -> Wait:
    if origin == "enrollment":
        return Wait(WaitOrigin.ENROLLMENT, offset)
    if origin == "previous":
        return Wait(WaitOrigin.PREVIOUS, offset)
    if origin == "event" or origin.startswith("event:"):
        name = event or origin.partition(":")[2]
        if not name:
            raise InvalidInput("an event wait names the event", field=field)
        return Wait(WaitOrigin.EVENT, offset, event=name)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", origin):
        raise InvalidInput(f"unknown wait origin {origin!r}", field=field)
    return Wait(WaitOrigin.ANCHOR, offset, anchor=origin)


def _enum(kind: type[StrEnum], value: object, *, field: str) -> Any:
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(f"must be one of {allowed}", field=field) from None


def from_mapping(doc: Mapping[str, Any]) -> OutreachProgram:
    """A program from an outreach journey file (see ``docs/outreach.md`` for the format)."""
    name = str(doc.get("name") or "")
    if not name:
        raise InvalidInput("a program needs a name", field="name")
    raw_steps = doc.get("steps") or (doc.get("journey") or {}).get("steps")
    if not isinstance(raw_steps, Sequence) or not raw_steps:
        raise InvalidInput("a journey needs steps", field="journey.steps")
    steps = []
    for i, raw in enumerate(raw_steps):
        where = f"journey.steps[{i}]"
        if not isinstance(raw, Mapping) or not raw.get("message"):
            raise InvalidInput("a step needs a message", field=f"{where}.message")
        by_visit = raw.get("messages") or {}
        if not isinstance(by_visit, Mapping) or not set(by_visit) <= set(VISITS):
            raise InvalidInput(
                f"messages maps a visit ({', '.join(VISITS)}) to a message",
                field=f"{where}.messages",
            )
        handoff = raw.get("handoff")
        if handoff is not None and handoff not in HANDOFFS:
            raise InvalidInput(
                f"handoff must be one of {', '.join(HANDOFFS)}", field=f"{where}.handoff"
            )
        steps.append(
            Step(
                id=str(raw.get("id") or raw.get("step") or f"step-{i + 1}"),
                message=str(raw["message"]),
                wait=parse_wait(raw.get("wait", "previous 0d"), field=f"{where}.wait"),
                when=_enum(Branch, raw.get("when", "always"), field=f"{where}.when"),
                channel=_channel(raw.get("channel"), field=f"{where}.channel"),
                audience=_enum(Audience, raw.get("audience", "patient"), field=f"{where}.audience"),
                questionnaire=raw.get("questionnaire"),
                risk=_risk(raw.get("risk"), field=f"{where}.risk"),
                by_visit=tuple((str(k), str(v)) for k, v in by_visit.items()),
                handoff=str(handoff) if handoff else None,
            )
        )
    escalation = doc.get("escalation") or {}
    completion = doc.get("completion") or {}
    return OutreachProgram(
        name=name,
        title=str(doc.get("title") or name),
        purpose=str(doc.get("purpose") or "care-reminders"),
        holdout_share=float(doc.get("holdout", 0.0)),
        steps=tuple(steps),
        completion=Completion(
            on_confirm=bool(completion.get("confirm", False)),
            codes=frozenset(str(c) for c in completion.get("codes", [])),
            description=str(completion.get("description", "")),
        ),
        escalation=Escalation(
            after_unanswered=int(escalation.get("after_unanswered", 0)),
            call_task=bool(escalation.get("call_task", True)),
            voice_message=escalation.get("voice_message"),
            wait=parse_offset(escalation.get("wait", "3d"), field="escalation.wait"),
        ),
        caregiver_reminders=bool(doc.get("caregiver_reminders", False)),
        follow_days=int(doc.get("follow_days", 30)),
        anchor=doc.get("anchor"),
        fields=dict(doc.get("fields") or {}),
        action_space=ActionSpace.from_config(doc.get("actions")),
        max_attempts=int(doc.get("max_attempts", 5)),
        priority=_priority(doc.get("priority", 0)),
        min_gap_hours=_min_gap(doc.get("min_gap_hours")),
    )


MAX_GAP_HOURS = 168
"""The longest gap a program may set (a week)."""


def _min_gap(value: object) -> float | None:
    if value is None:
        return None
    # At most a week: contacts older than that are never read for spacing (``budget.WEEK``),
    # and a NaN or infinite gap would crash every tick and batch building its timedelta.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_GAP_HOURS
    ):
        raise InvalidInput(
            f"min_gap_hours must be a number of hours from 0 to {MAX_GAP_HOURS}",
            field="min_gap_hours",
        )
    return float(value)


def _priority(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("priority must be a whole number (higher goes first)", field="priority")
    return value


def _channel(value: object, *, field: str) -> str | None:
    if value in (None, "preferred"):
        return None
    if value not in ("sms", "email", "voice", "portal"):
        raise InvalidInput("channel must be preferred, sms, email, voice or portal", field=field)
    return str(value)


def from_program_definition(
    definition: Any,
    *,
    source: Any = None,
    fields: Mapping[str, Any] | None = None,
    overlay: Mapping[str, Any] | None = None,
) -> OutreachProgram:
    """A program of the programs domain (its ``journey`` is a list of send/wait/... steps).

    ``wait`` steps add their days to the next send; sends after the first run only while the
    patient has not replied; an ``escalate`` step turns on escalation after the sends before
    it. ``overlay`` (an outreach journey mapping) replaces the steps when given.
    """
    steps: list[Step] = []
    pending = timedelta(0)
    escalate_after = 0
    voice_message: str | None = None
    escalate_wait = timedelta(days=3)
    for raw in definition.journey:
        if raw.action == "wait":
            pending += timedelta(days=raw.days)
            continue
        if raw.action == "escalate":
            escalate_after = max(1, len(steps))
            voice_message = raw.message if raw.channel == "voice" else None
            escalate_wait = pending + timedelta(days=raw.days)
            pending = timedelta(0)
            continue
        pending += timedelta(days=raw.days)
        steps.append(
            Step(
                id=raw.step,
                message=str(raw.message),
                wait=Wait(WaitOrigin.ENROLLMENT if not steps else WaitOrigin.PREVIOUS, pending),
                when=Branch.ALWAYS if not steps else Branch.NO_REPLY,
                channel=_channel(raw.channel, field="journey.channel"),
                questionnaire=raw.questionnaire if raw.action == "checkin" else None,
            )
        )
        pending = timedelta(0)
    doc: dict[str, Any] = {
        "name": definition.name,
        "title": definition.title,
        "purpose": str(definition.purpose),
        "holdout": definition.holdout,
        "fields": dict(fields or {}),
    }
    if getattr(definition, "actions", None):
        doc["actions"] = dict(definition.actions)
    if overlay:
        doc.update(overlay)
        return replace(from_mapping(doc), source=source)
    return OutreachProgram(
        name=doc["name"],
        title=doc["title"],
        purpose=doc["purpose"],
        holdout_share=float(doc["holdout"]),
        steps=tuple(steps),
        completion=Completion(description=str(definition.completion.description)),
        escalation=Escalation(
            after_unanswered=escalate_after, voice_message=voice_message, wait=escalate_wait
        ),
        fields=doc["fields"],
        priority=_priority(getattr(definition, "priority", 0) or 0),
        action_space=ActionSpace.from_config(getattr(definition, "actions", None)),
        source=source,
    )
