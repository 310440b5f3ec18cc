"""The rewards catalogue: what earns a reward, and the caps the compliance office set.

A catalogue without a ``compliance`` section, a reward without ``max_per_year``, a reward worth
more than the per-reward cap, or a reward tied to a service the practice marked disallowed is
refused when the file is read (the error names the field): a reward that breaks the rules is
never configured, so it can never be earned.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError, model_validator

from careloop.errors import InvalidInput
from careloop.schemas import StrictModel as _Strict

DEFAULT_CATALOGUE = Path(__file__).with_name("rewards.yaml")
SLUG = r"^[a-z0-9][a-z0-9-]*$"


class TriggerKind(StrEnum):
    """What earns a reward (``loyalty.earning`` reads the event log for the first three)."""

    PROGRAM_COMPLETED = "program_completed"
    CHECKIN_STREAK = "checkin_streak"
    READING_STREAK = "reading_streak"
    STAFF = "staff"


class Compliance(_Strict):
    """Set by the practice's compliance office; every field is required."""

    approved_by: Annotated[str, Field(min_length=1)]
    approved_at: date
    per_reward_cap_cents: Annotated[int, Field(gt=0)]
    annual_cap_cents: Annotated[int, Field(gt=0)]
    disallowed_services: list[str]


class Trigger(_Strict):
    kind: TriggerKind
    programs: list[str] = Field(default_factory=list)
    weeks: Annotated[int, Field(ge=2, le=52)] | None = None

    @model_validator(mode="after")
    def _complete(self) -> Trigger:
        if self.kind is TriggerKind.PROGRAM_COMPLETED and not self.programs:
            raise ValueError("a program_completed trigger needs programs")
        streak = self.kind in (TriggerKind.CHECKIN_STREAK, TriggerKind.READING_STREAK)
        if streak and self.weeks is None:
            raise ValueError(f"a {self.kind} trigger needs weeks")
        return self


class Reward(_Strict):
    id: Annotated[str, Field(pattern=SLUG, max_length=64)]
    title: str
    trigger: Trigger
    value_cents: Annotated[int, Field(gt=0)]
    max_per_year: Annotated[int, Field(ge=1)]
    services: list[str] = Field(default_factory=list)
    """Billable services (SYSTEM|code) the reward is tied to, checked against the disallowed."""


class Catalogue(_Strict):
    compliance: Compliance
    rewards: Annotated[list[Reward], Field(min_length=1)]

    @model_validator(mode="after")
    def _within_rules(self) -> Catalogue:
        ids = [r.id for r in self.rewards]
        if len(ids) != len(set(ids)):
            raise ValueError("reward ids must be unique")
        return self

    def reward(self, reward_id: str) -> Reward:
        for reward in self.rewards:
            if reward.id == reward_id:
                return reward
        raise InvalidInput(f"unknown reward {reward_id!r}", field="reward")


def _check_compliance(catalogue: Catalogue, *, source: str) -> None:
    rules = catalogue.compliance
    disallowed = set(rules.disallowed_services)
    for index, reward in enumerate(catalogue.rewards):
        where = f"rewards.{index}"
        if reward.value_cents > rules.per_reward_cap_cents:
            raise InvalidInput(
                f"{source}: {where}.value_cents: reward {reward.id!r} is worth more than the "
                f"per-reward cap ({rules.per_reward_cap_cents})",
                field=f"{where}.value_cents",
            )
        tied = sorted(disallowed & set(reward.services))
        if tied:
            raise InvalidInput(
                f"{source}: {where}.services: reward {reward.id!r} is tied to services the "
                f"practice disallows: {tied}",
                field=f"{where}.services",
            )
        if reward.trigger.kind is TriggerKind.PROGRAM_COMPLETED and not reward.services:
            raise InvalidInput(
                f"{source}: {where}.services: a reward for completed care must name the "
                "services it is tied to, so compliance can check them",
                field=f"{where}.services",
            )


def parse_catalogue(data: Any, *, source: str) -> Catalogue:
    """Validate a catalogue mapping; the error names the first bad field."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: a rewards file must be a mapping", field="rewards")
    try:
        catalogue = Catalogue.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc, source=source, whole="rewards") from None
    _check_compliance(catalogue, source=source)
    return catalogue


@lru_cache(maxsize=8)
def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue at ``path`` (default: the shipped sample), read and checked once."""
    source = path or DEFAULT_CATALOGUE
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError:
        raise InvalidInput(f"cannot read the rewards file {source}", field="rewards_file") from None
    except yaml.YAMLError:
        raise InvalidInput(f"{source.name}: not valid YAML", field="rewards_file") from None
    return parse_catalogue(data, source=source.name)
