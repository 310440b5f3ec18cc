"""Red-flag words in a patient's free text: symptoms a person must read about today.

A reply that is not a keyword or a check-in answer ("I have a fever of 101 and chills",
"tengo fiebre", "dor no peito") used to wait days as a routine task. This reader finds the
symptoms that the oncology "call your care team right away if" lists name, so the task is
urgent and the patient is told at once what to do. The list is ours, in one place below,
drawn from:

- NCI, "Chemotherapy and You" and cancer.gov "Infection and Neutropenia" (call for a
  temperature of 100.4 F / 38 C or more, chills, shaking);
- ASCO/Cancer.Net "When to call the doctor during cancer treatment" and the ONS/ASCO
  symptom-management "call your care team if" lists (fever, chills, chest pain, trouble
  breathing, bleeding that will not stop, fainting, new confusion, thoughts of self-harm);
- Taplitz RA et al., ASCO/IDSA 2018 (fever >= 38.0 C during myelosuppressive therapy).

How it reads: accents and case are folded away (FIEBRE = fiebre = fiébre), punctuation is
a word break, and a word of six letters or more may be one letter off (a typo, a missing or
doubled letter: "diarhea" is not ours, but "bleding", "escalofrio", "confsed" are). A
temperature counts when it is written with a unit ("101F", "38,5 °C", "39 grados") or next
to a fever or temperature word, at or above 38 C / 100.4 F.

Negations are NOT understood: "no fever" and "no chest pain anymore" flag too. This is on
purpose: a false alarm costs a nurse a minute, a missed fever during chemotherapy can cost a
life. There is no NLP beyond this word list; anything not listed stays routine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from careloop.channels.keywords import fold

FEVER = "fever"
CHILLS = "chills"
CHEST_PAIN = "chest-pain"
BREATHING = "trouble-breathing"
BLEEDING = "bleeding"
FAINTING = "fainting"
CONFUSION = "confusion"
SELF_HARM = "thoughts-of-self-harm"

PHRASES: dict[str, tuple[str, ...]] = {
    FEVER: (
        # en
        "fever",
        "fevers",
        "feverish",
        "febrile",
        "fevr",
        "fver",
        "feaver",
        "fevar",
        # es
        "fiebre",
        "fiebres",
        "febril",
        "calentura",
        "afiebrado",
        "afiebrada",
        # pt
        "febre",
        "febris",
    ),
    CHILLS: (
        "chills",
        "the chills",
        "shivering",
        "shaking chills",
        "rigors",
        "chils",
        "escalofrios",
        "escalofrio",
        "tiritando",
        "temblores de frio",
        "calafrios",
        "calafrio",
        "arrepios de frio",
    ),
    CHEST_PAIN: (
        "chest pain",
        "chest pains",
        "chestpain",
        "pain in my chest",
        "chest hurts",
        "chest is hurting",
        "chest tightness",
        "tight chest",
        "pressure in my chest",
        "dolor de pecho",
        "dolor en el pecho",
        "me duele el pecho",
        "dolor toracico",
        "opresion en el pecho",
        "dor no peito",
        "dor de peito",
        "dor toracica",
        "aperto no peito",
        "doi o peito",
    ),
    BREATHING: (
        "can t breathe",
        "cant breathe",
        "cannot breathe",
        "can t breath",
        "cant breath",
        "unable to breathe",
        "short of breath",
        "shortness of breath",
        "out of breath",
        "hard to breathe",
        "trouble breathing",
        "difficulty breathing",
        "struggling to breathe",
        "no puedo respirar",
        "falta de aire",
        "me falta el aire",
        "dificultad para respirar",
        "me ahogo",
        "ahogando",
        "nao consigo respirar",
        "falta de ar",
        "dificuldade para respirar",
        "sem ar",
        "sufocando",
    ),
    BLEEDING: (
        "bleeding",
        "bleed",
        "bleeds",
        "bled",
        "hemorrhage",
        "haemorrhage",
        "bloody",
        "blood in my",
        "blood in the",
        "coughing up blood",
        "vomiting blood",
        "throwing up blood",
        "peeing blood",
        "sangrado",
        "sangrando",
        "sangra",
        "sangre en",
        "vomito sangre",
        "hemorragia",
        "sangramento",
        "sangue na",
        "sangue no",
        "sangue nas",
        "sangue nos",
        "vomitando sangue",
    ),
    FAINTING: (
        "faint",
        "fainted",
        "fainting",
        "passed out",
        "pass out",
        "passing out",
        "blacked out",
        "lost consciousness",
        "desmayo",
        "desmaye",
        "desmayar",
        "desmayado",
        "desmayada",
        "me desmaye",
        "perdi el conocimiento",
        "desmaio",
        "desmaiei",
        "desmaiar",
        "desmaiado",
        "desmaiada",
        "perdi a consciencia",
    ),
    CONFUSION: (
        "confused",
        "confusion",
        "disoriented",
        "can t think straight",
        "confundido",
        "confundida",
        "desorientado",
        "desorientada",
        "confuso",
        "confusa",
        "confusao",
    ),
    SELF_HARM: (
        "suicide",
        "suicidal",
        "kill myself",
        "killing myself",
        "end my life",
        "want to die",
        "hurt myself",
        "better off dead",
        "suicidio",
        "suicida",
        "matarme",
        "quiero morir",
        "quiero morirme",
        "quitarme la vida",
        "hacerme dano",
        "me matar",
        "quero morrer",
        "tirar minha vida",
        "acabar com a minha vida",
    ),
}
"""Symptom → words and phrases (folded: lower case, no accents, punctuation as a space)."""

MILD = frozenset({FEVER, CHILLS})
"""High, not urgent, unless the patient is on anticancer therapy (then febrile neutropenia
is possible and every fever or chill is urgent, as the febrile-neutropenia rule says)."""

TEMPERATURE_WORDS = frozenset({"temperature", "temp", "temperatura", "febre", "fever", "fiebre"})
FEVER_CELSIUS = Decimal("38.0")
FEVER_FAHRENHEIT = Decimal("100.4")
_NUMBER = re.compile(
    r"(?<![\d.,])(\d{2,3}(?:[.,]\d{1,2})?)\s*(°|º|degrees?|deg|grados?|graus?)?\s*([cf])?\b",
    re.IGNORECASE,
)
_FUZZY_FROM = 6
"""Words this long may be one letter off; shorter ones must be exact (fever/never)."""


@dataclass(frozen=True, slots=True)
class RedFlags:
    symptoms: tuple[str, ...]
    """Names from :data:`PHRASES` (never the patient's words), in list order."""

    @property
    def any(self) -> bool:
        return bool(self.symptoms)

    def mild_only(self) -> bool:
        return bool(self.symptoms) and set(self.symptoms) <= MILD

    def fever(self) -> bool:
        return bool(MILD & set(self.symptoms))


def _words(text: str) -> list[str]:
    return re.sub(r"[^0-9a-z]+", " ", fold(text).lower()).split()


def _one_off(word: str, want: str) -> bool:
    """At most one edit (insert, delete, substitute, swap) from ``want``."""
    if abs(len(word) - len(want)) > 1 or word[:1] != want[:1]:
        return False
    if len(word) == len(want):
        diff = [i for i, (a, b) in enumerate(zip(word, want, strict=True)) if a != b]
        if len(diff) <= 1:
            return True
        i, j = diff[0], diff[-1]
        return len(diff) == 2 and j == i + 1 and word[i] == want[j] and word[j] == want[i]
    short, long_ = (word, want) if len(word) < len(want) else (want, word)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _same(word: str, want: str) -> bool:
    return word == want or (min(len(word), len(want)) >= _FUZZY_FROM and _one_off(word, want))


def _contains(words: list[str], phrase: list[str]) -> bool:
    size = len(phrase)
    return any(
        all(_same(words[i + k], phrase[k]) for k in range(size))
        for i in range(len(words) - size + 1)
    )


_FOLDED = {name: [_words(p) for p in phrases] for name, phrases in PHRASES.items()}


def _fever_number(text: str, words: Iterable[str]) -> bool:
    """A temperature of 38 C / 100.4 F or more, with a unit or beside a fever word."""
    near_word = bool(TEMPERATURE_WORDS & set(words))
    for match in _NUMBER.finditer(fold(text)):
        try:
            value = Decimal(match.group(1).replace(",", "."))
        except InvalidOperation:  # pragma: no cover - the pattern only takes digits
            continue
        unit = (match.group(3) or "").lower()
        if not (match.group(2) or unit or near_word):
            continue
        celsius = unit == "c" or (not unit and value < 50)
        if celsius and FEVER_CELSIUS <= value <= 45:
            return True
        if not celsius and unit != "c" and FEVER_FAHRENHEIT <= value <= 113:
            return True
    return False


def read_red_flags(text: str) -> RedFlags:
    """The red-flag symptoms ``text`` mentions (empty when none)."""
    words = _words(text)
    found = [name for name, phrases in _FOLDED.items() if any(_contains(words, p) for p in phrases)]
    if FEVER not in found and _fever_number(text, words):
        found.insert(0, FEVER)
    return RedFlags(tuple(found))
