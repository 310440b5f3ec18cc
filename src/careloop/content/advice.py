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

from careloop.content.language_tables import in_language, load_tables
from careloop.content.vocab import DEFAULT_LANGUAGE
from careloop.errors import InvalidInput

ADVICE_DIR = Path(__file__).parent / "advice"


@lru_cache(maxsize=1)
def advice_library() -> dict[str, dict[str, str]]:
    """language → message id → text (with ``{phone}``); every language has every message."""
    return load_tables(ADVICE_DIR, section="messages", text=_one_line)


def _one_line(value: object) -> str:
    text = value.get("text") if isinstance(value, dict) else None
    if text is None:
        raise InvalidInput("every advice message needs its 'text'", field="advice")
    return " ".join(str(text).split())


def advice_ids() -> frozenset[str]:
    return frozenset(advice_library()[DEFAULT_LANGUAGE])


def render_advice(message: str, *, language: str | None, phone: str, channel: str) -> str:
    """The advice in the patient's language (English when we have none in theirs).

    ``channel`` "voice" spells the number digit by digit so a speech engine reads it as a
    phone number.
    """
    texts = in_language(advice_library(), language)
    if message not in texts:
        raise InvalidInput(f"no advice message {message!r}", field="patient_message")
    shown = " ".join(c for c in phone if c.isdigit()) if channel == "voice" else phone
    return texts[message].replace("{phone}", shown)
