"""A call says each sentence once.

A voice script is the message's body followed by its ``voice_action``; where both offered the
same help, the patient heard "We can help with a ride or a video visit." twice in one call
(the win-back invitation, in English, Spanish and Chinese).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from careloop.content.compose import render_variant
from careloop.content.library import load_library
from careloop.content.lint import sample_fields
from careloop.content.vocab import Channel

# A sentence ends at . ! ? or their full-width forms (Chinese); short ones ("Thank you.")
# may well be said twice on purpose.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")
_LANGUAGES = ("en", "es", "pt", "zh")


def _repeated_sentences(language: str) -> list[str]:
    library = load_library()
    fields, locale, timezone = sample_fields(library, language)
    repeated = []
    for key, variant in sorted(library.variants.items(), key=lambda kv: kv[0].label()):
        if key.channel is not Channel.VOICE or key.language != language:
            continue
        script = render_variant(variant, fields=fields, locale=locale, timezone=timezone)["body"]
        said = Counter(s.strip() for s in _SENTENCE_END.split(script) if len(s.strip()) > 12)
        repeated += [f"{key.label()}: {s}" for s, times in said.items() if times > 1]
    return repeated


@pytest.mark.parametrize("language", _LANGUAGES)
def test_no_voice_script_says_a_sentence_twice(language: str) -> None:
    assert _repeated_sentences(language) == []


def test_the_win_back_call_offers_the_ride_once() -> None:
    library = load_library()
    for language, help_words in (
        ("en", "We can help with a ride or a video visit."),
        ("es", "Le ayudamos con transporte o una visita por video."),
    ):
        fields, locale, timezone = sample_fields(library, language)
        scripts = [
            render_variant(variant, fields=fields, locale=locale, timezone=timezone)["body"]
            for key, variant in library.variants.items()
            if key.message == "win_back_invite"
            and key.language == language
            and key.channel is Channel.VOICE
            and key.reading_level == "basic"
        ]
        assert scripts
        assert all(script.count(help_words) == 1 for script in scripts), scripts
