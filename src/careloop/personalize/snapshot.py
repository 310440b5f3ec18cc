"""The engine's inputs: a patient snapshot, the program it decides for, and engine settings.

The snapshot is assembled by the caller (records, governance) so the engine stays a pure
function: no queries, no clock reads, nothing but these values in and a decision out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from careloop.errors import InvalidInput
from careloop.personalize.actions import ActionSpace
from careloop.personalize.profile import PRONOUNS, QuietHours, StatedPreferences

if TYPE_CHECKING:  # NumPy is the engine's; the outbox worker reads programs without it
    from careloop.personalize.arrays import FloatArray


@dataclass(frozen=True)
class PatientSnapshot:
    """Everything the engine may know about one patient at decision time.

    ``consented_channels`` maps a purpose (e.g. ``"care-gap"``) to the channels the patient
    consented to for it; ``contact_channels`` are channels with a usable contact point (the
    patient's own, or a caregiver's when the caregiver is the contact). ``recent_contacts``
    are send times across *all* programs, for the contact budget. ``covariates`` use the keys
    of the simulator contract (age, sex, language, has_mobile, ...).
    """

    patient_id: str
    timezone: str
    language: str
    consented_channels: Mapping[str, frozenset[str]]
    contact_channels: frozenset[str]
    covariates: Mapping[str, Any] = field(default_factory=dict)
    stated: StatedPreferences = field(default_factory=StatedPreferences)
    deceased: bool = False
    opted_out: bool = False
    recent_contacts: tuple[datetime, ...] = ()
    pronoun: str = "they"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"unknown time zone {self.timezone!r}", field="timezone") from None
        if self.pronoun not in PRONOUNS:
            raise InvalidInput(f"pronoun must be one of {PRONOUNS}", field="pronoun")
        for moment in self.recent_contacts:
            if moment.tzinfo is None:
                raise InvalidInput("recent contact times must be aware", field="recent_contacts")

    @property
    def quiet_hours(self) -> QuietHours:
        return self.stated.quiet_hours or QuietHours()


@dataclass(frozen=True)
class ProgramSpec:
    """What the engine needs from a program: its name, consent purpose and action space.

    ``languages`` lists the languages the program's content exists in (``None``: any); the
    message language is never learned, it is the patient's.
    """

    name: str
    purpose: str
    action_space: ActionSpace = field(default_factory=ActionSpace)
    languages: frozenset[str] | None = None


@dataclass(frozen=True)
class EngineConfig:
    """Tunable engine settings; defaults are justified in ``docs/personalize.md``."""

    weekly_budget: int = 3
    budget_period: timedelta = timedelta(days=7)
    exploration_floor: float = 0.02
    prior_precision: float = 16.0
    offset_prior_precision: float = 1.0
    patient_half_life_days: float = 90.0
    pooled_half_life_days: float = 365.0
    quadrature_nodes: int = 24
    sampling_scale: float = 0.1
    joint_channel_window: bool = True
    cell_prior_precision: float = 4.0
    context_features: bool = True
    learn_offset_spread: bool = True
    learn_cell_covariance: bool = False
    optimism: float = 1.0

    def __post_init__(self) -> None:
        if self.weekly_budget < 0:
            raise InvalidInput("weekly_budget must be >= 0", field="weekly_budget")
        if not 0.0 < self.exploration_floor < 1.0:
            raise InvalidInput("exploration_floor must be in (0, 1)", field="exploration_floor")
        if min(self.prior_precision, self.offset_prior_precision, self.cell_prior_precision) <= 0:
            raise InvalidInput("prior precisions must be positive", field="prior_precision")
        if not 0.0 <= self.optimism <= 5.0:
            raise InvalidInput("optimism must be in [0, 5] posterior sds", field="optimism")

    def draw_distribution(self, mean: FloatArray, sd: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The Gaussian each value's score is drawn from, given its posterior: centred
        ``optimism`` sds above the mean (the least-known value is tried first), tempered by
        ``sampling_scale``. The engine's draws and the replay's probabilities both use it,
        so logged and replayed propensities agree exactly."""
        return mean + self.optimism * sd, sd * self.sampling_scale
