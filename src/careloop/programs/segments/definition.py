"""Segment files (``segments/*.yaml``): validated with Pydantic, rules compiled once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from careloop.errors import InvalidInput
from careloop.programs.lookup import find_by_name
from careloop.programs.segments.rules import CompiledRule, compile_rule

SEGMENT_DIR = Path(__file__).parent


class SegmentDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]
    title: str
    dimension: Literal["demographic", "behavioural", "needs", "psychographic"]
    description: str = ""
    rule: dict[str, Any]


@dataclass(frozen=True)
class Segment:
    definition: SegmentDefinition
    rule: CompiledRule

    @property
    def name(self) -> str:
        return self.definition.name


def read_segment(path: Path) -> Segment:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="path") from None
    except yaml.YAMLError:
        raise InvalidInput(f"{path.name} is not valid YAML", field="segment") from None
    try:
        definition = SegmentDefinition.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, source=path.name, whole="segment") from None
    if definition.name != path.stem:
        raise InvalidInput(
            f"{path.name}: name {definition.name!r} must match the file name", field="name"
        )
    try:
        rule = compile_rule(definition.rule)
    except InvalidInput as exc:
        raise InvalidInput(f"{path.name}: {exc}", field=exc.field) from None
    return Segment(definition, rule)


@lru_cache(maxsize=8)
def _load_folder(folder: Path) -> dict[str, Segment]:
    if not folder.is_dir():
        raise InvalidInput(f"no segment folder at {folder}", field="segments_dir")
    segments = [read_segment(path) for path in sorted(folder.glob("*.yaml"))]
    return {segment.name: segment for segment in segments}


def load_segments(folder: Path | None = None) -> dict[str, Segment]:
    """Every segment of a folder (the shipped ones by default), by name."""
    return dict(_load_folder((folder or SEGMENT_DIR).resolve()))


def find_segment(name: str, *, folder: Path | None = None) -> Segment:
    return find_by_name(load_segments(folder), name, field="segment")
