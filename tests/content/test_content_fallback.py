"""Fallbacks: the documented order, and never an empty message."""

from __future__ import annotations

from dataclasses import replace

import pytest
from content_helpers import subset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careloop.content.compose import NotApproved, render_message
from careloop.content.library import Library, VariantKey
from careloop.content.vocab import ApprovalState, Channel, ReadingLevel, Tone


def _without(library: Library, *keys: VariantKey) -> Library:
    copy = subset(library, keep=set(library.messages))
    for key in keys:
        copy.variants.pop(key)
    return copy


def _render(library: Library, fields: dict[str, object], **options: object):  # type: ignore[no-untyped-def]
    request: dict[str, object] = {
        "message": "flu_shot_due",
        "language": "en",
        "reading_level": "standard",
        "tone": "friendly",
        "channel": "sms",
        "fields": fields,
        "locale": "en_US",
        "timezone": "America/New_York",
        "detailed_consent": False,
    }
    request.update(options)
    return render_message(library, **request)  # type: ignore[arg-type]


def key(message: str, level: str, tone: str, channel: str, language: str = "en") -> VariantKey:
    return VariantKey(message, language, ReadingLevel(level), Tone(tone), Channel(channel))


def test_exact_variant_first(shipped: Library, fields: dict[str, object]) -> None:
    rendered = _render(shipped, fields)
    assert rendered.used == key("flu_shot_due", "standard", "friendly", "sms")
    assert rendered.fallbacks == ()


def test_other_tone_before_other_level(shipped: Library, fields: dict[str, object]) -> None:
    library = _without(shipped, key("flu_shot_due", "standard", "friendly", "sms"))
    rendered = _render(library, fields)
    assert rendered.used == key("flu_shot_due", "standard", "formal", "sms")
    assert rendered.fallbacks == ("tone",)


def test_nearest_level_then_generic(shipped: Library, fields: dict[str, object]) -> None:
    library = _without(
        shipped,
        key("flu_shot_due", "standard", "friendly", "sms"),
        key("flu_shot_due", "standard", "formal", "sms"),
    )
    assert _render(library, fields).used == key("flu_shot_due", "basic", "friendly", "sms")
    gone = [key("flu_shot_due", lv, t, "sms") for lv in ReadingLevel for t in Tone]
    generic = _render(_without(shipped, *gone), fields)
    assert generic.used == key("care_team_message", "standard", "friendly", "sms")
    assert generic.fallbacks == ("generic",)


def test_missing_message_in_a_language_uses_that_languages_generic(
    shipped: Library, fields: dict[str, object]
) -> None:
    gone = [
        key("flu_shot_due", lv, t, c, "es") for lv in ReadingLevel for t in Tone for c in Channel
    ]
    library = _without(shipped, *gone)
    library.by_language["es"].discard("flu_shot_due")
    rendered = _render(library, fields, language="es-MX", locale="es_MX")
    assert rendered.used.language == "es"
    assert rendered.used.message == "care_team_message"
    assert not rendered.language_fallback


def test_english_only_when_the_language_is_absent(
    shipped: Library, fields: dict[str, object]
) -> None:
    rendered = _render(shipped, fields, language="vi-VN", locale="vi_VN")
    assert rendered.language_fallback
    assert rendered.requested.language == "vi"
    assert rendered.used.language == "en"
    assert rendered.fallbacks[0] == "language"


def test_sending_skips_unapproved_variants(shipped: Library, fields: dict[str, object]) -> None:
    library = subset(shipped, keep=set(shipped.messages))
    exact = key("flu_shot_due", "standard", "friendly", "sms")
    library.variants[exact] = replace(library.variants[exact], state=ApprovalState.DRAFT)
    assert _render(library, fields).used == exact  # a preview may show a draft
    sent = _render(library, fields, require_approved=True)
    assert sent.used == key("flu_shot_due", "standard", "formal", "sms")


def test_nothing_approved_is_refused_not_sent(shipped: Library, fields: dict[str, object]) -> None:
    library = subset(shipped, keep={"flu_shot_due", "care_team_message"})
    for k, v in list(library.variants.items()):
        library.variants[k] = replace(v, state=ApprovalState.DRAFT)
    with pytest.raises(NotApproved):
        _render(library, fields, require_approved=True)


VARIANT_KEYS = st.sampled_from([(lv, t, c) for lv in ReadingLevel for t in Tone for c in Channel])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    message=st.sampled_from(["mammogram_due", "appointment_reminder_1d", "opt_out_confirmation"]),
    language=st.sampled_from(["en", "es", "es-US", "fr", "zh-Hant"]),
    wanted=VARIANT_KEYS,
    removed=st.sets(VARIANT_KEYS, max_size=18),
    consent=st.booleans(),
)
def test_fallbacks_never_give_an_empty_message(
    shipped: Library,
    fields: dict[str, object],
    message: str,
    language: str,
    wanted: tuple[ReadingLevel, Tone, Channel],
    removed: set[tuple[ReadingLevel, Tone, Channel]],
    consent: bool,
) -> None:
    gone = [key(message, lv, t, c, lang) for lv, t, c in removed for lang in ("en", "es")]
    level, tone, channel = wanted
    rendered = _render(
        _without(shipped, *gone),
        fields,
        message=message,
        language=language,
        reading_level=str(level),
        tone=str(tone),
        channel=str(channel),
        detailed_consent=consent,
    )
    assert rendered.body.strip()
    assert "None" not in rendered.body
    assert rendered.channel is channel
    if channel in (Channel.EMAIL, Channel.PORTAL):
        assert rendered.subject


def test_an_unreviewed_translation_never_reaches_a_patient(
    shipped: Library, fields: dict[str, object]
) -> None:
    """A new language whose variants await review: previews show it, sends use English."""
    library = subset(shipped, keep={"flu_shot_due", "care_team_message"})
    for k, v in list(library.variants.items()):
        if k.language == "es":
            pt = replace(k, language="pt")
            library.variants[pt] = replace(v, key=pt, state=ApprovalState.DRAFT)
    library.by_language["pt"] = set(library.by_language["es"])
    preview = _render(library, fields, language="pt-BR", locale="pt_BR")
    assert preview.used.language == "pt"
    sent = _render(library, fields, language="pt-BR", locale="pt_BR", require_approved=True)
    assert sent.used.language == "en"
    assert sent.language_fallback
    assert sent.fallbacks[0] == "language_unapproved"
    assert sent.state is ApprovalState.APPROVED
    assert "flu" in sent.body.lower()
