"""A Portuguese message names the care team in Portuguese: "Aqui é your care team" inside
Portuguese text was what a pt patient heard on the phone (walk finding 14, issue 25)."""

from __future__ import annotations

from careloop.content.compose import render_message
from careloop.content.library import load_library
from careloop.content.lint import sample_fields
from careloop.outreach.config import OutreachSettings, care_team_for


def test_a_portuguese_call_says_who_is_calling_in_portuguese() -> None:
    library = load_library()
    fields, locale, zone = sample_fields(library, "pt")
    rendered = render_message(
        library,
        message="care_team_message",
        language="pt-BR",
        reading_level="basic",
        tone="friendly",
        channel="voice",
        fields={**fields, "care_team_name": care_team_for(OutreachSettings(), "pt-BR")},
        locale=locale,
        timezone=zone,
        detailed_consent=False,
    )
    assert rendered.used.language == "pt"
    assert "Aqui é sua equipe de saúde" in rendered.body
    assert "your care team" not in rendered.body


def test_chinese_keeps_the_english_name_while_its_text_awaits_review() -> None:
    # Chinese messages are drafts, so a Chinese speaker is sent English text for now.
    assert care_team_for(OutreachSettings(), "zh-Hans") == "your care team"
