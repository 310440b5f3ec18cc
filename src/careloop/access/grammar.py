"""The words a patient replies to an offer with, in English, Spanish, Portuguese and Chinese.

* **A choice**: ``1``, ``2``, ``3``; ``one``/``uno``, ``two``/``dos``, ``three``/``tres``;
  ``option 2``, ``opción 2``, ``#2``, ``2.``, ``"2 please"``, ``"el 2"``.
* **Cancel**: ``CANCEL VISIT``/``CANCEL APPOINTMENT``/``CANCEL APPT``, ``CANCELAR CITA``,
  ``ANULAR``. A bare ``CANCEL`` is a carrier opt-out word (CTIA/Twilio): it stays an opt-out,
  checked before this grammar, so a patient is never kept on texts they asked to stop.
* **Reschedule**: ``R``, ``RESCHEDULE``, ``CHANGE``, ``NEW TIME``, ``CAMBIAR``, ``CAMBIO``,
  ``REPROGRAMAR``, ``OTRA HORA``, ``OTRO DIA``.
* Portuguese: ``CANCELAR CONSULTA``, ``DESMARCAR`` (cancel); ``REMARCAR``, ``MUDAR``,
  ``OUTRO HORARIO`` (reschedule); ``um``, ``dois``, ``opção 2``.
* Chinese (a run of CJK characters is one word): ``取消预约`` (cancel); ``改期``, ``改时间``
  (reschedule); ``一`` ``二`` ``三``, ``第2个``.

Anything else is not for this grammar (the reply router goes on to its other readers).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

# A CJK character is a word of its own (Chinese is written without spaces).
_TOKEN = re.compile(r"[A-Z]+|\d+|[\u4e00-\u9fff]")


def _cjk(phrase: str) -> str:
    """A Chinese phrase as the words ``_words`` makes of it ("改期" → "改 期")."""
    return " ".join(phrase)


_NUMBERS = {
    "ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5,
    "UNO": 1, "UNA": 1, "DOS": 2, "TRES": 3, "CUATRO": 4, "CINCO": 5,
    "FIRST": 1, "SECOND": 2, "THIRD": 3, "PRIMERO": 1, "PRIMERA": 1, "SEGUNDO": 2,
    "SEGUNDA": 2, "TERCERO": 3, "TERCERA": 3,
    "UM": 1, "DOIS": 2, "QUATRO": 4, "PRIMEIRO": 1, "PRIMEIRA": 1, "TERCEIRO": 3,
    "TERCEIRA": 3, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5,
}  # fmt: skip
_FILLER = frozenset(
    {"OPTION", "OPCION", "NUMBER", "NUMERO", "NO", "EL", "LA", "LO", "PLEASE", "POR", "FAVOR",
     "THE", "I", "WANT", "TAKE", "QUIERO", "OK", "OKAY", "YES", "SI", "THANKS", "GRACIAS",
     "OPCAO", "QUERO", "SIM", "O", "A", "OBRIGADO", "OBRIGADA", "第", "个", "我", "要", "选", "好"}
)  # fmt: skip
_CANCEL = frozenset(
    {"CANCEL VISIT", "CANCEL APPOINTMENT", "CANCEL APPT", "CANCEL MY APPOINTMENT",
     "CANCELAR CITA", "CANCELAR LA CITA", "CANCELAR MI CITA", "ANULAR", "ANULAR CITA",
     "CANCELAR CONSULTA", "CANCELAR A CONSULTA", "DESMARCAR", "DESMARCAR CONSULTA",
     _cjk("取消预约")}
)  # fmt: skip
_RESCHEDULE = frozenset(
    {"R", "RESCHEDULE", "CHANGE", "CHANGE TIME", "NEW TIME", "ANOTHER TIME", "CAMBIAR",
     "CAMBIO", "REPROGRAMAR", "OTRA HORA", "OTRO DIA", "CAMBIAR CITA", "CAMBIAR HORA",
     "REMARCAR", "MUDAR", "OUTRO HORARIO", "MUDAR HORARIO", _cjk("改期"), _cjk("改时间")}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class BookingReply:
    kind: Literal["choice", "cancel", "reschedule"]
    choice: int | None = None


def _words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()
    return _TOKEN.findall(folded)


def parse_booking_reply(text: str) -> BookingReply | None:
    """What an answer to an offer asks for, or None when it is not an answer to one."""
    words = _words(text)
    phrase = " ".join(words)
    if phrase in _CANCEL:
        return BookingReply("cancel")
    if phrase in _RESCHEDULE:
        return BookingReply("reschedule")
    numbers = [
        int(w) if w.isdigit() else _NUMBERS[w] for w in words if w.isdigit() or w in _NUMBERS
    ]
    others = [w for w in words if not w.isdigit() and w not in _NUMBERS and w not in _FILLER]
    if len(numbers) == 1 and not others and 1 <= numbers[0] <= 9:
        return BookingReply("choice", numbers[0])
    return None
