"""Finding 23: a voice message may reach whoever answers a shared or home line, so before
anyone has confirmed who they are it says the first name at most, never the family name."""

from __future__ import annotations

import pytest

from careloop.content.compose import render_message
from careloop.content.library import Library

LANGUAGES = {"en": "en_US", "es": "es_US", "pt": "pt_BR", "zh": "zh_Hans"}


@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize("tone", ["friendly", "formal"])
def test_a_voice_message_never_says_the_family_name(
    shipped: Library, fields: dict[str, object], language: str, tone: str
) -> None:
    rendered = render_message(
        shipped,
        message="flu_shot_due",
        language=language,
        reading_level="standard",
        tone=tone,
        channel="voice",
        fields=fields,
        locale=LANGUAGES[language],
        timezone="America/New_York",
        detailed_consent=False,
    )
    assert rendered.used.language == language
    assert "Rosa" in rendered.body
    assert "Morales" not in rendered.body
