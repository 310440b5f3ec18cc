"""The words around a check-in's questions by SMS and voice, per language.

The questions themselves come from the Questionnaire (with FHIR ``translation`` extensions
for other languages); the hints, the "did not understand" and the closing lines live here,
in ``content/conversation/<language>.yaml``, so a Spanish speaker is not answered in English.
Every language must define every word; an unknown language falls back to English.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from careloop.errors import InvalidInput

WORDS_DIR = Path(__file__).parent / "conversation"
DEFAULT_LANGUAGE = "en"


@lru_cache(maxsize=1)
def _all_words() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for path in sorted(WORDS_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        found[str(document["language"])] = {str(k): str(v) for k, v in document["words"].items()}
    keys = set(found[DEFAULT_LANGUAGE])
    for language, words in found.items():
        if set(words) != keys:
            raise InvalidInput(f"conversation/{language}.yaml lacks words", field="conversation")
    return found


def conversation_words(language: str | None) -> dict[str, str]:
    """The words for a language (its primary subtag), English when we have none in it."""
    words = _all_words()
    return words.get((language or DEFAULT_LANGUAGE).split("-")[0].lower(), words["en"])
