"""What each key of a keyed message chooses, in the message's own language: its key menu.

A patient answers some messages with a key ("Reply 1 if taken, 2 for later", "吃了请按 1"):
the content library states each message's options per language (``keys:`` in
``library/<language>/<message>.yaml``), and the conversation words state the options of the
menu a call says after its words (``call_keys`` in ``conversation/<language>.yaml``). The
portal labels a keyed reply from these ("2 — later", "2 — 稍后"), never from another
language's menu: a language without one gets no label.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from careloop.content.conversation_words import WORDS_DIR, has_conversation_words
from careloop.content.language_tables import load_tables
from careloop.content.library import LIBRARY_DIR


@lru_cache(maxsize=1)
def _message_menus() -> dict[tuple[str, str], dict[str, str]]:
    """(message, language) → key → option, for every library message with a key menu."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for path in sorted(Path(LIBRARY_DIR).glob("*/*.yaml")):
        if path.name.startswith("_"):
            continue
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        keys = document.get("keys") if isinstance(document, dict) else None
        if isinstance(keys, dict):
            menu = {str(k): str(v) for k, v in keys.items()}
            found[(str(document.get("message", path.stem)), path.parent.name)] = menu
    return found


@lru_cache(maxsize=1)
def _call_menus() -> dict[str, dict[str, str]]:
    return load_tables(WORDS_DIR, section="call_keys", text=str)


def primary(language: str | None) -> str:
    """``zh`` for ``zh-Hans``: menus are kept per primary language."""
    return (language or "en").split("-")[0].lower()


def key_menu(message: str | None, language: str | None) -> dict[str, str]:
    """Key → option of the library ``message`` in ``language`` (empty: it has none there)."""
    if message is None:
        return {}
    return dict(_message_menus().get((message, primary(language)), {}))


def call_menu(language: str | None) -> dict[str, str]:
    """Key → option of the menu a call in ``language`` says after its words; empty where the
    language has no call words of its own (the call fell back to English ones, which the
    patient may not have followed)."""
    lang = primary(language)
    return dict(_call_menus().get(lang, {})) if has_conversation_words(lang) else {}
