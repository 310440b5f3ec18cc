"""Reading grade of a rendered text, per language, mapped to careloop's reading levels.

English: Flesch–Kincaid grade. Spanish: Fernández-Huerta reading ease (the Spanish
adaptation of Flesch reading ease, in the corrected form textstat uses), turned into a US
grade equivalent through the Flesch ease-to-grade table that Fernández-Huerta adopted.
Portuguese: Flesch reading ease as adapted to Brazilian Portuguese by Martins, Ghiraldelo,
Nunes and Oliveira (1996, "Readability formulas applied to textbooks in Brazilian
Portuguese", Notas do ICMSC-USP, Série Computação 28): Flesch's formula plus 42, since
Portuguese words carry more syllables than English ones for the same difficulty; its grade
equivalent through the same Flesch table (their bands 75-100 / 50-75 / 25-50 / 0-25 map to
school years 1-4 / 5-8 / secondary / university, close to that table).

Why not call ``textstat.flesch_kincaid_grade`` directly: textstat 0.7 looks English syllables
up in NLTK's CMU dictionary and downloads it at run time, which fails offline (and reaches the
network from a clinical system). We use the same formulas and textstat's word count, with
syllables from ``syllables.py``: the CMU dictionary's counts shipped in the package (English)
and Spanish syllabification rules (hyphenation patterns, which textstat uses for Spanish,
undercount it by 5-10 %). Nothing is downloaded.

Only prose is measured (see :func:`prose`): links, phone numbers, salutations, sign-offs and
line labels are left out, and every line ends a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from careloop.content.syllables import count_syllables
from careloop.content.vocab import ReadingLevel
from careloop.errors import InvalidInput

# Bands on the grade rounded to a whole number: basic <= 6, standard 7-9, advanced >= 10.
BAND_FLOOR: dict[ReadingLevel, float] = {
    ReadingLevel.BASIC: float("-inf"),
    ReadingLevel.STANDARD: 6.5,
    ReadingLevel.ADVANCED: 9.5,
}
BAND_CEILING: dict[ReadingLevel, float] = {
    ReadingLevel.BASIC: 6.5,
    ReadingLevel.STANDARD: 9.5,
    ReadingLevel.ADVANCED: float("inf"),
}
# Below this many words a grade formula mostly measures noise (Flesch calibrated on 100-word
# samples; one long word moves a 15-word text by two grades): only the ceiling is held.
MIN_WORDS_FOR_BAND = 30

# Flesch reading-ease → school grade (Flesch 1948; the table Fernández-Huerta adopted).
_EASE_TO_GRADE: tuple[tuple[float, float], ...] = (
    (100.0, 4.0),
    (90.0, 5.0),
    (80.0, 6.0),
    (70.0, 7.0),
    (60.0, 9.0),
    (50.0, 12.0),
    (30.0, 16.0),
    (0.0, 18.0),
)

_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+\.\S+")
_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")
_SPOKEN_DIGITS = re.compile(r"(?:\d[ ,]+){4,}\d")  # a phone number written for a voice
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)")
_SALUTATION_WORDS = 4
_LABEL = re.compile(r"^[ \t]*(?:[^\W\d_]+[ \t]+){0,3}[^\W\d_]+:[ \t]", re.MULTILINE)
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+", re.UNICODE)


@dataclass(frozen=True)
class Readability:
    """A measured text: the grade and the counts it came from."""

    language: str
    formula: str
    grade: float
    words: int
    sentences: int
    syllables: int
    reading_ease: float | None = None

    def level(self) -> ReadingLevel:
        """The reading level this grade falls in."""
        if self.grade < BAND_FLOOR[ReadingLevel.STANDARD]:
            return ReadingLevel.BASIC
        if self.grade < BAND_FLOOR[ReadingLevel.ADVANCED]:
            return ReadingLevel.STANDARD
        return ReadingLevel.ADVANCED


SUPPORTED_LANGUAGES = ("en", "es", "pt")
_FORMULAS = {"en": "flesch-kincaid", "es": "fernandez-huerta", "pt": "flesch-martins"}


def prose(text: str) -> str:
    """The prose a grade formula can judge.

    Links, e-mail addresses and phone numbers (also spelled digit by digit) are taken out,
    and so are salutation and sign-off lines (at most four words, not ending a sentence:
    "Hi Rosa,", "Sincerely,", the clinic's name) and a label opening a line ("Riverside
    Clinic: ...", "Lugar: ..."): they are not sentences, and counting each as one would make every
    letter look two grades plainer than its body.
    """
    text = _URL.sub(" ", text)
    text = _EMAIL.sub(" ", text)
    text = _SPOKEN_DIGITS.sub(" ", text)
    text = _PHONE.sub(" ", text)
    text = _LABEL.sub("", text)
    kept = [
        line
        for line in text.splitlines()
        if _SENTENCE_END.search(line.rstrip() + " ") or len(_WORD.findall(line)) > _SALUTATION_WORDS
    ]
    return "\n".join(kept)


def _sentences(text: str) -> int:
    count = 0
    for line in text.splitlines():
        for piece in _SENTENCE_END.split(line):
            if _WORD.search(piece):
                count += 1
    return count


# textstat's definition of a word (``lexicon_count``: hyphenated and contracted words count
# once), written out: importing textstat loads NLTK and its CMU dictionary (1.5-2 s), which
# made the first lint in a process (the console's Content page) take seconds.
# tests/content/test_readability_words.py holds the two to the same count.
_NONCONTRACTION_APOSTROPHE = re.compile(r"\'(?![tsd]|ve|ll|re)")
_PUNCTUATION = re.compile(r"[^\w\s\']")


def _lexicon_count(text: str) -> int:
    return len(_PUNCTUATION.sub("", _NONCONTRACTION_APOSTROPHE.sub("", text)).split())


def measure(text: str, *, language: str) -> Readability:
    """Grade of ``text`` in ``language`` ("en", "es" or "pt")."""
    if language not in SUPPORTED_LANGUAGES:
        raise InvalidInput(f"no readability formula for language {language!r}", field="language")
    cleaned = prose(text)
    words = _WORD.findall(cleaned)
    word_count = _lexicon_count(cleaned) if words else 0
    sentences = _sentences(cleaned)
    syllables = sum(count_syllables(w, language=language) for w in words)
    if word_count == 0 or sentences == 0:
        return Readability(language, _formula(language), 0.0, 0, 0, 0, None)
    words_per_sentence = word_count / sentences
    syllables_per_word = syllables / len(words)
    if language == "en":
        grade = 0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59
        # Flesch-Kincaid goes below zero for very plain text; no school grade does.
        return Readability(
            language, "flesch-kincaid", round(max(0.0, grade), 1), word_count, sentences, syllables
        )
    if language == "pt":
        ease = 248.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word
    else:
        ease = 206.84 - 60.0 * syllables_per_word - 1.02 * words_per_sentence
    return Readability(
        language,
        _formula(language),
        round(ease_to_grade(ease), 1),
        word_count,
        sentences,
        syllables,
        round(ease, 1),
    )


def _formula(language: str) -> str:
    return _FORMULAS[language]


def ease_to_grade(ease: float) -> float:
    """Piecewise-linear reading ease → grade through the Flesch table (extrapolated past 100)."""
    points = _EASE_TO_GRADE
    if ease >= points[0][0]:
        return max(0.0, points[0][1] - (ease - points[0][0]) / 10.0)
    for (hi_ease, hi_grade), (lo_ease, lo_grade) in pairwise(points):
        if ease >= lo_ease:
            share = (hi_ease - ease) / (hi_ease - lo_ease)
            return hi_grade + share * (lo_grade - hi_grade)
    return points[-1][1]


def grade_problems(
    reading: Readability, *, level: ReadingLevel, ceiling_only: bool = False
) -> list[str]:
    """Why ``reading`` does not fit ``level`` (empty when it does).

    Short texts (< MIN_WORDS_FOR_BAND words) and messages declared ``ceiling_only`` are held
    only to the level's ceiling: plainer is never wrong there.
    """
    problems: list[str] = []
    ceiling = BAND_CEILING[level]
    floor = BAND_FLOOR[level]
    if reading.grade >= ceiling:
        problems.append(
            f"grade {reading.grade} is above the {level} level (must round to "
            f"{'≤ 6' if level is ReadingLevel.BASIC else '≤ 9'})"
        )
    short = reading.words < MIN_WORDS_FOR_BAND
    if not (short or ceiling_only) and reading.grade < floor:
        problems.append(
            f"grade {reading.grade} is below the {level} level (must round to "
            f"{'≥ 7' if level is ReadingLevel.STANDARD else '≥ 10'})"
        )
    return problems
