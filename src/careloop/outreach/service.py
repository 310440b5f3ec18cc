"""Outreach use cases the faces call: load the programs' journeys, build the scheduler's and
the webhooks' context, list enrollments.

Journeys come from the programs domain's library (each program's ``journey:``) and from
outreach's own journey files (``outreach/journeys/*.yaml`` and ``outreach.programs_dir``)
for journeys anchored on a record date, such as appointment reminders. A journey file with
the same name as a program refines that program's journey (waits, branches, escalation).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.errors import InvalidInput
from careloop.models import Enrollment, OutboxMessage
from careloop.outreach.config import OutreachSettings
from careloop.outreach.program import OutreachProgram, from_mapping, from_program_definition
from careloop.programs.service import load_programs

JOURNEYS_DIR = Path(__file__).parent / "journeys"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path.name}: not valid YAML", field="journey") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path.name}: a journey file is a mapping", field="journey")
    return data


def journey_files(settings: OutreachSettings) -> dict[str, dict[str, Any]]:
    folders = [JOURNEYS_DIR]
    if settings.programs_dir:
        folders.append(Path(settings.programs_dir))
    docs: dict[str, dict[str, Any]] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            doc = _read(path)
            docs[str(doc.get("name") or path.stem)] = doc
    return docs


def load_outreach_programs(
    settings: OutreachSettings, *, names: Sequence[str] | None = None, with_programs: bool = True
) -> list[OutreachProgram]:
    """Every journey outreach can run (or the ``names`` asked for), programs' first."""
    overlays = journey_files(settings)
    programs: dict[str, OutreachProgram] = {}
    if with_programs:
        for name, program in load_programs().items():
            programs[name] = from_program_definition(
                program.definition, source=program, overlay=overlays.pop(name, None)
            )
    for name, doc in overlays.items():
        programs[name] = from_mapping(doc)
    if names:
        unknown = sorted(set(names) - set(programs))
        if unknown:
            raise InvalidInput(f"unknown program {unknown[0]!r}", field="program")
        return [programs[n] for n in names]
    return list(programs.values())


def list_enrollments(
    session: Session, *, program: str | None = None, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    query = select(Enrollment).order_by(Enrollment.id.desc()).limit(limit)
    if program:
        query = query.where(Enrollment.program == program)
    if state:
        query = query.where(Enrollment.state == state)
    return [
        {
            "id": e.id,
            "patient": e.patient_id,
            "program": e.program,
            "episode": e.episode,
            "arm": e.arm,
            "state": e.state,
            "next_step": e.next_step,
            "step_due_at": e.step_due_at.isoformat() if e.step_due_at else None,
            "enrolled_at": e.enrolled_at.isoformat(),
        }
        for e in session.scalars(query)
    ]


def outbox_summary(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    ).all()
    return {str(state): int(n) for state, n in rows}


def enrollment_summary(session: Session) -> dict[str, dict[str, int]]:
    rows = session.execute(
        select(Enrollment.program, Enrollment.arm, Enrollment.state, func.count()).group_by(
            Enrollment.program, Enrollment.arm, Enrollment.state
        )
    ).all()
    out: dict[str, dict[str, int]] = {}
    for program, arm, state, n in rows:
        out.setdefault(f"{program}/{arm}", {})[str(state)] = int(n)
    return out
