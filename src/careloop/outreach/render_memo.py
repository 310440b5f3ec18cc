"""Render a batch's messages once per group: the same message, variant, language, channel and
time zone with the same values in the fields the words use give the same text.

A night renders thousands of messages from a few dozen variants, and most variants use no
field of the patient's own (the clinic's phone, the booking link), so most renders repeat.
:class:`RenderMemo` renders the first of a group with its fields watched, notes which fields
the render read and their values, and gives a later patient that render when those fields
hold the same values (compared by type and ``repr``: an equal instant in another zone, or
``True`` for ``1``, is a different value). A render that fails is never kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from careloop.content.compose import RenderedMessage
from careloop.content.library import Library
from careloop.outreach.decided import render_decided
from careloop.personalize.engine import Decision

_MISSING = object()
Value = tuple[type, str]


def _value(value: object) -> Value:
    return type(value), repr(value)


class _Watched(Mapping[str, object]):
    """Fields that note each one read; reading them all (iteration) makes the render
    unshareable."""

    def __init__(self, fields: Mapping[str, object]) -> None:
        self._fields = fields
        self.read: dict[str, Value] = {}
        self.whole = False

    def __getitem__(self, key: str) -> object:
        value = self._fields.get(key, _MISSING)
        self.read[key] = _value(value)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: str, default: object = None) -> object:
        value = self._fields.get(key, _MISSING)
        self.read[key] = _value(value)
        return default if value is _MISSING else value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        self.read[key] = _value(self._fields.get(key, _MISSING))
        return key in self._fields

    def __iter__(self) -> Iterator[str]:
        self.whole = True
        return iter(self._fields)

    def __len__(self) -> int:
        self.whole = True
        return len(self._fields)


@dataclass
class _Group:
    names: tuple[str, ...]
    renders: dict[tuple[Value, ...], RenderedMessage] = field(default_factory=dict)


@dataclass
class RenderMemo:
    """Renders kept for one batch (one library, one moment); ``renders`` counts real ones."""

    groups: dict[tuple[object, ...], _Group] = field(default_factory=dict)
    renders: int = 0

    def render(
        self,
        group: tuple[object, ...],
        fields: Mapping[str, object],
        render: Callable[[Mapping[str, object]], RenderedMessage],
    ) -> RenderedMessage:
        """``render(fields)``, or the group's earlier render from equal values of the fields
        it read. ``group`` must hold every other input of ``render``."""
        known = self.groups.get(group)
        if known is not None:
            values = tuple(_value(fields.get(name, _MISSING)) for name in known.names)
            kept = known.renders.get(values)
            if kept is not None:
                return kept
        watched = _Watched(fields)
        rendered = render(watched)
        self.renders += 1
        if watched.whole:
            return rendered
        names = tuple(watched.read)
        if known is None:
            known = self.groups[group] = _Group(names)
        if known.names == names:
            known.renders[tuple(watched.read.values())] = rendered
        return rendered

    def decided(
        self,
        session: Session,
        decision: Decision,
        *,
        message: str,
        channel: str,
        fields: Mapping[str, object],
        timezone: str,
        library: Library | None,
    ) -> RenderedMessage:
        """:func:`~careloop.outreach.decided.render_decided`, once per group: the message,
        the engine's words (language, reading level, tone, framing), channel, zone, library."""
        action = decision.action
        assert action is not None  # only a decision that sends is rendered
        group = (message, decision.language, action.reading_level, action.tone,
                 action.framing, channel, timezone, id(library))  # fmt: skip
        return self.render(
            group,
            fields,
            lambda watched: render_decided(
                session,
                message=message,
                decision=decision,
                channel=channel,
                fields=watched,
                timezone=timezone,
                library=library,
            ),
        )
