"""What a keyed reply chose, in the words of the message it answered: "1 — confirm".

A key pressed on a call or a number texted back is kept as sent ("1"), and the inbox showed
just that. The options are the answered message's own, in the language it was sent in (the
patient's): a list of numbered choices ("0 = none, 1 = a little"), or keys named in its words
("Reply 1 if taken, 2 for later", "Oprima 1 para confirmar"). A call also says the key menu
after its words (the content library's ``call_menu``, in the call's language), so a key the
words do not name is read from the menu. A key no option names is shown as it came.
"""

from __future__ import annotations

import re
from dataclasses import replace

from careloop.content.conversation_words import conversation_words, has_conversation_words
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
    language = (message.language or "en").split("-")[0].lower()
    chosen = options(message.body, language=language)
    # Only a menu in the call's own language: without its conversation words the call fell
    # back to English ones, which the patient may not have followed and the portal page (in
    # their language) must not show as their choice.
    if message.channel == "voice" and has_conversation_words(language):
        menu = options(conversation_words(language)["call_menu"], language=language)
        chosen = {**menu, **chosen}
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
