"""Render a batch's messages once per group: the same message, variant, language, channel and
time zone with the same values in the fields the words use give the same text.

A night renders thousands of messages from a few dozen variants, and most variants use no
field of the patient's own (the clinic's phone, the booking link), so most renders repeat.
:class:`RenderMemo` renders the first of a group with its fields watched, notes which fields
the render read and their values, and gives a later patient that render when those fields
hold the same values (compared by type and ``repr``: an equal instant in another zone, or
``True`` for ``1``, is a different value). A render that fails is never kept.

Names would make nearly every render unique. A decided message is therefore rendered with a
marker in place of each name (:data:`NAME_FIELDS`) and the names written into the kept text
per patient, when that gives the very text a render with the name gives: every template the
render used has a plan (no Jinja) printing the name bare, and the name is
:func:`plain` (no whitespace run, period or character that tidying, the SMS split, HTML
escaping or link finding treats apart). The SMS encoding and segments are counted again on
the filled text. Anything else renders with the real name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session

from careloop.content.compose import RenderedMessage
from careloop.content.library import Library
from careloop.content.render import traced_renders
from careloop.content.render_plan import RenderPlan, Slot
from careloop.content.sms import sms_info
from careloop.content.vocab import Channel
from careloop.errors import CareloopError
from careloop.outreach.decided import render_decided
from careloop.personalize.engine import Decision

_MISSING = object()
Value = tuple[type, str]
# The per-person fields written into a kept render, each with its marker (private-use
# characters: no template, name or formatting produces them).
NAME_FIELDS = {
    name: f"\ue000{name}\ue001" for name in ("first_name", "last_name", "patient_first_name")
}
# Words of anything but whitespace, periods, the punctuation a link's end drops, HTML's
# special characters and the markers' characters, one space apart.
_WORD = "[^\\s.,;:)<>&'\"\ue000\ue001]+"
_PLAIN = re.compile(f"{_WORD}(?: {_WORD})*")


def plain(value: object) -> bool:
    """Whether ``value`` written where a marker was gives the text a render with it gives."""
    return type(value) is str and _PLAIN.fullmatch(value) is not None


def _prints_bare(plans: list[RenderPlan | None], names: set[str]) -> bool:
    """Every template was filled by its plan, ``names`` printed without a formatter and no
    literal text holds a marker's character."""
    for plan in plans:
        if plan is None:
            return False
        for piece in plan.pieces:
            if isinstance(piece, Slot):
                if piece.field in names and piece.formatter is not None:
                    return False
            elif "\ue000" in piece:
                return False
    return True


def _filled(
    rendered: RenderedMessage, names: tuple[str, ...], fields: Mapping[str, object]
) -> RenderedMessage:
    """``rendered`` (made with markers for ``names``) with the patient's values written in."""
    body, subject, html = rendered.body, rendered.subject, rendered.html
    for name in names:
        marker, value = NAME_FIELDS[name], str(fields[name])
        body = body.replace(marker, value)
        subject = subject.replace(marker, value) if subject is not None else None
        html = html.replace(marker, value) if html is not None else None
    info = sms_info(body) if rendered.channel is Channel.SMS else None
    return replace(
        rendered,
        body=body,
        subject=subject,
        html=html,
        text=body if rendered.text is not None else None,
        segments=info.segments if info else None,
        encoding=str(info.encoding) if info else None,
    )


class _Marked(Mapping[str, object]):
    """``fields`` with a marker in place of each plain name."""

    def __init__(self, fields: Mapping[str, object], names: set[str]) -> None:
        self._fields, self._names = fields, names

    def __getitem__(self, key: str) -> object:
        return NAME_FIELDS[key] if key in self._names else self._fields[key]

    def get(self, key: str, default: object = None) -> object:
        return NAME_FIELDS[key] if key in self._names else self._fields.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


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
    marked: tuple[str, ...] = ()  # the names written in per patient


@dataclass
class RenderMemo:
    """Renders kept for one batch (one library, one moment); ``renders`` counts real ones."""

    groups: dict[tuple[object, ...], _Group] = field(default_factory=dict)
    renders: int = 0
    # Decided messages' groups rendered with name markers; None: the words cannot take them.
    marked: dict[tuple[object, ...], _Group | None] = field(default_factory=dict)

    def with_names(
        self,
        group: tuple[object, ...],
        fields: Mapping[str, object],
        render: Callable[[Mapping[str, object]], RenderedMessage],
    ) -> RenderedMessage:
        """:meth:`render` for a decided message, the group's text kept with markers for the
        names and filled per patient where that gives the same text."""
        names = {name for name in NAME_FIELDS if plain(fields.get(name))}
        known = self.marked.get(group, _MISSING)
        if (
            not names
            or known is None
            or (isinstance(known, _Group) and not set(known.marked) <= names)
        ):
            return self.render(group, fields, render)
        marked = _Marked(fields, names)
        if isinstance(known, _Group):
            values = tuple(_value(marked.get(name, _MISSING)) for name in known.names)
            kept = known.renders.get(values)
            if kept is not None:
                return _filled(kept, known.marked, fields)
        watched = _Watched(marked)
        with traced_renders() as plans:
            try:
                rendered = render(watched)
            except CareloopError:
                rendered = None  # the render with the names says why
        self.renders += 1
        read = tuple(name for name in watched.read if name in names)
        if not any(name in watched.read for name in NAME_FIELDS):
            self.marked[group] = None  # words without names: shared by the values they read
            return self.render(group, fields, render)
        if rendered is None or not read:  # this patient's error, or names not plain
            return self.render(group, fields, render)
        if watched.whole or not _prints_bare(plans, set(read)):
            self.marked[group] = None
            return self.render(group, fields, render)
        if known is _MISSING:
            known = self.marked[group] = _Group(tuple(watched.read), marked=read)
        if isinstance(known, _Group) and (known.names, known.marked) == (tuple(watched.read), read):
            known.renders[tuple(watched.read.values())] = rendered
        return _filled(rendered, read, fields)

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
        return self.with_names(
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
