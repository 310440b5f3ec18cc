"""Render plans: every shipped variant renders to the same text with or without Jinja."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from careloop.content.library import load_library
from careloop.content.render import (
    ALLOWED_FIELDS,
    RenderError,
    render_context,
    render_template,
    render_with_jinja,
    renders_without_jinja,
    template_fields,
)

# Values that would show a difference: whitespace to collapse, a period before the template's
# own, digits to spell, a time late enough to change the date in the reader's zone.
FIELDS: dict[str, object] = {
    "first_name": "Ana  María",
    "last_name": "O'Neil",
    "care_team_name": "Riverside Family Care.",
    "clinic_phone": "(555) 010-0100",
    "booking_link": "https://example.org/book?p=1&x=2",
    "portal_link": "https://example.org/portal",
    "checkin_link": "https://example.org/c/abc",
    "readings_link": "https://example.org/readings",
    "appointment_at": datetime(2026, 3, 11, 2, 30, tzinfo=UTC),
    "appointment_place": "Suite 4\nMain St.",
    "due_date": date(2026, 12, 31),
    "days_without_readings": 4,
    "program_name": "Colorectal <screening>",
    "slot_choices": "1 for Tue 3:45 PM, 2 for Thu 5:00 PM",
    "pickup_at": datetime(2026, 3, 10, 23, 5, tzinfo=UTC),
    "ride_provider": "RideCo",
    "telehealth_link": "https://example.org/v/1",
    "tool_name": "BP Coach",
    "tool_link": "https://example.org/t",
    "dose_time": "07:30",
    "patient_first_name": "Rosa",
    "days_left": 3,
    "form_link": "https://example.org/f",
    "review_link": "https://example.org/r",
    "review_site": "Google",
    "help_offer": "ride",
}
READERS = [
    render_context(locale="en_US", timezone="America/New_York"),
    render_context(locale="es_MX", timezone="America/Mexico_City"),
    render_context(locale="pt_BR", timezone="America/Sao_Paulo"),
    render_context(locale="zh_CN", timezone="Asia/Shanghai"),
]


def test_the_field_list_covers_every_allowed_field() -> None:
    assert set(FIELDS) == set(ALLOWED_FIELDS)


def test_every_shipped_template_renders_as_jinja_renders_it() -> None:
    library = load_library(None)
    sources = {source for variant in library.variants.values() for source in variant.parts.values()}
    assert len(sources) > 500
    assert sum(map(renders_without_jinja, sources)) / len(sources) > 0.95
    for where in READERS:
        for source in sources:
            assert render_template(source, fields=FIELDS, where=where) == render_with_jinja(
                source, fields=FIELDS, where=where
            ), source


@pytest.mark.parametrize(
    ("source", "planned"),
    [
        ("Hi {{ first_name | upper }}", False),  # a builtin filter: rendered by Jinja
        ("{% if first_name %}Hi {{ first_name }}{% endif %}", False),
        ("Call {{ clinic_phone | digits }} on {{ appointment_at | date('EEEE d MMMM') }}.", True),
        ("{{ days_left }} days.. left", True),
    ],
)
def test_templates_with_or_without_a_plan_agree(source: str, planned: bool) -> None:
    where = READERS[1]
    assert renders_without_jinja(source) is planned
    assert render_template(source, fields=FIELDS, where=where) == render_with_jinja(
        source, fields=FIELDS, where=where
    )


def test_a_missing_or_mistyped_field_fails_as_before() -> None:
    where = READERS[0]
    with pytest.raises(RenderError) as missing:
        render_template("Hi {{ first_name }}", fields={}, where=where)
    assert missing.value.field == "first_name"
    with pytest.raises(RenderError) as mistyped:
        render_template("{{ first_name | date }}", fields={"first_name": "Rosa"}, where=where)
    assert mistyped.value.field == "template"
    assert template_fields("{{ appointment_at | time }} {{ first_name }}") == {
        "appointment_at",
        "first_name",
    }
