"""Spanish, Portuguese and Chinese all the way: every portal key exists in every language, so
a page never falls back to English. Fails on an untranslated key (issues 20 and 25)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from careloop.web.portal.error_page import wait_words
from careloop.web.portal.i18n import STRINGS_DIR, pick_language, supported_languages

SRC = Path(__file__).resolve().parents[2] / "src" / "careloop"
TEMPLATES = SRC / "web" / "templates" / "portal"
PORTAL_PY = SRC / "web" / "portal"
LIBRARY = SRC / "programs" / "library"
QUESTIONNAIRES = [
    SRC / "feedback" / "questionnaires" / f"{name}.json"
    for name in ("medication-adherence", "motivation")
]


def _keys(language: str) -> set[str]:
    data = yaml.safe_load((STRINGS_DIR / f"{language}.yaml").read_text(encoding="utf-8"))
    return {str(k) for k in data}


def _used_keys() -> set[str]:
    """Literal keys in templates and portal modules, and the dynamic families spelled out."""
    used: set[str] = set()
    for path in [*TEMPLATES.glob("*.html"), *PORTAL_PY.glob("*.py")]:
        found = re.findall(r"""\bt\(\s*["']([A-Za-z0-9_.\-]+)["']""", path.read_text())
        used |= {key for key in found if not key.endswith("_")}  # prefixes: families below
    for program in LIBRARY.glob("*.yaml"):
        used.add(f"gap.{yaml.safe_load(program.read_text())['name']}")
    for path in QUESTIONNAIRES:  # every portal check-in, question and answer
        for item in json.loads(path.read_text())["item"]:
            used.add(f"checkin.{item['linkId']}")
            for option in item.get("answerOption", []):
                used.add(f"checkin.{item['linkId']}.{option['valueCoding']['code']}")
    used |= {"checkin_title_today", "message_in_english"}
    for channel in ("sms", "voice", "email", "portal"):
        used |= {f"next_{channel}", f"scheduled_{channel}", f"confirm_{channel}"}
    used |= {f"next_why_{why}" for why in ("explored", "stated", "learned")}
    used |= {f"next_hold_{why}" for why in ("opted_out", "budget", "quiet", "contact")}
    for status in ("", "_404", "_403", "_422", "_429"):
        used |= {f"error{status}_title", f"error{status}_text"}
    used.add("error_429_text_one")
    for field in ("systolic", "diastolic", "glucose", "weight", "readings", "other"):
        used.add(f"reading_error_{field}")
    for key in ("bp_top", "bp_bottom", "Glucose", "Weight", "systolic", "diastolic", "glucose"):
        used.add(f"chart_{key}")
    used |= {f"channel_{c}" for c in ("sms", "voice", "email", "portal")}
    used |= {
        f"{family}_{c}"
        for family in ("message_in", "via")
        for c in ("sms", "voice", "email", "portal")
    }
    used |= {f"chart_word_{w}" for w in ("values", "latest", "crisis", "in_crisis")}
    return used


def test_every_language_has_the_same_keys() -> None:
    languages = supported_languages()
    assert {"en", "es", "pt", "zh-Hans"} <= set(languages)
    english = _keys("en")
    for language in languages:
        assert _keys(language) == english, f"{language} differs from en"


@pytest.mark.parametrize("language", ["en", "es", "pt", "zh-Hans"])
def test_every_key_a_page_uses_is_translated(language: str) -> None:
    missing = sorted(_used_keys() - _keys(language))
    assert missing == [], f"untranslated in {language}: {missing}"


@pytest.mark.parametrize(
    ("wanted", "page"),
    [
        (("pt-BR",), "pt"),
        (("pt",), "pt"),
        (("zh",), "zh-Hans"),
        (("zh-CN",), "zh-Hans"),
        (("zh-Hans",), "zh-Hans"),
        (("zh-TW",), "zh-Hans"),  # Simplified is closer than English until a zh-Hant file
        ((None, "fr-FR,pt;q=0.8"), "pt"),
        (("vi",), "en"),
    ],
)
def test_a_portuguese_or_chinese_patient_gets_the_portal_in_their_language(
    wanted: tuple[str | None, ...], page: str
) -> None:
    assert pick_language(*wanted) == page


def test_a_one_minute_wait_is_said_as_a_minute_in_every_language() -> None:
    """Finding 22: "try again in 1 minutes"."""
    assert wait_words("error_429_text", 30) == ("error_429_text_one", 1)
    assert wait_words("error_429_text", 300) == ("error_429_text", 5)
    for language in ("en", "es", "pt", "zh-Hans"):
        words = yaml.safe_load((STRINGS_DIR / f"{language}.yaml").read_text(encoding="utf-8"))
        assert "{minutes}" not in words["error_429_text_one"]
