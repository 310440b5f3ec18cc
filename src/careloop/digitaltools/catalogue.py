"""The catalogue of digital tools: what each is, which needs it serves, what it reports back."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from careloop.errors import InvalidInput
from careloop.schemas import StrictModel as _Strict

DEFAULT_CATALOGUE = Path(__file__).with_name("tools.yaml")
SYSTEM = "https://careloop.dev/fhir/CodeSystem/digital-tool"
"""The code system of a prescribed tool in ``CarePlan.activity.detail.code``."""


class ToolKind(StrEnum):
    APP = "app"
    DEVICE = "device"
    COACHING = "coaching"
    CLASS = "class"


class Trend(_Strict):
    """Follow-up when ``measure`` has not moved ``min_change`` the ``better`` way in ``weeks``."""

    measure: str
    better: Literal["down", "up"]
    min_change: Annotated[float, Field(gt=0)]
    weeks: Annotated[int, Field(ge=1, le=52)]
    # How the nurse's task names the measure and its unit ("glucose", "mg/dL"): a LOINC
    # code and a bare number ("http://loinc.org|2339-0 131.0") told them nothing.
    name: str | None = None
    unit: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.measure


class Tool(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
    title: str
    kind: ToolKind
    needs: list[str] = Field(min_length=1)
    link: Annotated[str, Field(pattern=r"^https://")]
    measures: list[str] = Field(default_factory=list)
    trend: Trend | None = None

    @model_validator(mode="after")
    def _trend_is_measured(self) -> Tool:
        if self.trend is not None and self.trend.measure not in self.measures:
            raise ValueError(f"tool {self.id!r}: the trend's measure must be one it reports")
        return self


class ToolCatalogue(_Strict):
    tools: Annotated[list[Tool], Field(min_length=1)]
    follow_up_services: list[str] = Field(default_factory=lambda: ["primary-care", "185349003"])
    """The services a follow-up visit is booked as (a Schedule's service code, any system),
    tried in order: the first with free times gives the patient's booking link."""

    def tool(self, tool_id: str) -> Tool:
        for tool in self.tools:
            if tool.id == tool_id:
                return tool
        raise InvalidInput(f"unknown digital tool {tool_id!r}", field="tool")

    def for_needs(self, needs: set[str]) -> list[Tool]:
        """Tools serving any of ``needs`` (segment names), in catalogue order."""
        return [t for t in self.tools if needs & set(t.needs)]


@lru_cache(maxsize=4)
def load_tools(path: Path | None = None) -> ToolCatalogue:
    """The catalogue at ``path`` (default: the shipped sample), checked once."""
    source = path or DEFAULT_CATALOGUE
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        return ToolCatalogue.model_validate(data)
    except OSError:
        raise InvalidInput(f"cannot read the tools file {source}", field="tools_file") from None
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, source=source.name, whole="tools") from None
