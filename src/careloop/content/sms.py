"""SMS encoding and segment counting (3GPP TS 23.038 / 23.040).

A text is sent as GSM-7 when every character is in the GSM 03.38 default alphabet or its
extension table (extension characters cost two septets: ESC + char); otherwise the whole
message goes as UCS-2 (UTF-16 code units). One segment holds 160 septets or 70 code units;
a concatenated message loses room to the user-data header: 153 septets or 67 code units per
segment. An escape pair or a surrogate pair is never split across two segments, which is why
splitting is done character by character instead of by dividing lengths.

The table is written out here because it is a fixed part of a standard, small and easy to
review; no maintained Python package offers segment counting.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# GSM 03.38 default alphabet (the 128 positions, ESC 0x1B left out because it is not a char).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: reached through ESC, so each costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_LIMIT = {"gsm7": 160, "ucs2": 70}
MULTI_LIMIT = {"gsm7": 153, "ucs2": 67}


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsInfo:
    """How a text travels as SMS: its encoding, its length in units and its segments."""

    encoding: SmsEncoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    non_gsm_characters: tuple[str, ...]


def sms_encoding(text: str) -> SmsEncoding:
    """GSM-7 if every character has a GSM-7 code, else UCS-2."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return SmsEncoding.GSM7
    return SmsEncoding.UCS2


def _unit_cost(ch: str, encoding: SmsEncoding) -> int:
    if encoding is SmsEncoding.GSM7:
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1  # astral characters are a UTF-16 surrogate pair


def split_segments(text: str) -> list[str]:
    """The parts a phone network would carry, in order; ``"".join(parts) == text``."""
    encoding = sms_encoding(text)
    total = sum(_unit_cost(ch, encoding) for ch in text)
    if total <= SINGLE_LIMIT[encoding]:
        return [text] if text else []
    limit = MULTI_LIMIT[encoding]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        cost = _unit_cost(ch, encoding)
        if used + cost > limit:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    if current:
        parts.append("".join(current))
    return parts


def sms_info(text: str) -> SmsInfo:
    """Encoding, length and segment count of ``text``."""
    encoding = sms_encoding(text)
    return SmsInfo(
        encoding=encoding,
        units=sum(_unit_cost(ch, encoding) for ch in text),
        segments=len(split_segments(text)),
        non_gsm_characters=tuple(
            sorted({ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION})
        ),
    )
