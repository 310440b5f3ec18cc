"""Invite every patient to review the practice after a visit; never ask only the happy ones.

Review gating (inviting only patients who said they were satisfied) is against the major
review sites' policies and skews what the public reads, so :func:`invite_after_visits`
reads no satisfaction score at all: every patient with a visit (``insights.kpis.retention``'s
definition) gets the same ``review_invite``, with the configured site's link. A low
satisfaction score is answered separately, by the care team: the feedback rule
``touchpoint-dissatisfied`` puts a service-recovery task on the worklist.

Once per visit and at most once per ``reviews.min_days_between`` per patient (an event,
``review_invited``, per visit handled, queued or not); consent (purpose ``surveys``), quiet
hours and the contact budget are the outbox's, through ``request_message``. With no
``reviews.site_url`` configured, nothing is sent.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.clock import Clock, ensure_utc
from careloop.events import EventKind, list_events, record_event
from careloop.fhirdata.dates import instant
from careloop.governance.consent import ConsentPurpose
from careloop.insights.kpis.retention import is_visit
from careloop.outreach.requests import request_message
from careloop.records.service import get_patient, resources_started_between
from careloop.security.principal import Principal
from careloop.settings import Settings

LINK_CHANNELS = ("sms", "email", "portal")  # the point is the link: never a phone call
MESSAGE = "review_invite"
PURPOSE = str(ConsentPurpose.SURVEYS)


def _visit_end(encounter: dict[str, Any]) -> datetime | None:
    period = encounter.get("period") or {}
    moment = instant(period.get("end")) or instant(period.get("start"))
    return ensure_utc(moment) if moment else None


def _recent_invitations(
    session: Session, *, patient_id: str, since: datetime
) -> list[dict[str, Any]]:
    return [
        {"visit": e.subject_id, "queued": bool((e.payload or {}).get("queued"))}
        for e in list_events(
            session, patient_id=patient_id, kinds=[EventKind.REVIEW_INVITED], since=since
        )
    ]


def invite_after_visits(
    session: Session, *, clock: Clock, settings: Settings, principal: Principal
) -> Counter[str]:
    """Queue ``review_invite`` for visits that ended ``delay_hours`` ago (module docstring)."""
    own = settings.reviews
    tally: Counter[str] = Counter()
    if not own.site_url:
        tally["not_configured"] += 1
        return tally
    now = clock.now()
    ready = now - timedelta(hours=own.delay_hours)
    visits = resources_started_between(
        session, resource_type="Encounter", start=now - timedelta(days=own.lookback_days), end=now
    )
    for pid, encounter in visits:
        end = _visit_end(encounter)
        if pid is None or not is_visit(encounter) or end is None or end > ready:
            continue
        earlier = _recent_invitations(
            session, patient_id=pid, since=now - timedelta(days=own.min_days_between)
        )
        if any(e["visit"] == encounter["id"] for e in earlier):
            continue
        if any(e["queued"] for e in earlier) or get_patient(session, pid).deceased:
            tally["recently_invited" if earlier else "deceased"] += 1
            continue
        asked = request_message(
            session, patient_id=pid, message=MESSAGE, purpose=PURPOSE,
            key=f"review:{pid}:{encounter['id']}", now=now, clock=clock, settings=settings,
            fields={"review_link": own.site_url, "review_site": own.site_name},
            allowed_channels=LINK_CHANNELS,
        )  # fmt: skip
        queued = asked.outbox_id is not None
        record_event(
            session, kind=EventKind.REVIEW_INVITED, clock=clock, actor=principal.actor,
            patient_id=pid, subject_type="Encounter", subject_id=str(encounter["id"]),
            payload={"queued": queued, "site": own.site_name},
        )  # fmt: skip
        tally["invited" if queued else "not_queued"] += 1
    return tally
