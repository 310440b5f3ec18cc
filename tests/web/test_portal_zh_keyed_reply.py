"""A Chinese-speaking patient pressed 2 on a medication reminder call whose approved words
say "稍后请按 2" (2 = later). The portal's messages page must not relabel that key with the
English call menu ("Press 2 to talk to someone"): there are no Chinese conversation words, so
``conversation_words("zh")`` falls back to English and ``reply_words`` reads its menu with
English joins, showing "2 — talk to someone" (wrong option, wrong language) in the zh portal."""

from __future__ import annotations

from datetime import UTC, datetime

from careloop.outreach.messages import ConversationItem
from careloop.web.portal.reply_words import with_choices

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ZH_CALL = (
    "Rosa，您好，这里是护理团队。到了您 08:00 吃药的时间。 "
    "吃了请按 1，稍后请按 2，跳过请按 3。 谢谢，祝您健康。"
)


def _shown(body: str, *, language: str, channel: str = "voice") -> str:
    call = ConversationItem(
        direction="out", id=1, channel=channel, body=body, state="sent", at=AT, language=language
    )
    key = ConversationItem(
        direction="in", id=2, channel=channel, body="2", state="replied", at=AT, answers=1
    )
    return with_choices([key, call])[0].body


def test_a_chinese_call_key_is_not_relabelled_with_the_english_menu() -> None:
    assert _shown(ZH_CALL, language="zh") == "2"
    assert _shown(ZH_CALL, language="zh-Hans") == "2"


def test_spanish_and_english_calls_still_read_their_own_words() -> None:
    es = "Marque 1 si las tomó, 2 para más tarde, o 3 si no las tomó."
    assert _shown(es, language="es") == "2 — más tarde"
    assert _shown("Press 1 if you got it.", language="en") == "2 — talk to someone"
