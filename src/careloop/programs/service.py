"""Program use cases: who is eligible, record it (idempotently), and who has completed.

The outreach engine calls :func:`run_program` (or :func:`evaluate_program` to look without
writing) to find whom to enroll, and :func:`completion_status` to close enrollments.
Everything runs a batch of patients per query; services only flush, the caller commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import FrozenClock, ensure_utc
from careloop.db import any_of
from careloop.errors import InvalidInput
from careloop.events import EventKind, NewEvent, record_events
from careloop.governance.consent import ConsentChannel, consent_decisions_by_channel
from careloop.models import Event
from careloop.programs.definition import Program, find_program, load_programs
from careloop.programs.eligibility import (
    EXCLUSION_REASONS,
    Completion,
    Verdict,
    evaluate_record,
    find_completion,
    shares_record_exclusions,
)
from careloop.programs.elm.measure import ElmMeasure
from careloop.programs.measures.packages import loaded_measures
from careloop.programs.measures.record import PatientRecord
from careloop.programs.measures.service import find_measure
from careloop.programs.measures.shared_record import ProgramRecord, fact_index
from careloop.programs.reply_reasons import reply_reasons
from careloop.programs.schema import Exclusion, MeasureEligibility
from careloop.programs.segments.service import segment_membership
from careloop.programs.windows import Window, resolve_window
from careloop.records.projection import (
    load_for_identification,
    shared_derived,
    shared_fact_rows,
)

__all__ = [
    "EligiblePatient",
    "ProgramRun",
    "completion_status",
    "evaluate_program",
    "find_program",
    "load_programs",
    "opted_out_patients",
    "run_program",
]
PERIOD_SUBJECT = "program-period"


@dataclass(frozen=True, slots=True)
class EligiblePatient:
    patient_id: str
    reason: str
    care_gap: dict[str, Any]
    new: bool  # an ``eligible`` event was recorded by this run
    reply_reasons: tuple[str, ...] = ()  # codes from the patient's replies (most recent first)


@dataclass
class ProgramRun:
    """What one run found: the eligible patients with their reasons, and the tallies."""

    program: str
    window: Window
    evaluated: int = 0
    eligible: list[EligiblePatient] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    events_recorded: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "period": self.window.key,
            "window": self.window.label,
            "as_of": self.window.as_of.isoformat(),
            "note": self.window.note,
            "evaluated": self.evaluated,
            "eligible_count": len(self.eligible),
            "excluded": dict(sorted(self.excluded.items())),
            "events_recorded": self.events_recorded,
            "eligible": [
                {
                    "patient": e.patient_id,
                    "reason": e.reason,
                    "care_gap": e.care_gap,
                    "new": e.new,
                }
                for e in self.eligible
            ],
        }


def opted_out_patients(
    session: Session, *, patient_ids: list[str], purpose: str, now: datetime
) -> set[str]:
    """Patients who said no to ``purpose`` on every channel (governance.consent decides).

    A channel closed only by default policy or a missing phone number is not an opt-out: the
    patient must have recorded a denial, and no channel may remain open.
    """

    if not patient_ids:
        return set()
    per_channel = list(
        consent_decisions_by_channel(
            session,
            patient_ids=patient_ids,
            purpose=purpose,
            channels=[str(channel) for channel in ConsentChannel],
            now=now,
        ).values()
    )
    opted_out = set()
    for pid in patient_ids:
        decisions = [by_patient[pid] for by_patient in per_channel]
        refused = any(not d.allowed and d.record_id is not None for d in decisions)
        if refused and not any(d.allowed for d in decisions):
            opted_out.add(pid)
    return opted_out


def package_measure(session: Session, program: Program) -> ElmMeasure | None:
    """The loaded measure package a program names (None for other programs).

    Its outreach variant is derived from the ELM here, so a package without one fails
    before any patient is read.
    """
    if program.package is None:
        return None
    try:
        measure = find_measure(program.package, loaded=loaded_measures(session), engine="elm")
    except InvalidInput as exc:
        raise InvalidInput(f"program {program.name}: {exc}", field="eligibility.measure") from None
    assert isinstance(measure, ElmMeasure)
    eligibility = program.definition.eligibility
    if isinstance(eligibility, MeasureEligibility) and eligibility.mode == "outreach":
        measure.outreach()
    return measure


def _batches(
    session: Session, program: Program, patient_ids: list[str] | None, batch: int
) -> Iterator[list[tuple[str, list[dict[str, Any]]]]]:
    loaded = load_for_identification(
        session,
        patient_ids=patient_ids,
        batch=batch,
        only_codes=program.load_codes,
        always_types=program.always_types,
    )
    while chunk := list(islice(loaded, batch)):
        yield chunk


def _record_batches(
    session: Session, program: Program, patient_ids: list[str] | None, batch: int, *, whole: bool
) -> Iterator[list[tuple[str, list[dict[str, Any]], PatientRecord]]]:
    """Each patient's record for this program, a batch at a time, with its facts.

    When the session shares one read of the facts for several programs (a nightly slice)
    and ``whole`` lists are not needed, each record selects the program's facts from an index
    built once per patient (``measures.shared_record``); the list given is then empty.
    """
    rows = None
    if not whole and "Patient" in program.always_types:
        rows = shared_fact_rows(
            session,
            patient_ids=patient_ids,
            batch=batch,
            only_codes=program.load_codes,
            always_types=program.always_types,
        )
    if rows is not None:
        always = frozenset(program.always_types)
        codes = frozenset(program.load_codes or ())
        while chunk := list(islice(rows, batch)):
            records: list[tuple[str, list[dict[str, Any]], PatientRecord]] = []
            for pid, facts in chunk:
                derived = shared_derived(session, pid)
                assert derived is not None  # the rows are the shared ones
                index = fact_index(facts, derived)
                record = ProgramRecord(index, always=always, codes=codes, derived=derived)
                records.append((pid, [], record))
            yield records
        return
    for loaded in _batches(session, program, patient_ids, batch):
        yield [
            (pid, resources, PatientRecord(resources, derived=shared_derived(session, pid)))
            for pid, resources in loaded
        ]


def _verdict_batches(
    session: Session,
    *,
    program: Program,
    window: Window,
    now: datetime,
    patient_ids: list[str] | None,
    batch: int,
    segments_dir: Path | None,
) -> Iterator[list[Verdict]]:
    definition = program.definition
    package = package_measure(session, program)
    shared_exclusions = shares_record_exclusions(program)
    for chunk in _record_batches(session, program, patient_ids, batch, whole=bool(package)):
        verdicts = []
        for pid, resources, record in chunk:
            if not record.patient:
                continue
            if not window.in_effect:
                verdicts.append(Verdict(pid, False, window.note or "not in effect"))
                continue
            found = evaluate_record(
                program,
                record,
                window,
                package=(package, resources) if package else None,
                shared_exclusions=shared_exclusions,
            )
            verdicts.append(
                found  # the record's own id is the row's (one Verdict, not a copy)
                if found.patient_id == pid
                else Verdict(pid, found.eligible, found.reason, found.care_gap, found.excluded)
            )
        eligible = [v.patient_id for v in verdicts if v.eligible]
        drop: dict[str, tuple[str, str]] = {}
        if eligible and definition.segment is not None:
            members = segment_membership(
                session,
                names=[definition.segment],
                patient_ids=eligible,
                now=min(now, window.end),
                folder=segments_dir,
            )
            for pid in eligible:
                if not members.get(pid):
                    drop[pid] = ("segment", f"not in segment {definition.segment}")
        if eligible and Exclusion.OPTED_OUT in definition.exclusions:
            reason = EXCLUSION_REASONS[Exclusion.OPTED_OUT].format(purpose=definition.purpose)
            for pid in opted_out_patients(
                session,
                patient_ids=[p for p in eligible if p not in drop],
                purpose=str(definition.purpose),
                now=now,
            ):
                drop[pid] = (str(Exclusion.OPTED_OUT), reason)
        yield [
            Verdict(v.patient_id, False, drop[v.patient_id][1], v.care_gap, drop[v.patient_id][0])
            if v.patient_id in drop
            else v
            for v in verdicts
        ]


def evaluate_program(
    session: Session,
    *,
    program: Program,
    window: Window,
    now: datetime,
    patient_ids: list[str] | None = None,
    batch: int = 500,
    segments_dir: Path | None = None,
) -> Iterator[Verdict]:
    """Every patient's verdict for one program and window (streams; writes nothing)."""
    for verdicts in _verdict_batches(
        session,
        program=program,
        window=window,
        now=ensure_utc(now),
        patient_ids=patient_ids,
        batch=batch,
        segments_dir=segments_dir,
    ):
        yield from verdicts


def _last_reasons(
    session: Session, *, program: str, period: str, patient_ids: list[str]
) -> dict[str, str]:
    """The reason of each patient's latest ``eligible`` event for this program and period."""
    rows = session.execute(
        select(Event.patient_id, Event.payload)
        .where(
            Event.kind == str(EventKind.ELIGIBLE),
            Event.program == program,
            Event.subject_type == PERIOD_SUBJECT,
            Event.subject_id == period,
            any_of(session, Event.patient_id, patient_ids),
        )
        .order_by(Event.occurred_at, Event.id)
    )
    return {str(pid): str((payload or {}).get("reason", "")) for pid, payload in rows}


def run_program(
    session: Session,
    *,
    program: Program,
    now: datetime,
    period: str | None = None,
    as_of: date | None = None,
    actor: str = "system:programs",
    patient_ids: list[str] | None = None,
    batch: int = 500,
    segments_dir: Path | None = None,
) -> ProgramRun:
    """Find the eligible patients and record an ``eligible`` event for each.

    Idempotent: a patient already announced for this program and period with the same reason
    gets no second event; a changed reason (say, a new HbA1c result) gets a new one. A program
    with ``reasons_from_replies`` adds what the patient's replies in the period say to the
    record's reason (``programs.reply_reasons``), and their codes as ``reply_reasons``.
    """
    now = ensure_utc(now)
    window = resolve_window(program.definition.period, now=now, period=period, as_of=as_of)
    clock = FrozenClock(now)
    run = ProgramRun(program=program.name, window=window)
    for verdicts in _verdict_batches(
        session,
        program=program,
        window=window,
        now=now,
        patient_ids=patient_ids,
        batch=batch,
        segments_dir=segments_dir,
    ):
        run.evaluated += len(verdicts)
        eligible = [v for v in verdicts if v.eligible]
        run.excluded.update(v.excluded for v in verdicts if v.excluded)
        if not eligible:
            continue
        from_replies = (
            reply_reasons(
                session,
                patient_ids=[v.patient_id for v in eligible],
                start=window.start,
                end=window.end,
            )
            if program.definition.reasons_from_replies
            else {}
        )
        previous = _last_reasons(
            session,
            program=program.name,
            period=window.key,
            patient_ids=[v.patient_id for v in eligible],
        )
        events: list[NewEvent] = []
        for verdict in eligible:
            care_gap = verdict.care_gap or {}
            replied = from_replies.get(verdict.patient_id)
            reason = f"{verdict.reason}; {replied.clause}" if replied else verdict.reason
            new = previous.get(verdict.patient_id) != reason
            if new:
                events.append(
                    NewEvent(
                        kind=EventKind.ELIGIBLE,
                        actor=actor,
                        patient_id=verdict.patient_id,
                        subject_type=PERIOD_SUBJECT,
                        subject_id=window.key,
                        program=program.name,
                        payload={
                            "reason": reason,
                            "care_gap": care_gap,
                            "period": window.key,
                            "window": window.label,
                            **({"reply_reasons": list(replied.codes)} if replied else {}),
                        },
                    )
                )
            run.eligible.append(
                EligiblePatient(
                    verdict.patient_id,
                    reason,
                    care_gap,
                    new,
                    replied.codes if replied else (),
                )
            )
        # The batch's events in one statement.
        run.events_recorded += record_events(session, events=events, clock=clock)
    return run


def completion_status(
    session: Session,
    *,
    program: Program,
    enrolled_at: Mapping[str, datetime],
    now: datetime,
    batch: int = 500,
) -> dict[str, Completion]:
    """For enrolled patients: who has met the completion criterion since enrolling, and how."""
    now = ensure_utc(now)
    completed: dict[str, Completion] = {}
    for chunk in _batches(session, program, sorted(enrolled_at), batch):
        for pid, resources in chunk:
            found = find_completion(
                program, PatientRecord(resources), since=ensure_utc(enrolled_at[pid]), now=now
            )
            if found is not None:
                completed[pid] = found
    return completed
