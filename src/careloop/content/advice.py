"""Urgent advice to a patient: what to do now, in their language, on any channel.

The words live in ``content/advice/<language>.yaml`` (en and es shipped), one message per
urgent rule's ``patient_message``. They are not in the approval queue of the message
library on purpose: a patient with a fever on chemotherapy must not wait for a variant to
be approved, and no frame greets them by name (minimum necessary: a device screen or a
shared phone may show it). A missing message or language is a load error, never silence.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from careloop.errors import InvalidInput

ADVICE_DIR = Path(__file__).parent / "advice"
DEFAULT_LANGUAGE = "en"


@lru_cache(maxsize=1)
def advice_library() -> dict[str, dict[str, str]]:
    """language → message id → text (with ``{phone}``); every language has every message."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(ADVICE_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        messages = document.get("messages") if isinstance(document, dict) else None
        if not isinstance(messages, dict):
            raise InvalidInput(f"{path.name}: 'messages' is required", field="advice")
        found[str(document["language"])] = {
            str(key): " ".join(str(value["text"]).split()) for key, value in messages.items()
        }
    ids = {key for texts in found.values() for key in texts}
    for language, texts in found.items():
        if set(texts) != ids:
            missing = ", ".join(sorted(ids - set(texts)))
            raise InvalidInput(f"advice/{language}.yaml lacks {missing}", field="advice")
    return found


def advice_ids() -> frozenset[str]:
    return frozenset(advice_library()[DEFAULT_LANGUAGE])


def render_advice(message: str, *, language: str | None, phone: str, channel: str) -> str:
    """The advice in the patient's language (English when we have none in theirs).

    ``channel`` "voice" spells the number digit by digit so a speech engine reads it as a
    phone number.
    """
    library = advice_library()
    lang = (language or DEFAULT_LANGUAGE).split("-")[0].lower()
    texts = library.get(lang) or library[DEFAULT_LANGUAGE]
    if message not in texts:
        raise InvalidInput(f"no advice message {message!r}", field="patient_message")
    shown = " ".join(c for c in phone if c.isdigit()) if channel == "voice" else phone
    return texts[message].replace("{phone}", shown)
