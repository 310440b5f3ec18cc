"""SMS encoding and segments: what a phone network really charges and delivers."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from careloop.content.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SmsEncoding,
    sms_encoding,
    sms_info,
    split_segments,
)


def test_spanish_enye_and_inverted_marks_stay_gsm7() -> None:
    assert sms_encoding("¿Mañana? ¡Sí, señor!") is SmsEncoding.UCS2  # "í" is not GSM-7
    assert sms_encoding("¿Mañana? ¡Si, señor! Ñandú") is SmsEncoding.UCS2  # "ú" is not
    assert sms_encoding("¿Mañana? ¡Si, señor! Ñandu") is SmsEncoding.GSM7


def test_acute_accents_force_ucs2_but_e_acute_does_not() -> None:
    assert sms_encoding("café") is SmsEncoding.GSM7  # é is in the basic set
    for ch in "áíóúÁÍÓÚ":
        assert sms_encoding(f"hola {ch}") is SmsEncoding.UCS2


def test_gsm7_single_and_concatenated_limits() -> None:
    assert sms_info("a" * 160).segments == 1
    assert sms_info("a" * 161).segments == 2
    assert sms_info("a" * 306).segments == 2
    assert sms_info("a" * 307).segments == 3


def test_ucs2_single_and_concatenated_limits() -> None:
    assert sms_info("á" * 70).segments == 1
    assert sms_info("á" * 71).segments == 2
    assert sms_info("á" * 134).segments == 2
    assert sms_info("á" * 135).segments == 3


def test_extension_characters_cost_two_septets() -> None:
    info = sms_info("€" * 80)
    assert info.encoding is SmsEncoding.GSM7
    assert (info.units, info.segments) == (160, 1)
    assert sms_info("€" * 81).segments == 2


def test_an_escape_pair_is_never_split_across_segments() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the € would straddle septets 153/154
    parts = split_segments(text)
    assert parts[0] == "a" * 152
    assert parts[1].startswith("€")


def test_emoji_is_a_surrogate_pair_in_ucs2() -> None:
    info = sms_info("👍" * 35)
    assert (info.encoding, info.units, info.segments) == (SmsEncoding.UCS2, 70, 1)
    parts = split_segments("x" + "👍" * 40)
    assert all(len(p.encode("utf-16-le")) // 2 <= 67 for p in parts)


GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=700)
ANY_TEXT = st.text(max_size=400)


@given(GSM_TEXT)
def test_gsm7_segments_follow_the_septet_rules(text: str) -> None:
    info = sms_info(text)
    septets = len(text) + sum(1 for ch in text if ch in GSM7_EXTENSION)
    assert info.units == septets
    if septets <= 160:
        assert info.segments == (1 if text else 0)
    else:
        # Splitting whole characters can only add a segment, never remove one.
        assert math.ceil(septets / 153) <= info.segments <= math.ceil(septets / 152)


@given(ANY_TEXT)
def test_segments_rejoin_to_the_text_and_respect_their_limits(text: str) -> None:
    parts = split_segments(text)
    info = sms_info(text)
    assert "".join(parts) == text
    assert len(parts) == info.segments
    limit = {SmsEncoding.GSM7: 160, SmsEncoding.UCS2: 70}[info.encoding]
    if len(parts) > 1:
        limit = {SmsEncoding.GSM7: 153, SmsEncoding.UCS2: 67}[info.encoding]
    for part in parts:
        assert sms_info(part).units <= limit
