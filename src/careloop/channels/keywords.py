"""What a short reply means: opt-out, opt-in, help, confirm, reschedule, a number, or free text.

The rule is Twilio's: a keyword counts only when it is the WHOLE message ("STOP", " stop. ",
"Stop!"), never a word inside a sentence ("please stop by the desk" is free text). We compare
after Unicode folding, upper-casing and dropping whitespace, punctuation and symbols, so we are
at least as eager as the carrier: a message the carrier treats as STOP is always an opt-out
here too. A free-text message that merely contains an opt-out word is flagged
``possible_opt_out`` so a person reads it (consent can be withdrawn "by any reasonable means").

Spanish equivalents are ours, not Twilio's defaults (see ``docs/channels.md``): PARAR, ALTO,
DETENER, CANCELAR, BAJA → opt-out; AYUDA → help; SI/SÍ, CONFIRMAR → confirm; REPROGRAMAR →
reschedule. Portuguese: SAIR, DESCADASTRAR → opt-out; AJUDA → help; SIM, CONFIRMO → confirm;
REMARCAR → reschedule. Chinese (kept whole by the folding: CJK characters are letters): 退订,
取消订阅 → opt-out; 帮助 → help; 确认, 是 → confirm; 改期 → reschedule. YES is both Twilio's
opt-in and our confirm: we call it confirm and set ``lifts_carrier_block`` so the caller
knows Twilio has also lifted any STOP block.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum


class Keyword(StrEnum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"
    CONFIRM = "confirm"
    RESCHEDULE = "reschedule"
    TALK_TO_SOMEONE = "talk-to-someone"
    CHECKIN_ANSWER = "checkin-answer"
    FREE_TEXT = "free-text"


OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
    | {"PARAR", "ALTO", "DETENER", "CANCELAR", "BAJA"}
    | {"SAIR", "DESCADASTRAR", "退订", "取消订阅"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA", "AJUDA", "帮助"})
CONFIRM_WORDS = frozenset(
    {"C", "Y", "YES", "CONFIRM", "SI", "CONFIRMAR", "SIM", "CONFIRMO", "确认", "是"}
)
RESCHEDULE_WORDS = frozenset({"R", "RESCHEDULE", "REPROGRAMAR", "REMARCAR", "改期"})
_STRONG_OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "REVOKE", "OPTOUT", "PARAR", "DETENER", "DESCADASTRAR"}
)
"""Words that, inside a longer message, still suggest an opt-out (END, CANCEL are too common)."""
TWILIO_OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
"""Twilio's own opt-in list: any of these lifts a STOP block at Twilio for that sender."""

_TABLE: dict[str, Keyword] = {
    **dict.fromkeys(OPT_OUT_WORDS, Keyword.OPT_OUT),
    **dict.fromkeys(OPT_IN_WORDS, Keyword.OPT_IN),
    **dict.fromkeys(HELP_WORDS, Keyword.HELP),
    **dict.fromkeys(CONFIRM_WORDS, Keyword.CONFIRM),
    **dict.fromkeys(RESCHEDULE_WORDS, Keyword.RESCHEDULE),
}

_EN_NUMBERS = (
    "ZERO",
    "ONE",
    "TWO",
    "THREE",
    "FOUR",
    "FIVE",
    "SIX",
    "SEVEN",
    "EIGHT",
    "NINE",
    "TEN",
)
_ES_NUMBERS = (
    "CERO",
    "UNO",
    "DOS",
    "TRES",
    "CUATRO",
    "CINCO",
    "SEIS",
    "SIETE",
    "OCHO",
    "NUEVE",
    "DIEZ",
)
NUMBER_WORDS: dict[str, int] = {
    **{word: value for value, word in enumerate(_EN_NUMBERS)},
    **{word: value for value, word in enumerate(_ES_NUMBERS)},
}

_NUMBER = re.compile(r"[+-]?\d{1,6}(?:[.,]\d{1,3})?")
_EDGE_PUNCTUATION = ".!?¡¿,;:'\"()[]{}*-_~ \t\r\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedReply:
    keyword: Keyword
    number: Decimal | None = None
    """The value when ``keyword`` is ``checkin-answer`` ("7", "7.5", "seven", "siete")."""
    possible_opt_out: bool = False
    """Free text that contains an opt-out word: show it to a person, do not ignore it."""
    lifts_carrier_block: bool = False
    """Twilio treats this message as an opt-in (START, YES, UNSTOP)."""


def fold(text: str) -> str:
    """Upper-case, accents removed (SÍ → SI), compatibility forms unified (ＳＴＯＰ → STOP)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


def _compact(folded: str) -> str:
    """Only letters and digits: what is left of a one-word message once noise is gone."""
    return "".join(ch for ch in folded if ch.isalnum())


def _as_number(folded: str) -> Decimal | None:
    stripped = folded.strip(_EDGE_PUNCTUATION)
    if _NUMBER.fullmatch(stripped):
        try:
            return Decimal(stripped.replace(",", "."))
        except InvalidOperation:  # pragma: no cover - the pattern only admits valid numbers
            return None
    word = _compact(folded)
    if word in NUMBER_WORDS:
        return Decimal(NUMBER_WORDS[word])
    return None


def parse_reply(text: str) -> ParsedReply:
    """Classify one inbound message body (SMS or portal reply)."""
    folded = fold(text)
    compact = _compact(folded)
    keyword = _TABLE.get(compact)
    lifts = compact in TWILIO_OPT_IN_WORDS
    if keyword is not None:
        return ParsedReply(keyword=keyword, lifts_carrier_block=lifts)
    number = _as_number(folded)
    if number is not None:
        return ParsedReply(keyword=Keyword.CHECKIN_ANSWER, number=number)
    words = set(re.findall(r"[A-Z]+", folded))
    spaced = " ".join(re.findall(r"[A-Z]+", folded))
    mentions_opt_out = bool(words & _STRONG_OPT_OUT_WORDS) or "OPT OUT" in spaced
    return ParsedReply(keyword=Keyword.FREE_TEXT, possible_opt_out=mentions_opt_out)


def classify_keyword(text: str) -> Keyword:
    """The keyword of a message; see :func:`parse_reply` for the number and flags."""
    return parse_reply(text).keyword
