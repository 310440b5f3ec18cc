"""A keyed reply reads as the option it chose in every language the library writes, from the
library's key menu for the answered message, not from parsing its words: a Chinese patient's
"2" to a dose reminder read as a bare "2" (no Chinese joining words to parse), and a Spanish
patient's "3" as "no" (the words "si no las tomó" cut short). On both databases."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from careloop.content.key_menus import call_menu, key_menu
from careloop.content.library import LIBRARY_DIR
from careloop.outreach.messages import ConversationItem
from careloop.runtime import Runtime
from careloop.web.portal.reply_words import with_choices
from tests.access.fhir_fixtures import import_resources, patient
from tests.web.test_portal_pages import _replies, _sent_and_answered

Client = Callable[..., Any]
AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PID = "p-001"
ZH_SMS = "到了您 08:00 吃药的时间。吃了回复 1，稍后回复 2，跳过回复 3。"
ZH_CALL = "到了您 08:00 吃药的时间。 吃了请按 1，稍后请按 2，跳过请按 3。"


def _shown(key: str, *, language: str, channel: str = "sms", body: str = "...") -> str:
    sent = ConversationItem(
        direction="out",
        id=1,
        channel=channel,
        body=body,
        state="sent",
        at=AT,
        language=language,
        content="medication_reminder",
    )
    reply = ConversationItem(
        direction="in", id=2, channel=channel, body=key, state="replied", at=AT, answers=1
    )
    return with_choices([reply, sent])[0].body


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("en", "2 — later"),
        ("es", "2 — más tarde"),
        ("pt", "2 — depois"),
        ("zh", "2 — 稍后"),
        ("zh-Hans", "2 — 稍后"),
    ],
)
def test_a_reminder_key_reads_as_its_option_in_the_messages_language(
    language: str, shown: str
) -> None:
    assert _shown("2", language=language) == shown


def test_the_whole_option_is_shown_not_the_words_cut_short() -> None:
    es = "Es hora de sus medicinas de las 08:00. Responda 1 si las tomó, 2 para más tarde, 3 si no."
    assert _shown("3", language="es", body=es) == "3 — no las tomó"


def test_a_chinese_call_key_reads_from_the_chinese_menu_never_the_english_call_menu() -> None:
    assert _shown("2", language="zh", channel="voice", body=ZH_CALL) == "2 — 稍后"
    # No Chinese call words: a key only the (English) call menu names stays bare.
    assert call_menu("zh") == {}
    assert _shown("4", language="zh", channel="voice", body=ZH_CALL) == "4"


def test_every_keyed_library_message_has_a_menu_in_each_language_naming_its_keys() -> None:
    """The menu is the library's own statement of the options: each language that writes a
    keyed message states its menu, and every key it states is one the words ask for."""
    written: dict[str, set[str]] = {}
    for path in LIBRARY_DIR.glob("*/*.yaml"):
        if not path.name.startswith("_"):
            written.setdefault(path.stem, set()).add(path.parent.name)
    keyed = {m for m, languages in written.items() for lang in languages if key_menu(m, lang)}
    assert len(keyed) == 7
    for message in keyed:
        for language in written[message]:
            menu = key_menu(message, language)
            document = yaml.safe_load((LIBRARY_DIR / language / f"{message}.yaml").read_text())
            words = " ".join(str(v) for v in document["common"].values())
            assert menu, (message, language)
            assert set(menu) == set(key_menu(message, "en")), (message, language)
            for key in menu:
                assert re.search(rf"(?<!\d){key}(?!\d)", words), (message, language, key)


def test_a_chinese_patient_reads_the_option_a_texted_key_chose_on_the_portal(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    import_resources(rt, tmp_path, [patient(PID, language="zh")])
    _sent_and_answered(
        rt,
        channel="sms",
        body=ZH_SMS,
        language="zh",
        reply="2",
        key="zh",
        content="medication_reminder",
    )

    page = api_client("patient", patient_id=PID).get("/portal/messages")

    assert page.status_code == 200
    assert _replies(page.text) == ["2 — 稍后"]
