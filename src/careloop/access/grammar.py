"""The words a patient replies to an offer with, in English and Spanish.

* **A choice**: ``1``, ``2``, ``3``; ``one``/``uno``, ``two``/``dos``, ``three``/``tres``;
  ``option 2``, ``opción 2``, ``#2``, ``2.``, ``"2 please"``, ``"el 2"``.
* **Cancel**: ``CANCEL VISIT``/``CANCEL APPOINTMENT``/``CANCEL APPT``, ``CANCELAR CITA``,
  ``ANULAR``. A bare ``CANCEL`` is a carrier opt-out word (CTIA/Twilio): it stays an opt-out,
  checked before this grammar, so a patient is never kept on texts they asked to stop.
* **Reschedule**: ``R``, ``RESCHEDULE``, ``CHANGE``, ``NEW TIME``, ``CAMBIAR``, ``CAMBIO``,
  ``REPROGRAMAR``, ``OTRA HORA``, ``OTRO DIA``.

Anything else is not for this grammar (the reply router goes on to its other readers).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

_NUMBERS = {
    "ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5,
    "UNO": 1, "UNA": 1, "DOS": 2, "TRES": 3, "CUATRO": 4, "CINCO": 5,
    "FIRST": 1, "SECOND": 2, "THIRD": 3, "PRIMERO": 1, "PRIMERA": 1, "SEGUNDO": 2,
    "SEGUNDA": 2, "TERCERO": 3, "TERCERA": 3,
}  # fmt: skip
_FILLER = frozenset(
    {"OPTION", "OPCION", "NUMBER", "NUMERO", "NO", "EL", "LA", "LO", "PLEASE", "POR", "FAVOR",
     "THE", "I", "WANT", "TAKE", "QUIERO", "OK", "OKAY", "YES", "SI", "THANKS", "GRACIAS"}
)  # fmt: skip
_CANCEL = frozenset(
    {"CANCEL VISIT", "CANCEL APPOINTMENT", "CANCEL APPT", "CANCEL MY APPOINTMENT",
     "CANCELAR CITA", "CANCELAR LA CITA", "CANCELAR MI CITA", "ANULAR", "ANULAR CITA"}
)  # fmt: skip
_RESCHEDULE = frozenset(
    {"R", "RESCHEDULE", "CHANGE", "CHANGE TIME", "NEW TIME", "ANOTHER TIME", "CAMBIAR",
     "CAMBIO", "REPROGRAMAR", "OTRA HORA", "OTRO DIA", "CAMBIAR CITA", "CAMBIAR HORA"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class BookingReply:
    kind: Literal["choice", "cancel", "reschedule"]
    choice: int | None = None


def _words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()
    return re.findall(r"[A-Z]+|\d+", folded)


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
