"""Prescribe a digital tool, follow its use from the readings it sends, act when it did not help.

- :func:`prescribe` writes a ``CarePlan`` (one activity: the tool, coded in
  :data:`~careloop.digitaltools.catalogue.SYSTEM`) to the record and asks outreach for the
  ``digital_tool_prescribed`` message with the tool's link; if no message can be queued, the
  care team gets a task instead (nobody waits for a link that was never sent).
- :func:`tool_usage` says, per prescribed tool, how many readings it sent since.
- :func:`follow_up_tools` runs the trend rule (``trend.judge_trend``) on every active tool:
  not improved → a care-team task "propose a follow-up visit" and a booking offer through
  "Access": the times that fit the patient's day best for the catalogue's
  ``follow_up_services``, behind one signed scheduling link (``access.directory``) carried by
  the ``follow_up_offer`` message (the portal's booking page when no time is free); not used
  → a task. Each happens once per prescription.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.access.directory import LINK_DAYS, LinkNeed, scheduling_links
from careloop.careteam.alerts import create_task
from careloop.clock import Clock, ensure_utc
from careloop.digitaltools.catalogue import SYSTEM, Tool, ToolCatalogue, Trend
from careloop.digitaltools.trend import TrendStatus, TrendVerdict, judge_trend
from careloop.events import EventKind, list_events, record_event
from careloop.feedback.ruleset import Severity
from careloop.fhirdata.dates import instant
from careloop.governance.consent import ConsentPurpose
from careloop.outreach.config import outreach_settings
from careloop.outreach.requests import RequestedMessage, request_message
from careloop.records.resources import store_resources
from careloop.records.service import get_patient_record, resources_of_type
from careloop.security.principal import Principal
from careloop.settings import Settings

PRESCRIBED_MESSAGE = "digital_tool_prescribed"
FOLLOW_UP_MESSAGE = "follow_up_offer"
CATEGORY = {"coding": [{"system": SYSTEM, "code": "digital-tool"}]}
MONITORING = str(ConsentPurpose.CLINICAL_MONITORING)
LINK_CHANNELS = ("sms", "email", "portal")
"""The message's point is the tool's link: a phone call would promise a link nobody sent."""


@dataclass(frozen=True, slots=True)
class Prescription:
    careplan_id: str
    patient_id: str
    tool: str
    prescribed_at: datetime
    message_queued: bool


def _careplan(tool: Tool, *, fhir_patient: str, careplan_id: str, now: datetime) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": careplan_id,
        "status": "active",
        "intent": "plan",
        "category": [CATEGORY],
        "title": tool.title,
        "subject": {"reference": f"Patient/{fhir_patient}"},
        "created": now.isoformat(),
        "period": {"start": now.isoformat()},
        "activity": [
            {
                "detail": {
                    "kind": "ServiceRequest" if tool.kind == "class" else "DeviceRequest",
                    "code": {
                        "coding": [{"system": SYSTEM, "code": tool.id, "display": tool.title}]
                    },
                    "status": "scheduled",
                    "description": f"{tool.title}: {tool.link}",
                }
            }
        ],
    }


def prescribe(
    session: Session,
    *,
    catalogue: ToolCatalogue,
    patient_id: str,
    tool_id: str,
    clock: Clock,
    principal: Principal,
    settings: Settings,
) -> Prescription:
    """A CarePlan activity for the tool, and the patient's message with its link."""
    tool = catalogue.tool(tool_id)
    now = clock.now()
    record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
    careplan_id = f"tool-{tool.id}-{record.sources[0]}-{now:%Y%m%d%H%M%S}"[:64]
    careplan = _careplan(tool, fhir_patient=record.sources[0], careplan_id=careplan_id, now=now)
    store_resources(session, [careplan], clock=clock, principal=principal, source="careteam")
    record_event(
        session, kind=EventKind.TOOL_PRESCRIBED, clock=clock, actor=principal.actor,
        patient_id=patient_id, subject_type="CarePlan", subject_id=careplan_id,
        payload={"tool": tool.id},
    )  # fmt: skip
    asked = request_message(
        session, patient_id=patient_id, message=PRESCRIBED_MESSAGE, purpose=MONITORING,
        key=f"tool:{careplan_id}", now=now, clock=clock, settings=settings,
        fields={"tool_name": tool.title, "tool_link": tool.link}, allowed_channels=LINK_CHANNELS,
    )  # fmt: skip
    if asked.outbox_id is None:
        create_task(
            session, patient_id=patient_id, rule_id=f"tool-link:{tool.id}",
            title="Give the patient the link to a prescribed tool",
            summary=f"{tool.title} was prescribed; its link was not sent ({asked.not_queued}).",
            severity=Severity.ROUTINE, clock=clock, actor=principal.actor,
        )  # fmt: skip
    return Prescription(careplan_id, patient_id, tool.id, now, asked.outbox_id is not None)


def _tool_code(careplan: dict[str, Any]) -> str | None:
    for activity in careplan.get("activity") or []:
        for coding in ((activity.get("detail") or {}).get("code") or {}).get("coding") or []:
            if coding.get("system") == SYSTEM:
                return str(coding.get("code"))
    return None


def active_prescriptions(
    session: Session, *, patient_ids: list[str] | None = None
) -> Iterator[tuple[str, dict[str, Any], str, datetime]]:
    """(patient id, CarePlan, tool id, prescribed at) of every active tool CarePlan."""
    for pid, careplan in resources_of_type(
        session, resource_type="CarePlan", patient_ids=patient_ids
    ):
        code = _tool_code(careplan)
        created = instant(careplan.get("created"))
        if pid and code and created and careplan.get("status") == "active":
            yield pid, careplan, code, ensure_utc(created)


def _values(observation: dict[str, Any], measure: str) -> float | None:
    system, _, code = measure.partition("|")
    parts = [observation, *(observation.get("component") or [])]
    for part in parts:
        codings = (part.get("code") or {}).get("coding") or []
        if any(c.get("system") == system and c.get("code") == code for c in codings):
            value = (part.get("valueQuantity") or {}).get("value")
            if isinstance(value, int | float):
                return float(value)
    return None


def readings_of(session: Session, *, patient_id: str, measure: str) -> list[tuple[datetime, float]]:
    """(when, value) of every reading of ``measure`` (SYSTEM|code) in the patient's record."""
    found = []
    for _pid, obs in resources_of_type(
        session, resource_type="Observation", patient_ids=[patient_id]
    ):
        at = instant(obs.get("effectiveDateTime"))
        value = _values(obs, measure)
        if at is not None and value is not None and obs.get("status") != "entered-in-error":
            found.append((ensure_utc(at), value))
    return sorted(found)


def tool_usage(
    session: Session, *, catalogue: ToolCatalogue, patient_id: str
) -> list[dict[str, Any]]:
    """Per active tool: when prescribed, readings it sent since, and the last one."""
    rows = []
    for _pid, careplan, code, created in active_prescriptions(session, patient_ids=[patient_id]):
        tool = catalogue.tool(code)
        since = [
            at
            for measure in tool.measures
            for at, _v in readings_of(session, patient_id=patient_id, measure=measure)
            if at >= created
        ]
        rows.append(
            {
                "careplan": careplan["id"], "tool": tool.id, "title": tool.title,
                "prescribed_at": created, "readings": len(since),
                "last_reading_at": max(since) if since else None,
            }
        )  # fmt: skip
    return rows


def _already_followed(session: Session, careplan_id: str) -> bool:
    return any(
        e.subject_id == careplan_id
        for e in list_events(session, kinds=[str(EventKind.TOOL_FOLLOWED_UP)])
    )


def _change(trend: Trend, verdict: TrendVerdict) -> str:
    """``glucose 131 → 131 mg/dL after 6 weeks (goal: 10 mg/dL lower).``"""
    unit = f" {trend.unit}" if trend.unit else ""
    way = "lower" if trend.better == "down" else "higher"
    return (
        f"{trend.label} {verdict.baseline or 0:g} → {verdict.recent or 0:g}{unit} after "
        f"{trend.weeks} weeks (goal: {trend.min_change:g}{unit} {way})."
    )


def _offer_follow_up(
    session: Session, *, pid: str, careplan_id: str, services: Sequence[str], clock: Clock,
    settings: Settings,
) -> str:  # fmt: skip
    """Send the follow-up booking offer; say for the care team's task what was sent.

    The offer is Access's: the times that fit the patient's day best, for the first service
    with free slots in the next :data:`LINK_DAYS` days, behind a signed link whose page names
    each time's place. Only with no free time does the message carry the portal's booking
    page. The link goes by text, email or the portal; a patient those cannot reach is called
    (the spoken words give the clinic's number), so the offer is never silently dropped.
    """
    now = clock.now()
    link = next(
        (
            found[0]
            for service in services
            if (found := scheduling_links(
                session, patient_id=pid, needs=[LinkNeed("follow-up visit", service, "best-times")],
                now=now, settings=settings,
            ))
        ),
        None,
    )  # fmt: skip
    booking_link = link.url if link is not None else outreach_settings(settings)[0].booking_link

    def ask(channels: tuple[str, ...] | None) -> RequestedMessage:
        return request_message(
            session, patient_id=pid, message=FOLLOW_UP_MESSAGE, purpose=MONITORING,
            key=f"tool-followup:{careplan_id}", now=now, clock=clock, settings=settings,
            fields={"booking_link": booking_link}, allowed_channels=channels,
        )  # fmt: skip

    sent = ask(LINK_CHANNELS)
    if sent.outbox_id is None:
        sent = ask(None)
    if sent.outbox_id is None:
        return f"No booking offer could be sent ({sent.not_queued}): call the patient."
    if link is None:
        return f"No free follow-up time in {LINK_DAYS} days: the offer links the portal."
    return (
        f"A booking offer for a follow-up visit was sent by {sent.channel}: "
        f"{len(link.choices)} time(s) behind one link."
    )


def _act(
    session: Session, *, pid: str, careplan_id: str, tool: Tool, verdict: TrendVerdict,
    services: Sequence[str], clock: Clock, settings: Settings, actor: str,
) -> None:  # fmt: skip
    assert tool.trend is not None
    if verdict.status is TrendStatus.NOT_IMPROVED:
        offered = _offer_follow_up(
            session, pid=pid, careplan_id=careplan_id, services=services, clock=clock,
            settings=settings,
        )  # fmt: skip
        summary = f"{tool.title}: {_change(tool.trend, verdict)} {offered}"
        title = "Propose a follow-up visit: a prescribed tool did not help"
    else:
        summary = f"{tool.title} sent {verdict.readings} reading(s) since it was prescribed."
        title = "A prescribed tool is not being used: call the patient"
    create_task(
        session, patient_id=pid, rule_id=f"tool-{verdict.status}:{tool.id}", title=title,
        summary=summary, severity=Severity.ROUTINE, clock=clock, actor=actor,
        values={"baseline": verdict.baseline, "recent": verdict.recent},
    )  # fmt: skip
    record_event(
        session, kind=EventKind.TOOL_FOLLOWED_UP, clock=clock, actor=actor, patient_id=pid,
        subject_type="CarePlan", subject_id=careplan_id,
        payload={"tool": tool.id, "status": str(verdict.status), "change": verdict.change},
    )  # fmt: skip


def follow_up_tools(
    session: Session,
    *,
    catalogue: ToolCatalogue,
    clock: Clock,
    settings: Settings,
    principal: Principal,
) -> Counter[str]:
    """Run the trend rule on every active tool; act once per prescription (module docstring)."""
    now = clock.now()
    tally: Counter[str] = Counter()
    for pid, careplan, code, created in list(active_prescriptions(session)):
        tool = catalogue.tool(code)
        if tool.trend is None:
            continue
        readings = readings_of(session, patient_id=pid, measure=tool.trend.measure)
        verdict = judge_trend(readings, prescribed_at=created, rule=tool.trend, now=now)
        tally[str(verdict.status)] += 1
        acts = verdict.status in (TrendStatus.NOT_IMPROVED, TrendStatus.NOT_USED)
        if acts and not _already_followed(session, careplan["id"]):
            _act(
                session, pid=pid, careplan_id=careplan["id"], tool=tool, verdict=verdict,
                services=catalogue.follow_up_services, clock=clock, settings=settings,
                actor=principal.actor,
            )  # fmt: skip
            tally["followed_up"] += 1
    return tally
