"""Programs and segments as plain JSON-ready data (for the CLI and the API), and validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from careloop.content.library import load_library
from careloop.errors import InvalidInput
from careloop.programs.definition import Program, read_program
from careloop.programs.schema import MeasureEligibility
from careloop.programs.segments.definition import Segment, find_segment


def _eligibility_label(program: Program) -> str:
    eligibility = program.definition.eligibility
    if isinstance(eligibility, MeasureEligibility):
        return f"{eligibility.measure} ({eligibility.mode})"
    return "criteria: " + ", ".join(gap.id for gap in program.gaps)


def program_summary(program: Program) -> dict[str, Any]:
    d = program.definition
    return {
        "name": d.name,
        "title": d.title,
        "call_to_action": d.call_to_action,
        "purpose": str(d.purpose),
        "eligibility": _eligibility_label(program),
        "period": d.period.model_dump(exclude_none=True),
        "holdout": d.holdout,
        "segment": d.segment,
    }


def program_detail(program: Program) -> dict[str, Any]:
    detail = program.definition.model_dump(mode="json", exclude_none=True)
    detail["source"] = program.source.name
    return detail


def segment_summary(segment: Segment) -> dict[str, Any]:
    d = segment.definition
    return {
        "name": d.name,
        "title": d.title,
        "dimension": d.dimension,
        "description": d.description,
    }


def validate_program_file(path: Path, *, segments_dir: Path | None = None) -> Program:
    """Everything ``read_program`` checks, plus the references to other domains' names.

    Message ids must exist in the content library and a ``segment:`` filter must name a
    segment; both are checked here rather than at every load (the library takes ~0.4 s).
    """

    program = read_program(path)
    messages = load_library().messages
    unknown = sorted(set(program.definition.content) - set(messages))
    if unknown:
        raise InvalidInput(
            f"{path.name}: content: unknown message ids {unknown} (known: {sorted(messages)})",
            field="content",
        )
    if program.definition.segment is not None:
        try:
            find_segment(program.definition.segment, folder=segments_dir)
        except InvalidInput as exc:
            raise InvalidInput(f"{path.name}: segment: {exc}", field="segment") from None
    return program
