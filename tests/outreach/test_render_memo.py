"""Renders shared within a batch only when the fields the words read hold the same values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from careloop.outreach.render_memo import RenderMemo


class _Renders:
    """A stand-in render: reads ``phone`` (and ``name`` when asked), counts real renders."""

    def __init__(self, *, names: bool = False, whole: bool = False) -> None:
        self.calls = 0
        self.names, self.whole = names, whole

    def __call__(self, fields: Mapping[str, object]) -> Any:
        self.calls += 1
        if self.whole:
            return dict(fields)
        text = f"call {fields['phone']}"
        if self.names:
            text += f" {fields.get('name')}"
        return text


def test_a_group_renders_once_for_equal_values_of_the_fields_it_reads() -> None:
    memo, render = RenderMemo(), _Renders()
    group = ("flu", "en", "sms")
    first = memo.render(group, {"phone": "555", "name": "Ann"}, render)
    again = memo.render(group, {"phone": "555", "name": "Bob"}, render)  # name is not read
    other = memo.render(group, {"phone": "556", "name": "Ann"}, render)
    elsewhere = memo.render(("flu", "es", "sms"), {"phone": "555"}, render)

    assert (first, again, other, elsewhere) == ("call 555", "call 555", "call 556", "call 555")
    assert render.calls == memo.renders == 3


def test_values_that_are_equal_but_print_differently_are_rendered_apart() -> None:
    memo, render = RenderMemo(), _Renders()
    at = datetime(2026, 12, 1, 15, tzinfo=UTC)
    east = at.astimezone(timezone(timedelta(hours=-5)))
    assert at == east
    for phone in (at, east, 1, True, 1):
        memo.render(("g",), {"phone": phone}, render)

    assert render.calls == 4  # only the second 1 is shared


def test_a_render_that_reads_every_field_or_fails_is_not_kept() -> None:
    memo, whole = RenderMemo(), _Renders(whole=True)
    memo.render(("g",), {"phone": "555"}, whole)
    memo.render(("g",), {"phone": "555"}, whole)
    assert whole.calls == 2

    names = _Renders(names=True)
    with pytest.raises(KeyError):
        memo.render(("h",), {"name": "Ann"}, names)  # no phone: the render fails
    memo.render(("h",), {"phone": "555", "name": "Ann"}, names)
    memo.render(("h",), {"phone": "555", "name": "Bob"}, names)
    memo.render(("h",), {"phone": "555", "name": "Ann"}, names)
    assert names.calls == 3  # the failure, Ann, Bob; Ann again is the kept render
