"""The action space: what one outreach decision picks (channel, send window, reading level, tone,
and, where a program asks for it, the message's framing).

The space is a product of four (or five) small factors. Keeping it factored is what lets the engine
learn each factor from every message (a reply to an evening SMS teaches both "evening" and
"SMS"), and lets hard constraints act per factor value (no consent for email removes every
email action at once).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from careloop.errors import InvalidInput

CHANNELS: tuple[str, ...] = ("sms", "email", "voice", "portal")
SEND_WINDOWS: tuple[str, ...] = ("08-11", "11-14", "14-17", "17-20")
READING_LEVELS: tuple[str, ...] = ("basic", "standard", "advanced")
TONES: tuple[str, ...] = ("friendly", "formal")
# Why the message says the action matters: "plain" is the unframed wording; the others are
# the framed variants of the library (gain: staying well and independent; loss: avoiding
# problems; social: family and the people who count on you; convenience: quick and easy).
FRAMINGS: tuple[str, ...] = ("plain", "gain", "loss", "social", "convenience")
FACTORS: tuple[str, ...] = ("channel", "send_window", "reading_level", "tone")

KNOWN_CHANNELS = frozenset(CHANNELS)
KNOWN_READING_LEVELS = frozenset(READING_LEVELS)
KNOWN_TONES = frozenset(TONES)
KNOWN_FRAMINGS = frozenset(FRAMINGS)


@dataclass(frozen=True, slots=True)
class SendWindow:
    """A local-time window ``[start, end)`` in minutes after midnight."""

    start_minute: int
    end_minute: int

    @classmethod
    def parse(cls, label: str, *, field: str = "send_window") -> SendWindow:
        """Parse ``"17-20"`` (hours) or ``"17:30-20:00"``; the window must not wrap midnight."""
        try:
            start_text, end_text = label.split("-")
            start, end = _minutes(start_text), _minutes(end_text)
        except ValueError:
            raise InvalidInput(f"send window {label!r} is not like '17-20'", field=field) from None
        if not 0 <= start < end <= 24 * 60:
            raise InvalidInput(f"send window {label!r} must run forward within a day", field=field)
        return cls(start, end)

    @property
    def label(self) -> str:
        return span_label(self.start_minute, self.end_minute)


def _minutes(text: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    value = int(hours) * 60 + (int(minutes) if minutes else 0)
    if int(hours) < 0 or (minutes and not 0 <= int(minutes) < 60):
        raise ValueError(text)
    return value


def span_label(start_minute: int, end_minute: int) -> str:
    """``"17-20"`` or ``"21:30-07:00"``: how send windows and quiet hours are written back,
    each end in the form :meth:`SendWindow.parse` and ``QuietHours.parse`` read."""
    return f"{_label(start_minute)}-{_label(end_minute)}"


def _label(minute: int) -> str:
    hours, minutes = divmod(minute, 60)
    return f"{hours:02d}" if minutes == 0 else f"{hours:02d}:{minutes:02d}"


@dataclass(frozen=True, slots=True)
class Action:
    """One concrete way to reach a patient."""

    channel: str
    send_window: str
    reading_level: str
    tone: str
    framing: str | None = None  # None: the program does not choose a framing

    def as_dict(self) -> dict[str, str]:
        out = {
            "channel": self.channel,
            "send_window": self.send_window,
            "reading_level": self.reading_level,
            "tone": self.tone,
        }
        if self.framing is not None:
            out["framing"] = self.framing
        return out


@dataclass(frozen=True)
class ActionSpace:
    """The values each factor may take in a program; defaults are the issue's space.

    ``framings`` is empty by default: the framing factor exists only in programs that list
    framings (``actions: {framings: [plain, gain, loss, social, convenience]}``), so the
    models of every other program keep their shape.
    """

    channels: tuple[str, ...] = CHANNELS
    send_windows: tuple[str, ...] = SEND_WINDOWS
    reading_levels: tuple[str, ...] = READING_LEVELS
    tones: tuple[str, ...] = TONES
    framings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, values, known in (
            ("channels", self.channels, KNOWN_CHANNELS),
            ("reading_levels", self.reading_levels, KNOWN_READING_LEVELS),
            ("tones", self.tones, KNOWN_TONES),
        ):
            _check_values(name, values, known)
        if self.framings:
            _check_values("framings", self.framings, KNOWN_FRAMINGS)
        _check_values("send_windows", self.send_windows, None)
        for label in self.send_windows:
            SendWindow.parse(label, field="send_windows")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> ActionSpace:
        """Build from a program's ``actions:`` mapping; missing factors keep the defaults."""
        if not config:
            return cls()
        unknown = set(config) - {"channels", "send_windows", "reading_levels", "tones", "framings"}
        if unknown:
            raise InvalidInput(f"unknown action factor {sorted(unknown)[0]!r}", field="actions")
        values: dict[str, tuple[str, ...]] = {}
        for key, raw in config.items():
            if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
                raise InvalidInput(f"{key} must be a list of strings", field=f"actions.{key}")
            values[key] = tuple(raw)
        return cls(**values)

    @property
    def factors(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        out = (
            ("channel", self.channels),
            ("send_window", self.send_windows),
            ("reading_level", self.reading_levels),
            ("tone", self.tones),
        )
        return (*out, ("framing", self.framings)) if self.framings else out

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.factors)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(values) for _, values in self.factors)

    @property
    def size(self) -> int:
        total = 1
        for size in self.sizes:
            total *= size
        return total

    @property
    def windows(self) -> tuple[SendWindow, ...]:
        return tuple(SendWindow.parse(label) for label in self.send_windows)

    def action(self, indices: Sequence[int]) -> Action:
        """The action with value ``indices[f]`` on each factor ``f``."""
        c, w, r, t = (int(i) for i in indices[:4])
        framing = self.framings[int(indices[4])] if self.framings else None
        return Action(
            self.channels[c], self.send_windows[w], self.reading_levels[r], self.tones[t], framing
        )

    def indices(self, action: Action) -> tuple[int, ...]:
        """Factor indices of ``action``; InvalidInput when a value is not in this space.

        A decision logged before its program chose framings counts as ``plain``."""
        chosen = [action.channel, action.send_window, action.reading_level, action.tone]
        if self.framings:
            chosen.append(action.framing or "plain")
        out: list[int] = []
        for (name, values), value in zip(self.factors, chosen, strict=True):
            if value not in values:
                raise InvalidInput(f"{name} {value!r} is not in the action space", field=name)
            out.append(values.index(value))
        return tuple(out)

    def all_actions(self) -> list[Action]:
        """Every action, in the order of :meth:`flat_index`."""
        return [Action(*combo) for combo in itertools.product(*(v for _, v in self.factors))]

    def flat_index(self, indices: Sequence[int]) -> int:
        flat = 0
        for size, index in zip(self.sizes, indices, strict=True):
            flat = flat * size + int(index)
        return flat


def _check_values(name: str, values: tuple[str, ...], known: frozenset[str] | None) -> None:
    if not values:
        raise InvalidInput(f"{name} must not be empty", field=f"actions.{name}")
    if len(set(values)) != len(values):
        raise InvalidInput(f"{name} has duplicates", field=f"actions.{name}")
    if known is not None:
        for value in values:
            if value not in known:
                raise InvalidInput(f"unknown {name[:-1]} {value!r}", field=f"actions.{name}")
