"""The portal's words per language, from ``strings/<lang>.yaml`` (English is the fallback).

The language is the patient's stated preference, else the record's, else the browser's;
a key missing from a language falls back to English so a page is never blank.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

import yaml

STRINGS_DIR = Path(__file__).parent / "strings"
DEFAULT_LANGUAGE = "en"


@lru_cache(maxsize=8)
def _strings(language: str) -> Mapping[str, str]:
    path = STRINGS_DIR / f"{language}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {str(k): str(v) for k, v in (data or {}).items()}


@lru_cache(maxsize=1)
def supported_languages() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in STRINGS_DIR.glob("*.yaml")))


def pick_language(*candidates: str | None) -> str:
    """The first candidate (a BCP-47 tag or an Accept-Language value) the portal speaks."""
    for candidate in candidates:
        for part in (candidate or "").split(","):
            base = part.split(";")[0].strip().split("-")[0].lower()
            if base in supported_languages():
                return base
    return DEFAULT_LANGUAGE


def translator(language: str) -> Callable[..., str]:
    """``t(key, **values)``: the key's text in ``language`` with ``{values}`` filled in."""
    own, fallback = _strings(language), _strings(DEFAULT_LANGUAGE)

    def t(key: str, **values: object) -> str:
        text = own.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return t


def has_text(language: str, key: str) -> bool:
    return key in _strings(language)
