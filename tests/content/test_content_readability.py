"""Reading grades, measured offline, and how they map to the declared levels."""

from __future__ import annotations

import pytest

from careloop.content.readability import (
    Readability,
    ease_to_grade,
    grade_problems,
    measure,
    prose,
)
from careloop.content.syllables import count_syllables
from careloop.content.vocab import ReadingLevel
from careloop.errors import InvalidInput

PLAIN_EN = "It is time for your flu shot. It is quick and safe. Call us to book."
HARD_EN = (
    "Annual influenza vaccination substantially reduces hospitalization, particularly among "
    "immunocompromised individuals with chronic cardiopulmonary comorbidities."
)


def test_english_grade_needs_no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    import nltk

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("readability tried to download NLTK data")

    monkeypatch.setattr(nltk, "download", refuse)
    assert measure(PLAIN_EN, language="en").grade < 3
    assert measure(HARD_EN, language="en").grade > 16


def test_spanish_grade_uses_fernandez_huerta() -> None:
    plain = measure("Es hora de su vacuna. Es rápida y segura. Llame hoy.", language="es")
    hard = measure(
        "La vacunación antigripal anual reduce considerablemente la hospitalización de "
        "pacientes inmunodeprimidos con comorbilidades cardiopulmonares crónicas.",
        language="es",
    )
    assert plain.formula == "fernandez-huerta"
    assert plain.reading_ease is not None
    assert plain.reading_ease > 80
    assert plain.level() is ReadingLevel.BASIC
    assert hard.level() is ReadingLevel.ADVANCED


def test_spanish_syllables_follow_spanish_rules() -> None:
    # "a-ños", "u-te-ri-no", "guí-as": hyphenation patterns would count 1 + 2 + 1.
    assert measure("años uterino guías.", language="es").syllables == 2 + 4 + 2


def test_links_phones_salutations_and_labels_are_not_prose() -> None:
    text = (
        "Hi Rosa,\n\nRiverside Clinic: Book at https://x.org/b or call (555) 010-0199."
        "\n\nTake care,\nRiverside Clinic"
    )
    assert prose(text).split() == ["Book", "at", "or", "call", "."]


def test_ease_to_grade_follows_the_flesch_table() -> None:
    assert ease_to_grade(90) == 5
    assert ease_to_grade(65) == 8
    assert ease_to_grade(20) == pytest.approx(16 + 2 * 10 / 30)


def test_long_texts_are_held_to_their_band_both_ways() -> None:
    standard_but_plain = Readability("en", "flesch-kincaid", 5.0, 60, 6, 80)
    assert grade_problems(standard_but_plain, level=ReadingLevel.STANDARD)
    assert not grade_problems(
        Readability("en", "flesch-kincaid", 8.0, 60, 4, 90), level=ReadingLevel.STANDARD
    )
    assert grade_problems(
        Readability("en", "flesch-kincaid", 6.6, 60, 6, 80), level=ReadingLevel.BASIC
    )


def test_short_texts_are_held_only_to_the_ceiling() -> None:
    short_plain = Readability("en", "flesch-kincaid", 3.0, 18, 2, 22)
    assert not grade_problems(short_plain, level=ReadingLevel.ADVANCED)
    assert grade_problems(
        Readability("en", "flesch-kincaid", 7.0, 18, 1, 30), level=ReadingLevel.BASIC
    )


def test_unknown_language_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        measure("Bonjour", language="fr")
    assert caught.value.field == "language"


@pytest.mark.parametrize(
    ("word", "syllables"),
    [
        ("país", 2),
        ("día", 2),
        ("baúl", 2),
        ("reír", 2),
        ("aérea", 4),
        ("poeta", 3),
        ("cuídese", 3),
        ("construir", 2),
        ("hoy", 1),
        ("muy", 1),
        ("reyes", 2),
        ("quien", 1),
        ("guerra", 2),
        ("pingüino", 3),
        ("averigüéis", 4),
        ("años", 2),
        ("y", 1),
        ("inmunoquímica", 6),
        ("chiita", 3),
    ],
)
def test_spanish_diphthongs_and_hiatus(word: str, syllables: int) -> None:
    assert count_syllables(word, language="es") == syllables


def test_english_syllables_come_from_the_shipped_cmu_counts() -> None:
    assert count_syllables("mammogram", language="en") == 3
    assert count_syllables("available", language="en") == 4  # pyphen alone says 2
    assert count_syllables("zzyzxq", language="en") >= 1  # unknown words still count


PLAIN_PT = "Tome seu remédio hoje. Ligue para nós se tiver dúvidas."
HARD_PT = (
    "A administração concomitante de medicamentos anti-inflamatórios não esteroidais pode "
    "comprometer significativamente a eficácia terapêutica do tratamento anti-hipertensivo."
)


def test_portuguese_grade_uses_the_martins_adaptation_of_flesch() -> None:
    plain, hard = measure(PLAIN_PT, language="pt"), measure(HARD_PT, language="pt")
    assert plain.formula == "flesch-martins"
    # Martins et al. (1996): Flesch's reading ease plus 42.
    words, sentences, syllables = plain.words, plain.sentences, plain.syllables
    expected = 206.835 + 42 - 1.015 * words / sentences - 84.6 * syllables / words
    assert plain.reading_ease == pytest.approx(expected, abs=0.05)
    assert plain.level() is ReadingLevel.BASIC
    assert hard.level() is ReadingLevel.ADVANCED


@pytest.mark.parametrize(
    ("word", "syllables"),
    [
        ("mão", 1),  # nasal diphthong
        ("pães", 1),
        ("lições", 2),
        ("coração", 3),
        ("água", 2),  # "gu" before a is spoken
        ("quero", 2),  # "qu" before e is not
        ("saúde", 3),  # hiatus under an accent
        ("país", 2),
        ("remédio", 3),
        ("enfermeira", 4),
    ],
)
def test_portuguese_syllables(word: str, syllables: int) -> None:
    assert count_syllables(word, language="pt") == syllables
