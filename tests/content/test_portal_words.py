"""A confirmation read in the portal inbox says how to change the visit there: "reply R" only
works by text, so the portal form of ``visit_booked`` never asks for a reply, in any language,
level or tone, while the text message keeps its reply words."""

from __future__ import annotations

import pytest

from careloop.content.library import Library, VariantKey
from careloop.content.vocab import Channel, ReadingLevel, Tone

REPLY_WORDS = {"en": "Reply R", "es": "CAMBIAR", "pt": "R muda", "zh": "回复 R"}
PORTAL_WORDS = {"en": "My visits", "es": "Mis citas", "pt": "Minhas consultas", "zh": "我的就诊"}


@pytest.mark.parametrize("language", sorted(REPLY_WORDS))
def test_the_portal_confirmation_points_at_the_portal(shipped: Library, language: str) -> None:
    for level in ReadingLevel:
        for tone in Tone:
            portal = shipped.get(VariantKey("visit_booked", language, level, tone, Channel.PORTAL))
            sms = shipped.get(VariantKey("visit_booked", language, level, tone, Channel.SMS))
            assert portal is not None
            assert sms is not None
            body = portal.parts["body"]
            assert REPLY_WORDS[language] not in body, (level, tone, body)
            assert language != "en" or "reply" not in body.lower(), body
            assert PORTAL_WORDS[language] in body, (level, tone, body)
            assert REPLY_WORDS[language] in sms.parts["body"]
