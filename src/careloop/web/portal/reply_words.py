"""What a keyed reply chose, in the words of the message it answered: "1 — confirm".

A key pressed on a call or a number texted back is kept as sent ("1"), and the inbox showed
just that. The options are the answered message's own, in the language it was sent in (the
patient's), from a structured source: the content library's key menu of the message it was
rendered from, in that language (``careloop.content.key_menus``), so a Chinese reminder's
"2" reads "2 — 稍后" as a Spanish one's reads "2 — más tarde". A call also says the key menu
after its words (``call_keys``, in the call's language), so a key the words do not name is
read from that menu; a language without call words of its own gets no menu label rather
than English's. A message the library did not write (a nurse's typed text, a check-in
question listing "0 = none, 1 = a little") is read from its words. A key no option names is
shown as it came.
"""

from __future__ import annotations

import re
from dataclasses import replace

from careloop.content.key_menus import call_menu, key_menu, primary
from careloop.outreach.messages import ConversationItem

_KEYS = re.compile(r"^\s*(\d{1,2})\s*#?\s*$")
_LISTED = re.compile(r"(?<![\w:.])(\d{1,2})\s*=\s*([^\W\d_][^,;()=]*?)\s*(?=[,;)]|$)")
# Words that join a key to its option, per primary language ("1 for later", "1 para depois").
_JOINS = {
    "en": ("for", "if", "to"),
    "es": ("para", "si", "por"),
    "pt": ("para", "se", "por"),
}
_END = r"(?=\s*[,.;!?()](?:\s|$)|\s*$|\s+(?:or|o|ou|y|e)\s+\d)"


def _named(language: str) -> re.Pattern[str]:
    joins = "|".join(_JOINS.get(language, _JOINS["en"]))
    return re.compile(
        rf"(?<![\w:.,/-])(?<!\d\s)(\d)\s+(?:{joins})\s+([^\W\d_][^,.;!?()]*?){_END}", re.IGNORECASE
    )


def options(text: str, *, language: str) -> dict[str, str]:
    """Key → what it chooses, as ``text`` names it (first naming wins)."""
    found = _LISTED.findall(text) or _named(language).findall(text)
    chosen: dict[str, str] = {}
    for key, label in found:
        chosen.setdefault(key, label.strip())
    return chosen


def _message_options(message: ConversationItem) -> dict[str, str]:
    language = primary(message.language)
    chosen = key_menu(message.content, language) or options(message.body, language=language)
    if message.channel == "voice":
        chosen = {**call_menu(language), **chosen}
    return chosen


def with_choices(items: list[ConversationItem]) -> list[ConversationItem]:
    """``items`` with each keyed reply followed by the option it chose, from its message."""
    sent = {item.id: item for item in items if item.direction == "out"}
    shown = []
    for item in items:
        keys = _KEYS.match(item.body) if item.direction == "in" else None
        answered = sent.get(item.answers) if item.answers is not None else None
        if keys is not None and answered is not None:
            label = _message_options(answered).get(keys.group(1))
            if label:
                item = replace(item, body=f"{keys.group(1)} — {label}")
        shown.append(item)
    return shown
