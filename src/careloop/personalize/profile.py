"""A patient's preference profile: what they told us (stated) and what we learned (posterior).

Stated preferences are hard where they must be (quiet hours, language, caregiver as contact)
and soft where a patient's word is evidence rather than a rule (channel, window, reading level,
tone): the engine uses those as covariates and learns how far to trust them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from careloop.errors import InvalidInput
from careloop.fielddicts import field_dict
from careloop.personalize.actions import (
    KNOWN_CHANNELS,
    KNOWN_FRAMINGS,
    KNOWN_READING_LEVELS,
    KNOWN_TONES,
    SendWindow,
    span_label,
)

PRONOUNS = ("she", "he", "they")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local times when nobody may be contacted, ``[start, end)`` in minutes; may wrap midnight.

    ``start == end`` means no quiet hours at all.
    """

    start_minute: int = 21 * 60
    end_minute: int = 8 * 60

    @classmethod
    def parse(cls, label: str) -> QuietHours:
        """``"21-08"`` or ``"21:30-07:00"``."""
        try:
            start_text, end_text = label.split("-")
            start = _parse_clock(start_text)
            end = _parse_clock(end_text)
        except ValueError:
            raise InvalidInput(
                f"quiet hours {label!r} are not like '21-08'", field="quiet_hours"
            ) from None
        return cls(start, end)

    def contains(self, minute: int) -> bool:
        """Whether local minute-of-day ``minute`` falls in quiet hours."""
        if self.start_minute == self.end_minute:
            return False
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute

    @property
    def label(self) -> str:
        return span_label(self.start_minute, self.end_minute)


def _parse_clock(text: str) -> int:
    hours_text, _, minutes_text = text.strip().partition(":")
    hours = int(hours_text)
    minutes = int(minutes_text) if minutes_text else 0
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 24 * 60:
        raise ValueError(text)
    return (hours * 60 + minutes) % (24 * 60)


@dataclass(frozen=True, slots=True)
class StatedPreferences:
    """What the patient (or staff on their behalf) said. ``None`` means "not stated"."""

    channel: str | None = None
    send_window: str | None = None
    language: str | None = None
    quiet_hours: QuietHours | None = None
    reading_level: str | None = None
    tone: str | None = None
    caregiver_as_contact: bool = False
    # What the patient said matters most to them (the motivation check-in), as a framing:
    # a prior the engine starts from, which replies then confirm or overturn.
    framing: str | None = None

    def __post_init__(self) -> None:
        if self.channel is not None and self.channel not in KNOWN_CHANNELS:
            raise InvalidInput(f"unknown channel {self.channel!r}", field="channel")
        if self.send_window is not None:
            SendWindow.parse(self.send_window, field="send_window")
        if self.reading_level is not None and self.reading_level not in KNOWN_READING_LEVELS:
            raise InvalidInput(
                f"unknown reading level {self.reading_level!r}", field="reading_level"
            )
        if self.tone is not None and self.tone not in KNOWN_TONES:
            raise InvalidInput(f"unknown tone {self.tone!r}", field="tone")
        if self.framing is not None and self.framing not in KNOWN_FRAMINGS:
            raise InvalidInput(f"unknown framing {self.framing!r}", field="framing")
        if self.language is not None and not _looks_like_bcp47(self.language):
            raise InvalidInput(f"language {self.language!r} is not a BCP-47 tag", field="language")

    def as_dict(self) -> dict[str, Any]:
        return field_dict(self, quiet_hours=self.quiet_hours.label if self.quiet_hours else None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatedPreferences:
        unknown = set(data) - set(STATED_KEYS)
        if unknown:
            raise InvalidInput(f"unknown preference {sorted(unknown)[0]!r}", field="preferences")
        quiet = data.get("quiet_hours")
        return cls(
            channel=data.get("channel"),
            send_window=data.get("send_window"),
            language=data.get("language"),
            quiet_hours=QuietHours.parse(quiet) if isinstance(quiet, str) else None,
            reading_level=data.get("reading_level"),
            tone=data.get("tone"),
            caregiver_as_contact=bool(data.get("caregiver_as_contact", False)),
            framing=data.get("framing"),
        )

    def updated(self, changes: Mapping[str, Any]) -> StatedPreferences:
        """A copy with ``changes`` applied; a value of ``None`` clears that preference."""
        merged = self.as_dict()
        for key, value in changes.items():
            if key not in STATED_KEYS:
                raise InvalidInput(f"unknown preference {key!r}", field=key)
            merged[key] = value
        return StatedPreferences.from_dict(merged)


STATED_KEYS = (
    "channel",
    "send_window",
    "language",
    "quiet_hours",
    "reading_level",
    "tone",
    "caregiver_as_contact",
    "framing",
)


def _looks_like_bcp47(tag: str) -> bool:
    parts = tag.split("-")
    return (
        2 <= len(parts[0]) <= 3
        and parts[0].isalpha()
        and all(1 <= len(p) <= 8 and p.isalnum() for p in parts[1:])
    )


@dataclass(frozen=True, slots=True)
class FactorEvidence:
    """What the engine learned about one factor value for one patient."""

    sent: int
    responded: int
    offset_mean: float
    offset_sd: float

    def as_dict(self) -> dict[str, Any]:
        return field_dict(
            self, offset_mean=round(self.offset_mean, 4), offset_sd=round(self.offset_sd, 4)
        )


@dataclass(frozen=True)
class PreferenceProfile:
    """Stated preferences plus the learned summary (per program, factor and value)."""

    patient_id: str
    stated: StatedPreferences = field(default_factory=StatedPreferences)
    learned: Mapping[str, Mapping[str, Mapping[str, FactorEvidence]]] = field(default_factory=dict)

    def with_stated(self, stated: StatedPreferences) -> PreferenceProfile:
        return replace(self, stated=stated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "stated": self.stated.as_dict(),
            "learned": {
                program: {
                    factor: {value: ev.as_dict() for value, ev in values.items()}
                    for factor, values in factors.items()
                }
                for program, factors in self.learned.items()
            },
        }
