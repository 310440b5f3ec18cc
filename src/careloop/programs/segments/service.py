"""Segment membership for a batch of patients: one resource query and one event query a batch.

``segment_membership`` is the reporting dimension (patient -> segments); ``segment_members``
and ``segment_counts`` back the API and CLI.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import ensure_utc
from careloop.events import EventKind
from careloop.models import Event
from careloop.programs.eligibility import is_deceased
from careloop.programs.measures.record import PatientRecord
from careloop.programs.segments.definition import Segment, find_segment, load_segments
from careloop.programs.segments.rules import Facts
from careloop.records.service import load_patient_resources

# Types the vocabulary reads without a code (demographics, appointments, caregivers).
ALWAYS_LOADED = ("Patient", "Appointment", "RelatedPerson")
EVENT_KINDS = (str(EventKind.SENT), str(EventKind.REPLIED))


def _events_by_patient(
    session: Session, *, patient_ids: Sequence[str], since: datetime
) -> dict[str, list[tuple[str, datetime]]]:
    found: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    rows = session.execute(
        select(Event.patient_id, Event.kind, Event.occurred_at).where(
            Event.patient_id.in_(list(patient_ids)),
            Event.kind.in_(EVENT_KINDS),
            Event.occurred_at >= since,
        )
    )
    for pid, kind, occurred_at in rows:
        found[str(pid)].append((kind, ensure_utc(occurred_at)))
    return found


def _members(
    session: Session,
    *,
    segments: Sequence[Segment],
    patient_ids: list[str] | None,
    now: datetime,
    batch: int = 500,
) -> Iterator[tuple[str, set[str]]]:
    """(patient id, the segments it belongs to) for every patient asked about."""

    now = ensure_utc(now)
    codes = frozenset().union(*(s.rule.codes for s in segments))
    event_days = max((s.rule.event_days for s in segments), default=0)
    loaded = load_patient_resources(
        session,
        patient_ids=patient_ids,
        batch=batch,
        only_codes=codes,
        always_types=(
            *ALWAYS_LOADED,
            *sorted(frozenset().union(*(s.rule.types for s in segments))),
        ),
    )
    pending: list[tuple[str, list[dict[str, object]]]] = []

    def flush() -> Iterator[tuple[str, set[str]]]:
        events = (
            _events_by_patient(
                session,
                patient_ids=[pid for pid, _ in pending],
                since=now - timedelta(days=event_days),
            )
            if event_days
            else {}
        )
        for pid, resources in pending:
            facts = Facts(PatientRecord(resources), now, events.get(pid, []))
            if not facts.record.patient or is_deceased(facts.record.patient, by=now):
                continue  # segments describe the living: they target and report outreach
            yield pid, {s.name for s in segments if s.rule.test(facts)}
        pending.clear()

    for pid, resources in loaded:
        pending.append((pid, resources))
        if len(pending) >= batch:
            yield from flush()
    yield from flush()


def segment_membership(
    session: Session,
    *,
    names: Iterable[str] | None = None,
    patient_ids: list[str] | None = None,
    now: datetime,
    folder: Path | None = None,
) -> dict[str, set[str]]:
    """Patient id -> the segments (of ``names``, default all) it is in: a reporting dimension."""
    segments = (
        [find_segment(n, folder=folder) for n in names]
        if names is not None
        else list(load_segments(folder).values())
    )
    return dict(_members(session, segments=segments, patient_ids=patient_ids, now=now))


def segment_members(
    session: Session, *, name: str, now: datetime, folder: Path | None = None
) -> list[str]:
    """Ids of the patients in one segment, sorted."""
    segment = find_segment(name, folder=folder)
    return sorted(
        pid
        for pid, found in _members(session, segments=[segment], patient_ids=None, now=now)
        if found
    )


def segment_counts(
    session: Session, *, now: datetime, folder: Path | None = None
) -> dict[str, int]:
    """Members per segment (every segment, one pass over the population)."""
    segments = list(load_segments(folder).values())
    counts = {s.name: 0 for s in segments}
    for _pid, found in _members(session, segments=segments, patient_ids=None, now=now):
        for name in found:
            counts[name] += 1
    return counts
