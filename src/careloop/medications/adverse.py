"""Adverse-event cases of patient-support (pharma) programs, their queue and E2B export.

A side effect reported about a product of a program flagged ``patient_support`` becomes a
case with the four minimum criteria of a valid ICSR (GVP Module VI): an identifiable patient
(the careloop id; no name leaves careloop), an identifiable reporter (patient or caregiver),
a suspect product (the program's product the patient is on) and an event (the reported
terms). Seriousness follows the E2B(R3) criteria. The case waits on the pharmacovigilance
queue with a ``sla_hours`` deadline (24 h); every view is audited, so the trail shows who saw
it. ``e2b_case`` exports it E2B(R3)-shaped; the mapping is in docs/medications.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Purpose, audit
from careloop.clock import Clock
from careloop.db import get_or_missing
from careloop.errors import InvalidInput
from careloop.models import AdverseEventCase, MedicationSlot
from careloop.security.principal import SYSTEM_WORKER, Principal


@dataclass(frozen=True, slots=True)
class SupportProgram:
    name: str
    title: str
    sla_hours: float
    products: dict[str, str]
    """Product code → name."""


@cache
def support_programs() -> tuple[SupportProgram, ...]:
    """The bundled programs flagged ``patient_support`` (``data/support_programs.yaml``)."""
    text = resources.files("careloop.medications").joinpath("data/support_programs.yaml")
    raw = yaml.safe_load(text.read_text(encoding="utf-8")) or {}
    return tuple(
        SupportProgram(
            name=str(p["name"]),
            title=str(p.get("title", p["name"])),
            sla_hours=float(p.get("sla_hours", 24)),
            products={str(x["code"]): str(x.get("name", x["code"])) for x in p["products"]},
        )
        for p in raw.get("programs", [])
        if p.get("patient_support")
    )


def _product_slots(
    session: Session, patient_id: str, slot_ids: Sequence[int]
) -> list[MedicationSlot]:
    """The medicines a reply is about: the answered slots, else all the patient's active ones."""
    query = select(MedicationSlot).where(MedicationSlot.patient_id == patient_id)
    query = query.where(
        MedicationSlot.id.in_(list(slot_ids)) if slot_ids else MedicationSlot.status == "active"
    )
    return list(session.scalars(query.order_by(MedicationSlot.id)))


def open_from_reply(
    session: Session,
    *,
    patient_id: str,
    terms: Sequence[str],
    seriousness: Sequence[str],
    reporter: str,
    channel: str,
    slot_ids: Sequence[int],
    clock: Clock,
    actor: str,
) -> AdverseEventCase | None:
    """A case when the patient is on a product of a patient-support program; else None."""
    now = clock.now()
    for slot in _product_slots(session, patient_id, slot_ids):
        for program in support_programs():
            if slot.medication_key in program.products:
                return _open(
                    session,
                    patient_id=patient_id,
                    program=program,
                    slot=slot,
                    terms=terms,
                    seriousness=seriousness,
                    reporter=reporter,
                    channel=channel,
                    now=now,
                    clock=clock,
                    actor=actor,
                )
    return None


def _open(
    session: Session,
    *,
    patient_id: str,
    program: SupportProgram,
    slot: MedicationSlot,
    terms: Sequence[str],
    seriousness: Sequence[str],
    reporter: str,
    channel: str,
    now: datetime,
    clock: Clock,
    actor: str,
) -> AdverseEventCase:
    case = AdverseEventCase(
        patient_id=patient_id,
        program=program.name,
        product=slot.medication,
        product_code=slot.medication_key,
        reporter=reporter,
        event_terms=list(terms),
        serious=bool(seriousness),
        seriousness=list(seriousness),
        channel=channel,
        status="new",
        received_at=now,
        due_at=now + timedelta(hours=program.sla_hours),
        extra={},
    )
    session.add(case)
    session.flush()
    audit(
        session,
        clock=clock,
        principal=_system(actor),
        action=AuditAction.CREATE,
        resource="ae-case",
        purpose=Purpose.TREATMENT,
        patient_ids=[patient_id],
        detail={"case": case.id, "program": program.name},
    )
    return case


def _system(actor: str) -> Principal:
    """Who opened the case: the reply's actor, acting through careloop's worker."""
    return replace(SYSTEM_WORKER, actor=actor[:128])


@dataclass(frozen=True, slots=True)
class QueueEntry:
    id: int
    program: str
    serious: bool
    status: str
    received_at: datetime
    due_at: datetime
    overdue: bool


def queue(session: Session, *, now: datetime, include_triaged: bool = False) -> list[QueueEntry]:
    """The pharmacovigilance queue: serious first, then by deadline. No PHI in an entry."""
    query = select(AdverseEventCase)
    if not include_triaged:
        query = query.where(AdverseEventCase.status == "new")
    rows = session.scalars(query.order_by(AdverseEventCase.due_at, AdverseEventCase.id))
    entries = [
        QueueEntry(
            r.id,
            r.program,
            r.serious,
            r.status,
            r.received_at,
            r.due_at,
            r.status == "new" and r.due_at < now,
        )
        for r in rows
    ]
    return sorted(entries, key=lambda e: (not e.serious, e.due_at))


def view_case(
    session: Session, case_id: int, *, principal: Principal, clock: Clock
) -> AdverseEventCase:
    """One case, audited as read by ``principal`` (the trail shows who saw it)."""
    case = get_or_missing(session, AdverseEventCase, case_id, "no such adverse-event case")
    audit(
        session,
        clock=clock,
        principal=principal,
        action=AuditAction.READ,
        resource="ae-case",
        purpose=Purpose.TREATMENT,
        patient_ids=[case.patient_id],
        detail={"case": case.id},
    )
    return case


def triage(
    session: Session, case_id: int, *, principal: Principal, clock: Clock
) -> AdverseEventCase:
    """Mark a case triaged (time to triage is reported)."""
    case = view_case(session, case_id, principal=principal, clock=clock)
    if case.status != "new":
        raise InvalidInput("the case is already triaged", field="case")
    case.status, case.triaged_at, case.triaged_by = "triaged", clock.now(), principal.actor
    session.flush()
    return case


def e2b_case(case: AdverseEventCase) -> dict[str, Any]:
    """The case shaped as an E2B(R3) ICSR (element ids as keys; see docs/medications.md)."""
    received = case.received_at.strftime("%Y%m%d%H%M%S")
    criteria = set(case.seriousness)
    return {
        "C.1.1": f"careloop-ae-{case.id}",
        "C.1.2": received,
        "C.1.3": "2",
        "C.1.4": received,
        "C.1.5": received,
        "C.1.7": case.serious,
        "C.2.r": [{"C.2.r.4": "5", "careloop.reporter": case.reporter}],
        "C.5.4": "3",
        "careloop.program": case.program,
        "D.1": {"nullFlavor": "MSK", "careloop.patient": case.patient_id},
        "E.i": [
            {
                "E.i.1.1a": term,
                "E.i.2.1b": None,
                "E.i.3.2a": "resultsInDeath" in criteria,
                "E.i.3.2b": "isLifeThreatening" in criteria,
                "E.i.3.2c": "requiresHospitalization" in criteria,
                "E.i.3.2d": "resultsInDisability" in criteria,
                "E.i.3.2e": "congenitalAnomalyBirthDefect" in criteria,
                "E.i.3.2f": "otherMedicallyImportantCondition" in criteria,
                "E.i.4": case.received_at.strftime("%Y%m%d"),
            }
            for term in case.event_terms
        ],
        "G.k": [
            {
                "G.k.1": "1",
                "G.k.2.2": case.product,
                "careloop.rxnorm": case.product_code,
            }
        ],
        "H.1": (
            f"Reported by the {case.reporter} by {case.channel} in patient-support program "
            f"{case.program}: {', '.join(case.event_terms)}."
        ),
    }
