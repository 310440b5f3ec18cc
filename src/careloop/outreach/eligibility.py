"""Who is newly eligible for a program: candidates the scheduler enrolls.

The programs domain decides eligibility for care-gap programs; appointment journeys are
eligible from booked ``Appointment`` resources in the record. Both are behind one small
callable, so a test (or a CLI ``--patient``) can hand the scheduler its own list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from careloop.clock import ensure_utc
from careloop.fhirdata.dates import zoned
from careloop.fhirdata.visits import visit_facts
from careloop.insights.risk.fhir_appointments import available_model, score_fhir_appointment
from careloop.insights.risk.model import NoshowModel
from careloop.insights.risk.record_facts import noshow_facts
from careloop.outreach.program import OutreachProgram
from careloop.programs.reply_reasons import help_offer
from careloop.programs.service import ProgramRun, run_program
from careloop.records.service import resources_of_type


@dataclass(frozen=True, slots=True)
class Candidate:
    patient_id: str
    episode: str
    anchors: Mapping[str, datetime] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    announced: bool = False
    """An ``eligible`` event was already recorded (by the programs domain)."""


class EligibilitySource(Protocol):
    def __call__(
        self, session: Session, *, program: OutreachProgram, now: datetime
    ) -> Iterable[Candidate]: ...


@dataclass(frozen=True)
class ExplicitEligibility:
    """A fixed list per program name (tests, ``outreach tick --patient``)."""

    candidates: Mapping[str, Sequence[Candidate]]

    def __call__(
        self, session: Session, *, program: OutreachProgram, now: datetime
    ) -> Iterable[Candidate]:
        return list(self.candidates.get(program.name, ()))


@dataclass(frozen=True)
class AppointmentEligibility:
    """Booked appointments starting within ``lead``: one episode per appointment."""

    lead: timedelta = timedelta(days=7)
    model: NoshowModel | None = None
    """The no-show model to score with; by default the installation's trained one (the demo
    passes the one it trained without saving it)."""

    def __call__(
        self, session: Session, *, program: OutreachProgram, now: datetime
    ) -> Iterable[Candidate]:
        if program.anchor != "appointment":
            return []
        out = []
        appointments = list(resources_of_type(session, resource_type="Appointment"))
        for patient_id, resource in appointments:
            if patient_id is None or resource.get("status") not in (
                "booked",
                "pending",
                "proposed",
            ):
                continue
            moment = zoned(resource.get("start"))
            start = ensure_utc(moment) if moment else None
            if start is None or not now < start <= now + self.lead:
                continue
            place = _place(resource)
            fields: dict[str, Any] = {"appointment_at": start.isoformat()}
            if place:
                fields["appointment_place"] = place
            fields.update(visit_fields(resource))
            fields.update(
                _noshow_risk(session, patient_id, resource, appointments, model=self.model)
            )
            out.append(
                Candidate(
                    patient_id=patient_id,
                    episode=f"Appointment/{resource.get('id')}",
                    anchors={"appointment": start},
                    fields=fields,
                )
            )
        return out


def visit_fields(appointment: Mapping[str, Any]) -> dict[str, Any]:
    """What the reminders say about the visit (``fhirdata.visits``): ``visit`` (in-person,
    telehealth, ride) picks the words, the pickup time and video link fill them, and
    ``escorts`` (when the record names who comes along) decides who gets the caregiver copy."""
    facts = visit_facts(appointment)
    fields: dict[str, Any] = {"visit": facts.visit}
    if facts.pickup_at is not None:
        fields["pickup_at"] = ensure_utc(facts.pickup_at).isoformat()
    if facts.telehealth_link:
        fields["telehealth_link"] = facts.telehealth_link
    if facts.escorts is not None:
        fields["escorts"] = list(facts.escorts)
    return fields


def _noshow_risk(
    session: Session,
    patient_id: str,
    appointment: dict[str, Any],
    appointments: list[tuple[str | None, dict[str, Any]]],
    *,
    model: NoshowModel | None = None,
) -> dict[str, Any]:
    """The booking's no-show risk for journey branches (``risk: high`` steps) and the console."""

    model = model or available_model()
    if model is None:
        return {"noshow_risk_band": None, "noshow_risk_note": "no trained no-show model"}
    facts = noshow_facts(
        session,
        patient_id=patient_id,
        other_appointments=[r for pid, r in appointments if pid == patient_id],
    )
    score = score_fhir_appointment(model, appointment=appointment, **facts)
    if score is None:
        return {"noshow_risk_band": None}
    return {
        "noshow_risk": round(score.probability, 3),
        "noshow_risk_band": str(score.band),
        "noshow_risk_reasons": list(score.top_reasons),
    }


@dataclass(frozen=True)
class ProgramsEligibility:
    """Care-gap programs: ``careloop.programs.service.run_program`` says who is eligible.

    One episode per program period (the care gap of this year), so a patient is enrolled
    once per period however often the scheduler runs.
    """

    def __call__(
        self, session: Session, *, program: OutreachProgram, now: datetime
    ) -> Iterable[Candidate]:
        if program.source is None:
            return []

        run = run_program(session, program=program.source, now=now, actor="system:outreach")
        return care_gap_candidates(program, run)


def care_gap_candidates(program: OutreachProgram, run: ProgramRun) -> list[Candidate]:
    """The candidates of a care-gap program's run (``programs.service.run_program``), the
    same whoever identifies them (the periodic tick or the nightly slice)."""
    assert program.source is not None
    # A program that reads replies (win-back) leads its message with the help that answers
    # the likely reason: ``help_offer`` picks the words, the reason itself is never sent.
    offers = program.source.definition.reasons_from_replies
    return [
        Candidate(
            patient_id=e.patient_id,
            episode=f"period:{run.window.key}",
            fields=(
                {"help_offer": help_offer(e.care_gap.get("gap"), e.reply_reasons)} if offers else {}
            ),
            announced=True,
        )
        for e in run.eligible
    ]


@dataclass(frozen=True)
class CombinedEligibility:
    sources: tuple[EligibilitySource, ...]

    def __call__(
        self, session: Session, *, program: OutreachProgram, now: datetime
    ) -> Iterable[Candidate]:
        for source in self.sources:
            yield from source(session, program=program, now=now)


def _place(resource: Mapping[str, Any]) -> str | None:
    for participant in resource.get("participant") or []:
        actor = participant.get("actor") or {}
        if str(actor.get("reference", "")).startswith("Location/") and actor.get("display"):
            return str(actor["display"])
    return None
