"""The portal's words per language, from ``strings/<lang>.yaml`` (English is the fallback).

The language is the patient's stated preference, else the record's, else the browser's;
a key missing from a language falls back to English so a page is never blank. A file is named
by its tag ("pt", "zh-Hans"); a wanted tag matches it exactly, else by its primary language
("pt-BR" → "pt"; "zh", "zh-CN" and also "zh-TW" → "zh-Hans": a reader of Traditional
characters gets Simplified ones, closer than English, until a "zh-Hant" file exists).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import yaml
from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime

from careloop.web.timefmt import zone_info

STRINGS_DIR = Path(__file__).parent / "strings"
DEFAULT_LANGUAGE = "en"

# How a patient reads a time, per primary language: the words of the offered times
# (access.links), so a visit, a message and a confirmation name a time alike.
_WHEN = {
    "en": "EEEE d MMMM, h:mm a",
    "es": "EEEE d 'de' MMMM, H:mm",
    "pt": "EEEE, d 'de' MMMM, H:mm",
    "zh": "M月d日 EEEE H:mm",
}


@lru_cache(maxsize=8)
def _strings(language: str) -> Mapping[str, str]:
    path = STRINGS_DIR / f"{language}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {str(k): str(v) for k, v in (data or {}).items()}


@lru_cache(maxsize=1)
def supported_languages() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in STRINGS_DIR.glob("*.yaml")))


def endonym(tag: str) -> str:
    """A language's name in itself ("Português", "中文 (简体)"), as a patient looks for it in a
    menu; a tag Babel does not know is shown as it is."""
    try:
        name = Locale.parse(tag.replace("-", "_")).get_display_name() or tag
    except (UnknownLocaleError, ValueError):
        return tag
    return name[:1].upper() + name[1:]


@lru_cache(maxsize=1)
def language_names() -> dict[str, str]:
    """Every portal language's tag and endonym, for the switcher and the preferences menu."""
    return {tag: endonym(tag) for tag in supported_languages()}


def pick_language(*candidates: str | None) -> str:
    """The first candidate (a BCP-47 tag or an Accept-Language value) the portal speaks."""
    for candidate in candidates:
        for part in (candidate or "").split(","):
            found = _supported_tag(part.split(";")[0].strip())
            if found is not None:
                return found
    return DEFAULT_LANGUAGE


def _supported_tag(tag: str) -> str | None:
    """The portal's file tag for ``tag``: the same tag, else one of the same primary language."""
    if not tag:
        return None
    tags = supported_languages()
    exact = next((t for t in tags if t.lower() == tag.lower()), None)
    base = tag.split("-")[0].lower()
    return exact or next((t for t in tags if t.split("-")[0].lower() == base), None)


def translator(language: str) -> Callable[..., str]:
    """``t(key, **values)``: the key's text in ``language`` with ``{values}`` filled in."""
    own, fallback = _strings(language), _strings(DEFAULT_LANGUAGE)

    def t(key: str, **values: object) -> str:
        text = own.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return t


def has_text(language: str, key: str) -> bool:
    return key in _strings(language)


def human_time_on(moment: datetime | None, zone: str | None, language: str) -> str:
    """:func:`human_time` as it follows a verb ("we will call you ..."): Portuguese joins
    its "em" to the weekday's article, "na segunda-feira" but "no sábado"/"no domingo", so
    its sentences leave the preposition to this (the others keep theirs: "at", "el")."""
    said = human_time(moment, zone, language)
    if moment is None or language.split("-")[0].lower() != "pt":
        return said
    weekend = moment.astimezone(zone_info(zone)).weekday() >= 5  # sábado, domingo
    return f"{'no' if weekend else 'na'} {said}"


def human_time(moment: datetime | None, zone: str | None, language: str) -> str:
    """``Saturday 5 December, 5:00 PM`` (``—`` when unknown): a time in the patient's zone
    and words, never the staff pages' ``2026-12-05 17:00 EST``."""
    if moment is None:
        return "—"
    base = language.split("-")[0].lower()
    pattern = _WHEN.get(base, _WHEN[DEFAULT_LANGUAGE])
    locale = base if base in _WHEN else DEFAULT_LANGUAGE
    return str(format_datetime(moment.astimezone(zone_info(zone)), pattern, locale=locale))
