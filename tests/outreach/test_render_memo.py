"""Renders shared within a batch only when the fields the words read hold the same values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.content.test_render_plan import FIELDS as RENDER_FIELDS

from careloop.content.compose import render_message
from careloop.content.library import Library, VariantKey, load_library
from careloop.errors import CareloopError
from careloop.outreach.render_memo import NAME_FIELDS, RenderMemo, plain


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


# Every shipped variant, rendered for patients in turn through one memo (names kept as
# markers and written in) and alone: the same message, field by field.
# Every field that shows a difference (whitespace runs, a period before the template's own,
# a late hour in the reader's zone), but the names: the patients below bring their own.
_FIELDS = {k: v for k, v in RENDER_FIELDS.items() if k not in NAME_FIELDS}
# Plain names (written into the kept text) and names that are not (rendered with them):
# whitespace runs, periods before the template's own, HTML's and SMS's special characters.
_NAMES = [
    ("Ana", "Lopez", "Rosa"),
    ("Mary Ann", "Nguyễn", "José"),
    ("Ana  María", "O'Neil", "Zoë"),
    ("Abe604", "Smith-Jones", "Li"),
    ("St. John", "A&B", "<b>"),
    ("Ann", "Lee", "Bob"),
    ("Éloïse", "Ng", "Ann"),
    ("李", "王", "Jo"),
]


def _render_as_sent(library: Library, key: VariantKey, fields: Mapping[str, object]) -> Any:
    return render_message(
        library,
        message=key.message,
        language=key.language,
        reading_level=str(key.reading_level),
        tone=str(key.tone),
        channel=str(key.channel),
        fields=fields,
        locale=key.language,
        timezone="America/New_York",
        detailed_consent=False,
    )


def _people(first: str, last: str, about: str) -> dict[str, object]:
    return _FIELDS | {"first_name": first, "last_name": last, "patient_first_name": about}


def test_every_shipped_variant_renders_with_names_written_in_as_with_the_names() -> None:
    library = load_library(None)
    memo = RenderMemo()
    for key in library.variants:
        for names in _NAMES:
            fields = _people(*names)
            kept = memo.with_names(
                (key, "America/New_York"),
                fields,
                lambda watched, key=key: _render_as_sent(library, key, watched),  # type: ignore[misc]
            )
            assert kept == _render_as_sent(library, key, fields), (key, names)
    # Six of the eight patients' names are plain: written into one kept text per variant.
    assert memo.renders < len(library.variants) * len(_NAMES) * 3 / 8


@given(
    first=st.text(min_size=1, max_size=12),
    last=st.text(alphabet="ab .'&<>-\u00e9\u00a0\u2028\x1c", min_size=1, max_size=8),
)
@settings(max_examples=200, deadline=None)
def test_any_name_gives_the_text_a_render_with_it_gives(first: str, last: str) -> None:
    library = _LIBRARY
    memo = RenderMemo()
    for key in _SOME_KEYS:
        for fields in (_people("Ann", "Lee", "Bob"), _people(first, last, first)):

            def render(watched: Mapping[str, object], key: VariantKey = key) -> Any:
                return _render_as_sent(library, key, watched)

            try:
                expected = _render_as_sent(library, key, fields)
            except CareloopError:
                with pytest.raises(CareloopError):
                    memo.with_names((key,), fields, render)
                continue
            assert memo.with_names((key,), fields, render) == expected


_LIBRARY = load_library(None)
# A variant of each channel that prints the first name, and one that prints the last name.
_SOME_KEYS = [
    key
    for channel in ("sms", "email", "voice", "portal")
    for key in [
        next(
            k
            for k, v in _LIBRARY.variants.items()
            if str(k.channel) == channel and any("first_name" in p for p in v.parts.values())
        )
    ]
] + [
    next(k for k, v in _LIBRARY.variants.items() if any("last_name" in p for p in v.parts.values()))
]


def test_plain_names_are_words_one_space_apart() -> None:
    assert [plain(n) for n in ("Ann", "Mary Ann", "Nguyễn", "Smith-Jones", "李")] == [True] * 5
    unplain = ("", " Ann", "Ann ", "Mary  Ann", "St. John", "O'Neil", "A&B", "Ann\x1cLee",
               "Ann\u2028Lee", "Ann\u00a0Lee", "Ann;", "Ann)", 3)  # fmt: skip
    assert not any(plain(n) for n in unplain)
