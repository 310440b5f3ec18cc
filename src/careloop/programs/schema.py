"""The shape of a program file, validated with Pydantic so a bad file names the bad field.

A program says who is eligible for which call to action (a measure's care gap, or its own
criteria), what counts as done, who is never contacted, what journey and messages it will use,
and how large its holdout is. Criteria are checked here for shape only; ``expressions``
compiles them (unknown names, codes and value sets fail there, at load time).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from careloop.schemas import StrictModel as _Strict

SLUG = r"^[a-z0-9][a-z0-9-]*$"
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


class ProgramPurpose(StrEnum):
    """The consent purpose a program's messages fall under (governance.consent)."""

    CARE_REMINDERS = "care-reminders"
    CLINICAL_MONITORING = "clinical-monitoring"
    SURVEYS = "surveys"


class Exclusion(StrEnum):
    """Who a program never targets, whatever its criteria say."""

    DECEASED = "deceased"
    HOSPICE = "hospice"
    PALLIATIVE_CARE = "palliative-care"
    OPTED_OUT = "opted-out"


class MeasureEligibility(_Strict):
    """Eligible = the measure's care gap (``outreach`` mode drops its qualifying-visit rule)."""

    measure: str
    mode: Literal["outreach", "reporting"] = "outreach"


class Gap(_Strict):
    """One reason to reach out: the first gap whose ``when`` holds is the patient's reason."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$")]
    reason: str
    when: dict[str, Any]


class ExpressionEligibility(_Strict):
    """Eligible = in the ``population`` and at least one of the ``gaps`` open."""

    population: dict[str, Any] | None = None
    gaps: Annotated[list[Gap], Field(min_length=1)]
    dates: dict[str, Any] = Field(default_factory=dict)


def _eligibility_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "measure" if "measure" in value else "expression"
    return "measure" if hasattr(value, "measure") else "expression"


Eligibility = Annotated[
    Annotated[MeasureEligibility, Tag("measure")]
    | Annotated[ExpressionEligibility, Tag("expression")],
    Discriminator(_eligibility_kind),
]


class Completion(_Strict):
    """Done when any of these is recorded on or after the day the patient was enrolled."""

    description: str
    any_of: Annotated[list[dict[str, Any]], Field(min_length=1)]


class JourneyStep(_Strict):
    """One step of the journey (executed by the outreach engine, later issues)."""

    step: Annotated[str, Field(pattern=SLUG)]
    action: Literal["send", "wait", "checkin", "escalate"]
    message: str | None = None
    days: Annotated[int, Field(ge=0, le=365)] = 0
    channel: Literal["preferred", "sms", "email", "voice", "portal"] = "preferred"
    questionnaire: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> JourneyStep:
        if self.action in ("send", "checkin") and not self.message:
            raise ValueError(f"step {self.step!r}: a {self.action} step needs a message")
        if self.action == "wait" and self.days == 0:
            raise ValueError(f"step {self.step!r}: a wait step needs days > 0")
        return self


class PeriodSpec(_Strict):
    """The window a program looks at: a calendar year, a rolling lookback, or a season."""

    kind: Literal["calendar-year", "lookback", "season"]
    months: Annotated[int, Field(ge=1, le=120)] | None = None
    start: str | None = None
    end: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> PeriodSpec:
        if self.kind == "lookback" and self.months is None:
            raise ValueError("a lookback period needs months")
        if self.kind == "season":
            for value in (self.start, self.end):
                if value is None or not _MONTH_DAY.match(value):
                    raise ValueError("a season needs start and end as MM-DD")
        return self


class ProgramDefinition(_Strict):
    """A program file (``library/<name>.yaml``)."""

    name: Annotated[str, Field(pattern=SLUG, max_length=100)]
    title: str
    call_to_action: str
    purpose: ProgramPurpose
    description: str = ""
    eligibility: Eligibility
    completion: Completion
    exclusions: list[Exclusion] = Field(
        default_factory=lambda: [Exclusion.DECEASED, Exclusion.HOSPICE, Exclusion.OPTED_OUT]
    )
    segment: str | None = None
    content: Annotated[list[str], Field(min_length=1)]
    journey: Annotated[list[JourneyStep], Field(min_length=1)]
    holdout: Annotated[float, Field(ge=0.0, le=0.5)]
    period: PeriodSpec
    valuesets: dict[str, str] = Field(default_factory=dict)
    codes: dict[str, str] = Field(default_factory=dict)
    define: dict[str, Any] = Field(default_factory=dict)
    # the engine's action space where it differs from the default, e.g. the framings a
    # program's messages come in: ``{framings: [plain, gain, loss, social, convenience]}``
    actions: dict[str, list[str]] = Field(default_factory=dict)
    # What a visit that closes the gap is booked as: service codes of the directory's Schedules
    # and Slots. The portal offers its own times only for these; none (a blood-pressure
    # check-in) means the care team arranges the visit.
    services: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list
    )
    # Add what the patient's replies in the period say (a barrier they named, a visit they
    # cancelled by reply) to the record's reason on the ``eligible`` event (programs.replies).
    reasons_from_replies: bool = False

    @field_validator("journey")
    @classmethod
    def _journey_uses_content(
        cls, journey: list[JourneyStep], info: ValidationInfo
    ) -> list[JourneyStep]:
        steps = [s.step for s in journey]
        if len(steps) != len(set(steps)):
            raise ValueError("journey step names must be unique")
        content = set(info.data.get("content") or ())
        missing = sorted({s.message for s in journey if s.message} - content)
        if missing:
            raise ValueError(f"journey uses messages not listed in content: {missing}")
        return journey

    @model_validator(mode="after")
    def _consistent(self) -> ProgramDefinition:
        gaps = self.eligibility.gaps if isinstance(self.eligibility, ExpressionEligibility) else []
        ids = [g.id for g in gaps]
        if len(ids) != len(set(ids)):
            raise ValueError("gap ids must be unique")
        return self
