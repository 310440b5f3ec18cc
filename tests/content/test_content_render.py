"""Rendering: Babel dates in the patient's locale and zone, strict fields, a real sandbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from careloop.content.compose import render_message, render_variant
from careloop.content.library import Library, Variant, VariantKey
from careloop.content.render import RenderError, render_context, render_template
from careloop.content.vocab import Channel, ReadingLevel, Tone
from careloop.errors import InvalidInput

NEW_YORK = render_context(locale="en_US", timezone="America/New_York")
MADRID = render_context(locale="es_ES", timezone="Europe/Madrid")
WHEN = {"appointment_at": datetime(2026, 3, 10, 19, 30, tzinfo=UTC)}


def test_dates_are_formatted_by_babel_in_the_patients_language() -> None:
    source = "{{ appointment_at | weekday }}, {{ appointment_at | date }}"
    assert render_template(source, fields=WHEN, where=NEW_YORK) == "Tuesday, March 10, 2026"
    assert render_template(source, fields=WHEN, where=MADRID) == "martes, 10 de marzo de 2026"


def test_times_are_shown_in_the_patients_time_zone() -> None:
    source = "{{ appointment_at | time }}"
    # Babel writes a narrow no-break space before PM; it is not GSM-7, so it becomes a space.
    assert render_template(source, fields=WHEN, where=NEW_YORK) == "3:30 PM"
    assert render_template(source, fields=WHEN, where=MADRID) == "20:30"


def test_the_date_follows_the_zone_across_midnight() -> None:
    late = {"appointment_at": datetime(2026, 3, 11, 2, 0, tzinfo=UTC)}  # 22:00 on the 10th in NY
    honolulu = render_context(locale="en_US", timezone="Pacific/Honolulu")
    tokyo = render_context(locale="en_US", timezone="Asia/Tokyo")
    assert render_template("{{ appointment_at | date }}", fields=late, where=honolulu) == (
        "March 10, 2026"
    )
    assert render_template("{{ appointment_at | date }}", fields=late, where=tokyo) == (
        "March 11, 2026"
    )


def test_a_missing_field_fails_and_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        render_template("Hi {{ first_name }}", fields={}, where=NEW_YORK)
    assert caught.value.field == "first_name"


def test_none_is_never_printed() -> None:
    with pytest.raises(InvalidInput) as caught:
        render_template("Hi {{ first_name }}", fields={"first_name": None}, where=NEW_YORK)
    assert caught.value.field == "first_name"
    with pytest.raises(InvalidInput):
        render_template("Hi {{ first_name }}", fields={"first_name": "  "}, where=NEW_YORK)


def test_naive_datetimes_are_refused_not_guessed() -> None:
    with pytest.raises(InvalidInput) as caught:
        render_template(
            "{{ appointment_at | date }}",
            fields={"appointment_at": datetime(2026, 3, 10, 15, 30)},
            where=NEW_YORK,
        )
    assert caught.value.field == "appointment_at"


def test_templates_reach_only_the_allowed_fields() -> None:
    with pytest.raises(RenderError) as caught:
        render_template("{{ ssn }}", fields={"ssn": "123"}, where=NEW_YORK)
    assert caught.value.field == "ssn"


@pytest.mark.parametrize(
    "source",
    [
        "{{ first_name.__class__.__mro__ }}",
        "{{ first_name.__class__.__base__.__subclasses__() }}",
        "{{ first_name.format.__globals__ }}",
        "{{ (first_name|attr('__class__')) }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ range(10) }}",
        "{{ first_name | default('x') }}",
    ],
)
def test_the_sandbox_refuses_attribute_tricks_and_globals(source: str) -> None:
    with pytest.raises(RenderError):
        render_template(source, fields={"first_name": "Rosa"}, where=NEW_YORK)


def test_field_values_are_data_never_templates() -> None:
    rendered = render_template(
        "Hi {{ first_name }}", fields={"first_name": "{{ 7 * 7 }}"}, where=NEW_YORK
    )
    assert rendered == "Hi {{ 7 * 7 }}"


def test_email_html_escapes_field_values_and_links_the_call_to_action(
    fields: dict[str, object],
) -> None:
    key = VariantKey("t", "en", ReadingLevel.BASIC, Tone.FRIENDLY, Channel.EMAIL)
    library = Library(
        variants={
            key: Variant(
                key=key,
                parts={"subject": "Hi", "text": "Hi {{ first_name }},\n\nBook: {{ booking_link }}"},
            )
        },
        by_language={"en": {"t"}},
    )
    from careloop.content.library import Message
    from careloop.content.vocab import Sensitivity

    library.messages["t"] = Message("t", "t", Sensitivity.GENERAL, ("booking_link", "first_name"))
    rendered = render_message(
        library,
        message="t",
        language="en",
        reading_level="basic",
        tone="friendly",
        channel="email",
        fields={**fields, "first_name": "<script>alert(1)</script>"},
        locale="en_US",
        timezone="America/New_York",
        detailed_consent=True,
    )
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert '<a href="https://rvcl.org/book">https://rvcl.org/book</a>' in rendered.html
    assert rendered.text == rendered.body


def test_every_shipped_variant_renders_in_its_sample_locale(
    shipped: Library, fields: dict[str, object]
) -> None:
    for key, variant in shipped.variants.items():
        locale = "es_US" if key.language == "es" else "en_US"
        parts = render_variant(variant, fields=fields, locale=locale, timezone="America/Chicago")
        assert all(p.strip() and "None" not in p for p in parts.values()), key.label()


def test_bad_locale_and_zone_are_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        render_context(locale="xx_QQ", timezone="UTC")
    assert caught.value.field == "locale"
    with pytest.raises(InvalidInput) as caught:
        render_context(locale="en_US", timezone="Mars/Olympus")
    assert caught.value.field == "timezone"
