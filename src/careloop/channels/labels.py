"""The words people read for a channel code: one table for the console, the engine's
sentences and the reply reasons.

Staff read "Text message", never ``sms``; several pages and sentences had their own small
table, which drifted ("SMS", "E-mail", "text message"). A leaf module, importing nothing,
so the engine (``personalize``) and every face can use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChannelWords:
    name: str
    """A heading, a menu option or a table column: ``Text message``."""
    message: str
    """One message in a sentence: ``the patient was told by text message``."""
    noun: str
    """One, counted: ``has answered 1 of 1 text``."""
    plural: str
    """Several, counted: ``4 of 5 texts``."""
    by: str
    """How something came: ``cancelled a visit by text``."""


CHANNEL_WORDS: dict[str, ChannelWords] = {
    "sms": ChannelWords("Text message", "text message", "text", "texts", "by text"),
    "email": ChannelWords("Email", "email", "email", "emails", "by email"),
    "voice": ChannelWords("Phone call", "phone call", "call", "calls", "by phone"),
    "portal": ChannelWords(
        "Patient portal", "portal message", "portal message", "portal messages", "in the portal"
    ),
}


def channel_name(channel: str | None) -> str:
    """``Text message`` for ``sms``; an unknown code as it is (never an empty cell)."""
    if not channel:
        return "—"
    words = CHANNEL_WORDS.get(channel)
    return words.name if words else channel


def counted(channel: str, n: int) -> str:
    """``text`` or ``texts`` for ``n`` of them; an unknown code as it is."""
    words = CHANNEL_WORDS.get(channel)
    if words is None:
        return channel
    return words.noun if n == 1 else words.plural
