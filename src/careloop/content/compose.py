"""From a decision to words: choose the variant (with fallbacks), apply minimum necessary, render.

Fallback order, never an empty message:

1. language: the patient's primary language subtag ("es-MX" → "es"). English is used only
   when the library has no file at all in that language, and the result says so
   (``language_fallback``). A language that exists but lacks one message falls back to the
   generic message *in that language*, not to English.
2. in the chosen language: the exact variant → the other tone → the nearest reading level
   (basic → standard → advanced; standard → basic → advanced; advanced → standard → basic),
   asked tone first → the same ladder on the generic message.
3. the channel never changes: an SMS stays an SMS (the channel is the engine's decision).

With ``require_approved`` (every send), only approved variants are candidates. A language
whose ladder holds nothing approved yet (a new translation awaiting human review) falls back
to English's approved ladder, and the result says so (``language_fallback``, the step
``language_unapproved``): no translation reaches a patient before a person approved it.
Nothing approved in English either is an error rather than an unapproved text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TypedDict, Unpack

from careloop.content.library import Library, Variant, VariantKey
from careloop.content.render import email_html, render_context, render_template
from careloop.content.sensitivity import must_stay_generic
from careloop.content.sms import sms_info
from careloop.content.vocab import (
    DEFAULT_LANGUAGE,
    LEVEL_FALLBACK,
    ApprovalState,
    Channel,
    ReadingLevel,
    Tone,
    parse_enum,
)
from careloop.errors import Conflict, InvalidInput, NotFound


class NotApproved(Conflict):
    """No approved variant can carry this message: nothing may be sent."""


@dataclass(frozen=True)
class RenderedMessage:
    """The words to send, and exactly which stored text produced them."""

    requested: VariantKey
    used: VariantKey  # after fallbacks and minimum necessary
    channel: Channel
    body: str  # SMS text, voice script, portal body, or the e-mail's plain text
    subject: str | None  # e-mail and portal
    html: str | None  # e-mail only
    text: str | None  # e-mail only (same as body)
    segments: int | None  # SMS only
    encoding: str | None  # SMS only: gsm7 or ucs2
    version_id: int | None  # database id of the version used (None when rendered from files)
    content_hash: str
    state: ApprovalState
    fallbacks: tuple[str, ...]  # e.g. ("tone", "reading_level", "generic")
    language_fallback: bool
    minimum_necessary: bool  # the generic form replaced detail on an exposed surface
    subject_version_id: int | None = None  # the generic variant whose subject was used


def primary_language(language: str) -> str:
    """ "es-MX" → "es": the library is organized by primary language subtag."""
    value = language.strip().replace("_", "-").split("-")[0].lower()
    if not value.isalpha():
        raise InvalidInput(
            "language must be a BCP-47 tag such as 'es' or 'es-MX'", field="language"
        )
    return value


def _ladder(
    message: str, generic: str, key: VariantKey
) -> Iterator[tuple[VariantKey, tuple[str, ...]]]:
    for name in dict.fromkeys((message, generic)):
        for level in LEVEL_FALLBACK[key.reading_level]:
            for tone in (key.tone, *(t for t in Tone if t is not key.tone)):
                steps: list[str] = []
                if tone is not key.tone:
                    steps.append("tone")
                if level is not key.reading_level:
                    steps.append("reading_level")
                if name != message:
                    steps.append("generic")
                yield VariantKey(name, key.language, level, tone, key.channel), tuple(steps)


def resolve_variant(
    library: Library, key: VariantKey, *, require_approved: bool
) -> tuple[Variant, tuple[str, ...]]:
    """The variant to render for ``key`` following the documented fallback order."""
    for candidate, steps in _ladder(key.message, library.generic_message, key):
        variant = library.get(candidate)
        if variant is None:
            continue
        if require_approved and variant.state is not ApprovalState.APPROVED:
            continue
        return variant, steps
    if require_approved:
        raise NotApproved(f"no approved variant for {key.label()} or its fallbacks")
    raise NotFound(f"no variant for {key.label()} or its fallbacks")


class RenderRequest(TypedDict):
    """One message for one patient: its words' axes, its fields, and where and how it is read.

    The keyword arguments :func:`render_message` and ``content.service.render_for_sending``
    share, named once."""

    message: str
    language: str
    reading_level: str
    tone: str
    channel: str
    fields: Mapping[str, object]
    locale: str
    timezone: str
    detailed_consent: bool


def render_message(
    library: Library, *, require_approved: bool = False, **request: Unpack[RenderRequest]
) -> RenderedMessage:
    """Render one message for one patient. Sends must pass ``require_approved=True``."""
    message, language, fields = request["message"], request["language"], request["fields"]
    meta = library.message(message)
    level = parse_enum(ReadingLevel, request["reading_level"], field="reading_level")
    chosen_tone = parse_enum(Tone, request["tone"], field="tone")
    chosen_channel = parse_enum(Channel, request["channel"], field="channel")
    where = render_context(locale=request["locale"], timezone=request["timezone"])
    wanted = primary_language(language)
    language_fallback = wanted not in library.by_language
    used_language = DEFAULT_LANGUAGE if language_fallback else wanted
    requested = VariantKey(message, wanted, level, chosen_tone, chosen_channel)
    key = VariantKey(message, used_language, level, chosen_tone, chosen_channel)

    generic_parts = must_stay_generic(
        sensitivity=meta.sensitivity,
        channel=chosen_channel,
        detailed_consent=request["detailed_consent"],
    )
    whole_generic = chosen_channel in (Channel.SMS, Channel.VOICE) and bool(generic_parts)
    if whole_generic:
        key = VariantKey(library.generic_message, *_rest(key))
    try:
        variant, steps = resolve_variant(library, key, require_approved=require_approved)
    except NotApproved:
        if used_language == DEFAULT_LANGUAGE:
            raise
        used_language, language_fallback = DEFAULT_LANGUAGE, True
        key = replace(key, language=DEFAULT_LANGUAGE)
        variant, steps = resolve_variant(library, key, require_approved=require_approved)
        steps = ("language_unapproved", *steps)
    if language_fallback and "language_unapproved" not in steps:
        waiting = wanted in library.awaiting_review
        steps = ("language_unapproved" if waiting else "language", *steps)
    if whole_generic:
        steps = (*steps, "minimum_necessary")

    parts = {
        name: render_template(source, fields=fields, where=where)
        for name, source in variant.parts.items()
    }
    subject_version_id: int | None = None
    if "subject" in generic_parts:
        generic_key = VariantKey(library.generic_message, *_rest(key))
        generic, _ = resolve_variant(library, generic_key, require_approved=require_approved)
        parts["subject"] = render_template(generic.parts["subject"], fields=fields, where=where)
        subject_version_id = generic.version_id
        steps = (*steps, "minimum_necessary")
    body = parts.get("text") or parts.get("body") or ""
    if not body.strip() or ("subject" in parts and not parts["subject"].strip()):
        raise InvalidInput(f"{variant.key.label()} renders empty", field="template")

    info = sms_info(body) if chosen_channel is Channel.SMS else None
    is_email = chosen_channel is Channel.EMAIL
    return RenderedMessage(
        requested=requested,
        used=variant.key,
        channel=chosen_channel,
        body=body,
        subject=parts.get("subject"),
        html=email_html(text=body, subject=parts["subject"], language=used_language)
        if is_email
        else None,
        text=body if is_email else None,
        segments=info.segments if info else None,
        encoding=str(info.encoding) if info else None,
        version_id=variant.version_id,
        content_hash=variant.content_hash,
        state=variant.state,
        fallbacks=steps,
        language_fallback=language_fallback,
        minimum_necessary="minimum_necessary" in steps,
        subject_version_id=subject_version_id,
    )


def _rest(key: VariantKey) -> tuple[str, ReadingLevel, Tone, Channel]:
    return key.language, key.reading_level, key.tone, key.channel


def render_variant(
    variant: Variant, *, fields: Mapping[str, object], locale: str, timezone: str
) -> dict[str, str]:
    """Render every part of one variant exactly (no fallback): for previews and the lint."""
    where = render_context(locale=locale, timezone=timezone)
    return {
        name: render_template(source, fields=fields, where=where)
        for name, source in variant.parts.items()
    }
