"""The words around a check-in's questions by SMS and voice, per language.

The questions themselves come from the Questionnaire (with FHIR ``translation`` extensions
for other languages); the hints, the "did not understand" and the closing lines live here,
in ``content/conversation/<language>.yaml``, so a Spanish speaker is not answered in English.
Every language must define every word; an unknown language falls back to English.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from careloop.content.language_tables import in_language, load_tables

WORDS_DIR = Path(__file__).parent / "conversation"


@lru_cache(maxsize=1)
def _all_words() -> dict[str, dict[str, str]]:
    return load_tables(WORDS_DIR, section="words", text=str)


def conversation_words(language: str | None) -> dict[str, str]:
    """The words for a language (its primary subtag), English when we have none in it."""
    return in_language(_all_words(), language)


def has_conversation_words(language: str) -> bool:
    """Whether ``language`` (a primary subtag) has words of its own, not English's."""
    return language in _all_words()
