"""Clinical rules as data: the YAML schema, SLAs by severity, and loading.

Rules live in ``feedback/rules/*.yaml`` (and any folder a deployment adds) so that a
clinical lead can read and change them without reading Python; each carries the evidence
it rests on. The schema is strict: an unknown key or a wrong type stops the load with the
file and rule named, because a silently ignored rule is a missed alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError

from careloop.content.advice import advice_ids
from careloop.errors import InvalidInput
from careloop.schemas import StrictModel as _Strict


class Severity(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        """0 is most pressing; the worklist sorts on it."""
        return {"urgent": 0, "high": 1, "routine": 2}[self.value]


# Time to acknowledge, by severity.
DEFAULT_SLA = {
    Severity.URGENT: timedelta(hours=1),
    Severity.HIGH: timedelta(hours=24),
    Severity.ROUTINE: timedelta(hours=72),
}


class AdjustmentKind(StrEnum):
    CHECKIN_FREQUENCY = "checkin_frequency"
    FOLLOW_UP_VISIT = "follow_up_visit"
    REMINDER_PLAN = "reminder_plan"
    NAVIGATOR_REFERRAL = "navigator_referral"
    RIDE_SERVICE = "ride_service"
    SYMPTOM_DIARY = "symptom_diary"


class Proposal(_Strict):
    kind: AdjustmentKind
    reason: str
    details: dict[str, Any] = Field(default_factory=dict)


class Comparison(_Strict):
    measure: str
    op: Literal[">=", ">", "<=", "<", "=="]
    value: float


class _RuleBase(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,99}$")
    title: str
    severity: Severity
    sla_hours: float | None = None
    program: str | None = None
    team: str | None = None
    evidence: list[str] = Field(min_length=1)
    propose: Proposal | None = None
    task: bool = False
    suppress_repeats_hours: float = 0
    sla_minutes: float | None = None
    """An acknowledgement deadline in minutes, for emergencies (wins over ``sla_hours``)."""
    requires_active_therapy: bool = False
    """Only for patients on active systemic anticancer therapy (see ``feedback.therapy``)."""
    patient_message: str | None = None
    """Advice the patient gets at once, on the channel they used (``content/advice``)."""
    card: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,99}$")
    """Rules that see one event from two sides (a fever reported and a fever measured) name
    the same card: the second adds to the open item instead of raising another."""

    @property
    def sla(self) -> timedelta:
        if self.sla_minutes is not None:
            return timedelta(minutes=self.sla_minutes)
        if self.sla_hours is not None:
            return timedelta(hours=self.sla_hours)
        return DEFAULT_SLA[self.severity]


class ThresholdRule(_RuleBase):
    kind: Literal["threshold"]
    match: Literal["any", "all"] = "any"
    conditions: list[Comparison] = Field(min_length=1)


class TrendRule(_RuleBase):
    """Not improving: late-window mean above target and not lower than early mean by enough."""

    kind: Literal["trend"]
    measure: str
    window_days: int = 42
    compare_days: int = 14
    min_span_days: int = 28
    min_readings: int = 6
    target_above: float
    min_improvement: float


class RiseRule(_RuleBase):
    kind: Literal["rise"]
    measure: str
    window_hours: float
    rise_at_least: float
    requires_condition: list[str] = Field(default_factory=list)


class SymptomRule(_RuleBase):
    """Basch's rule: a grade at or above a level, or worse than the previous report.

    ``items`` limits the rule to some symptoms, each with its own grade (the emergency
    symptoms); ``grade_below`` leaves higher grades to a more severe rule; ``worse_by``
    compares with the patient's previous report of the same symptom (Basch 2016,
    PRO-TECT), never with their first.
    """

    kind: Literal["symptom"]
    item_system: str
    grade_at_least: float | None = None
    grade_below: float | None = None
    worse_by: float | None = None
    items: dict[str, float] = Field(default_factory=dict)


class FeverRule(_RuleBase):
    """A measured temperature at or above a level (febrile neutropenia on therapy).

    The finding says whether the reading meets the IDSA/ASCO definition of neutropenic
    fever (one reading >= ``single_at_least``, or >= ``at_least`` sustained over
    ``sustained_minutes``); it fires from ``at_least`` on because that is when ASCO/IDSA
    tell patients on chemotherapy to call.
    """

    kind: Literal["fever"]
    measure: str = "body_temperature"
    at_least: float
    single_at_least: float
    sustained_minutes: float = 60


class AnswerRule(_RuleBase):
    kind: Literal["answer"]
    item: str
    op: Literal[">=", ">", "<=", "<", "=="]
    value: float | str


class MissingDataRule(_RuleBase):
    kind: Literal["missing_data"]
    nudge_after_days: float
    task_after_days: float
    active_within_days: float = 30


Rule = Annotated[
    ThresholdRule | TrendRule | RiseRule | SymptomRule | FeverRule | AnswerRule | MissingDataRule,
    Field(discriminator="kind"),
]


class _RuleFile(_Strict):
    rules: list[Rule]


def _load_text(text: str, *, name: str) -> list[Rule]:
    try:
        document = yaml.safe_load(text)
        return list(_RuleFile.model_validate(document).rules)
    except yaml.YAMLError as exc:
        raise InvalidInput(
            f"{name}: not valid YAML ({exc.__class__.__name__})", field=name
        ) from None
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, source=name, whole="rules") from None


def load_rules(extra_dirs: Iterable[Path] = ()) -> list[Rule]:
    """The bundled rules plus those in ``extra_dirs``; rule ids must be unique."""
    found: list[Rule] = []
    bundled = resources.files("careloop.feedback") / "rules"
    for item in sorted(bundled.iterdir(), key=lambda p: p.name):
        if item.name.endswith((".yaml", ".yml")):
            found.extend(_load_text(item.read_text(encoding="utf-8"), name=item.name))
    for folder in extra_dirs:
        for path in sorted(Path(folder).glob("*.y*ml")):
            found.extend(_load_text(path.read_text(encoding="utf-8"), name=path.name))
    seen: set[str] = set()
    known_advice = advice_ids()
    for rule in found:
        if rule.id in seen:
            raise InvalidInput(f"rule id {rule.id} is defined twice", field="rules")
        if rule.patient_message is not None and rule.patient_message not in known_advice:
            raise InvalidInput(
                f"rule {rule.id}: patient_message {rule.patient_message!r} is not in "
                "content/advice",
                field="rules",
            )
        seen.add(rule.id)
    return found


@lru_cache(maxsize=1)
def default_rules() -> Sequence[Rule]:
    """The process-wide rule set, read on first use."""
    return tuple(load_rules())


def rule_by_id(rules: Sequence[Rule], rule_id: str) -> Rule:
    for rule in rules:
        if rule.id == rule_id:
            return rule
    raise InvalidInput(f"unknown rule {rule_id!r}", field="rule")
