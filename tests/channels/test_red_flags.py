"""The red-flag word list: what a nurse must read today is never routine."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.channels.red_flags import PHRASES, read_red_flags

_EVERY_PHRASE = sorted({(name, p) for name, phrases in PHRASES.items() for p in phrases})
_FILLER = st.text(alphabet="abcdefghijklmnopqrstuvwxyz 0123456789.,!?", max_size=30)


@pytest.mark.parametrize(
    ("text", "symptoms"),
    [
        ("I have a fever of 101 and chills", ("fever", "chills")),
        ("tengo fiebre", ("fever",)),
        ("chest pain, can't breathe", ("chest-pain", "trouble-breathing")),
        ("Tengo FIÉBRE", ("fever",)),
        ("estou com febre e calafrios", ("fever", "chills")),
        ("temp 38.5", ("fever",)),
        ("it was 102F last night", ("fever",)),
        ("bleding from my gums", ("bleeding",)),  # one letter off
        ("estoy confundida", ("confusion",)),
        ("não consigo respirar", ("trouble-breathing",)),
        ("no fever", ("fever",)),  # negations are not understood, on purpose
        ("I want to kill myself", ("thoughts-of-self-harm",)),
    ],
)
def test_red_flags_are_found(text: str, symptoms: tuple[str, ...]) -> None:
    assert read_red_flags(text).symptoms == symptoms


@pytest.mark.parametrize(
    "text",
    ["thanks!", "never mind", "room 101", "my temperature is 99", "blood pressure 140 over 90"],
)
def test_ordinary_words_are_not_red_flags(text: str) -> None:
    assert not read_red_flags(text).any


@given(
    phrase=st.sampled_from(_EVERY_PHRASE),
    before=_FILLER,
    after=_FILLER,
    cases=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_any_text_with_a_red_flag_phrase_is_flagged(
    phrase: tuple[str, str], before: str, after: str, cases: list[bool]
) -> None:
    name, words = phrase
    shouted = "".join(c.upper() if up else c for c, up in zip(words, cases, strict=False))
    shouted += words[len(cases) :]
    found = read_red_flags(f"{before} {shouted} {after}")
    assert name in found.symptoms
