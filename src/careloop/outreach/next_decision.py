"""What the engine would decide for a patient now, without sending or recording anything.

The console and the portal show it next to the stated preferences, so a change to a
preference is visibly followed by the next decision. It assembles the same inputs the
outreach scheduler does (:func:`careloop.outreach.audience.build_snapshots`, the program's
learned model and the patient's history) and asks the pure engine; nothing is written.
The random draw is seeded by patient, program and minute, so a page reload shows the same
answer until something the engine reads changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
from sqlalchemy.orm import Session

from careloop.events import EventKind, list_events
from careloop.models import DecisionRow, Event
from careloop.outreach.audience import PatientReads, build_snapshots
from careloop.outreach.config import OutreachSettings
from careloop.outreach.program import OutreachProgram
from careloop.outreach.service import load_outreach_programs
from careloop.personalize.engine import Decision, decide
from careloop.personalize.service import cached_model, list_decisions, load_history


@dataclass(frozen=True)
class NextDecision:
    program: str
    program_title: str
    decision: Decision


@lru_cache(maxsize=1)
def _programs() -> tuple[OutreachProgram, ...]:
    return tuple(load_outreach_programs(OutreachSettings()))


def _program_for(
    session: Session,
    patient_id: str,
    recent: Sequence[DecisionRow] | None = None,
    events: Sequence[Event] | None = None,
) -> OutreachProgram | None:
    """The program of the patient's latest decision, else latest enrolment, else the first."""
    programs = {p.name: p for p in _programs()}
    if recent is None:
        recent = list_decisions(session, patient_id=patient_id, limit=5)
    for row in recent:
        if row.program in programs:
            return programs[row.program]
    if events is None:
        enrolled = list_events(session, patient_id=patient_id, kinds=[EventKind.ENROLLED])
    else:
        enrolled = [e for e in events if e.kind == EventKind.ENROLLED]
    for event in reversed(enrolled):
        if event.program in programs:
            return programs[event.program]
    return next(iter(programs.values()), None)


def _seed(patient_id: str, program: str, now: datetime) -> int:
    text = f"preview|{patient_id}|{program}|{now.replace(second=0, microsecond=0).isoformat()}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def preview_next_decision(
    session: Session,
    *,
    patient_id: str,
    now: datetime,
    programs: Sequence[str] = (),
    recent: Sequence[DecisionRow] | None = None,
    events: Sequence[Event] | None = None,
    known: PatientReads | None = None,
) -> NextDecision | None:
    """The decision the engine would make now for the patient's current program (or None);
    ``recent`` (the patient's five latest decisions), ``events`` (the patient's events,
    ``enrolled`` among them, oldest first) and ``known`` (the patient's row, consent and
    profile) when the caller read them already."""
    program = None
    if programs:
        program = next((p for p in _programs() if p.name in programs), None)
    program = program or _program_for(session, patient_id, recent, events)
    if program is None:
        return None
    spec = program.spec
    model = cached_model(session, program=spec)
    snapshots, _recipients = build_snapshots(
        session,
        patient_ids=[patient_id],
        purpose=program.purpose,
        now=now,
        budget_period=model.config.budget_period,
        known=known,
    )
    rows = None
    if known is not None and known.patient.id == patient_id:
        rows = {patient_id: known.profile} if known.profile is not None else {}
    history = load_history(session, program=spec, patient_ids=[patient_id], model=model, rows=rows)
    decision = decide(
        snapshot=snapshots[0],
        program=spec,
        history=history,
        model=model,
        now=now,
        rng=np.random.default_rng(_seed(patient_id, program.name, now)),
    )
    return NextDecision(program.name, program.title or program.name, decision)
