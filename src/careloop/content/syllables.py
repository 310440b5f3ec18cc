"""Syllable counts for the grade formulas, without downloads and without copyleft code.

English: the CMU Pronouncing Dictionary (vowel phones carry a stress digit), reduced to
``word count`` lines in ``data/cmudict-syllables.txt`` — the same source textstat uses,
which textstat would fetch from the network at run time. Words it lacks fall back to pyphen's
hyphenation points, as in textstat. The CMU data is BSD-licensed (notice in
``data/CMUDICT-LICENSE.txt``); :func:`build_english_table` regenerates the file from a
``cmudict.dict`` file.

Spanish: counted by rule. Spanish spelling is phonemic, so a syllable is a vowel nucleus:
vowels next to each other share a syllable (diphthong, triphthong) unless both are strong
(a, e, o) or a stressed weak vowel (í, ú) meets a strong one — a hiatus (two weak vowels stay
together even under an accent: "cuí-de-se"). The "u" of que/qui/gue/gui is
silent, "ü" is not, and a final "y" (hoy, muy) closes a diphthong. Hyphenation patterns
undercount Spanish (they never split off one letter: "a-ños", "u-te-ri-no", "guí-as").

Portuguese: the same nucleus rules over Portuguese vowels (â, ê, ô, à count as strong), with
the nasal diphthongs that the Spanish rule would split: a nasal vowel before another vowel
shares its syllable ("mão", "pães", "lições"); "qu"/"gu" before e/i is silent as in Spanish.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pyphen  # type: ignore[import-untyped]

ENGLISH_TABLE = Path(__file__).parent / "data" / "cmudict-syllables.txt"

_STRONG = frozenset("aeoáéó")
_STRESSED_WEAK = frozenset("íú")
_VOWELS = frozenset("aeiouáéíóúü")
_SILENT_U = re.compile(r"(?<=[qg])u(?=[eiéí])")
_STRONG_PT = frozenset("aeoáéóâêôàãõ")
_VOWELS_PT = frozenset("aeiouáéíóúâêôàãõü")
_NASAL_PT = frozenset("ãõ")
_SILENT_U_PT = re.compile(r"(?<=[qg])u(?=[eiéêí])")
_FINAL_Y = re.compile(r"(?<=[aeiouáéíóú])y$")


@cache
def _english_table() -> dict[str, int]:
    table: dict[str, int] = {}
    with ENGLISH_TABLE.open(encoding="utf-8") as handle:
        for line in handle:
            word, count = line.split()
            table[word] = int(count)
    return table


@cache
def _english_hyphenator() -> pyphen.Pyphen:
    return pyphen.Pyphen(lang="en_US")


@cache
def count_syllables(word: str, *, language: str) -> int:
    """Syllables in one word (at least one for any word with a letter or digit)."""
    word = word.lower().replace("’", "'")
    if language == "en":
        known = _english_table().get(word)
        if known is not None:
            return known
        return len(_english_hyphenator().positions(word)) + 1
    if language == "es":
        return spanish_syllables(word)
    if language == "pt":
        return portuguese_syllables(word)
    raise ValueError(f"no syllable rules for {language!r}")


def spanish_syllables(word: str) -> int:
    """Vowel nuclei of a Spanish word, by the diphthong and hiatus rules."""
    word = _SILENT_U.sub("", word.lower())
    word = _FINAL_Y.sub("i", word)
    if word == "y":
        return 1
    count = 0
    previous = ""
    for ch in word:
        if ch not in _VOWELS:
            previous = ""
            continue
        if not previous or _hiatus(previous, ch):
            count += 1
        previous = ch
    return max(count, 1)


def portuguese_syllables(word: str) -> int:
    """Vowel nuclei of a Portuguese word: Spanish rules, plus nasal diphthongs kept whole."""
    word = _SILENT_U_PT.sub("", word.lower())
    count = 0
    previous = ""
    for ch in word:
        if ch not in _VOWELS_PT:
            previous = ""
            continue
        if not previous or (previous not in _NASAL_PT and _hiatus(previous, ch, strong=_STRONG_PT)):
            count += 1
        previous = ch
    return max(count, 1)


def _hiatus(first: str, second: str, *, strong: frozenset[str] = _STRONG) -> bool:
    if first in strong and second in strong:
        return True
    if first not in strong and second not in strong:
        # Two weak vowels make a diphthong even under an accent (cuí-da-te, des-truí),
        # except a doubled one (chi-i-ta).
        return first == second
    return first in _STRESSED_WEAK or second in _STRESSED_WEAK


def build_english_table(*, source: Path, target: Path = ENGLISH_TABLE) -> int:
    """Write ``word count`` lines from a CMU ``cmudict.dict`` file; returns the word count.

    The first pronunciation of each word counts (as textstat does); alternates ``word(2)``
    and comments are skipped.
    """
    counts: dict[str, int] = {}
    for line in source.read_text(encoding="utf-8").splitlines():
        parts = line.split("#", 1)[0].split()
        if not parts or "(" in parts[0]:
            continue
        counts.setdefault(parts[0].lower(), sum(1 for p in parts[1:] if p[-1].isdigit()))
    with target.open("w", encoding="utf-8") as handle:
        for word in sorted(counts):
            handle.write(f"{word} {counts[word]}\n")
    return len(counts)
