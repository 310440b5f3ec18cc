"""Reply keywords: whole-message match, any casing/spacing/punctuation; free text stays free."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.channels.keywords import OPT_OUT_WORDS, Keyword, classify_keyword, parse_reply

KEYWORD_TABLE = [
    ("STOP", Keyword.OPT_OUT),
    ("stopall", Keyword.OPT_OUT),
    ("Unsubscribe", Keyword.OPT_OUT),
    ("cancel", Keyword.OPT_OUT),
    ("END", Keyword.OPT_OUT),
    ("quit", Keyword.OPT_OUT),
    ("Opt out", Keyword.OPT_OUT),
    ("PARAR", Keyword.OPT_OUT),
    ("alto", Keyword.OPT_OUT),
    ("START", Keyword.OPT_IN),
    ("unstop", Keyword.OPT_IN),
    ("HELP", Keyword.HELP),
    ("info", Keyword.HELP),
    ("Ayuda", Keyword.HELP),
    ("C", Keyword.CONFIRM),
    ("y", Keyword.CONFIRM),
    ("Yes!", Keyword.CONFIRM),
    ("Sí", Keyword.CONFIRM),
    ("R", Keyword.RESCHEDULE),
    ("Sim", Keyword.CONFIRM),
    ("ajuda", Keyword.HELP),
    ("SAIR", Keyword.OPT_OUT),
    ("remarcar", Keyword.RESCHEDULE),
    ("确认", Keyword.CONFIRM),
    ("退订。", Keyword.OPT_OUT),
    ("帮助", Keyword.HELP),
    ("改期", Keyword.RESCHEDULE),
    ("我明天可以改到下午吗？", Keyword.FREE_TEXT),
    ("7", Keyword.CHECKIN_ANSWER),
    ("seven", Keyword.CHECKIN_ANSWER),
    ("siete", Keyword.CHECKIN_ANSWER),
    ("7.5", Keyword.CHECKIN_ANSWER),
    ("Can I come on Friday instead?", Keyword.FREE_TEXT),
    ("", Keyword.FREE_TEXT),
]


@pytest.mark.parametrize(("text", "keyword"), KEYWORD_TABLE)
def test_keyword_table(text: str, keyword: Keyword) -> None:
    assert classify_keyword(text) is keyword


def _casings(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flags: "".join(
            c.upper() if up else c.lower() for c, up in zip(word, flags, strict=True)
        )
    )


@given(
    word=st.sampled_from(sorted(OPT_OUT_WORDS)).flatmap(_casings),
    before=st.text(alphabet=" \t\r\n", max_size=4),
    after=st.text(alphabet=" \t\r\n.!", max_size=4),
)
def test_any_casing_and_whitespace_around_an_opt_out_word_is_an_opt_out(
    word: str, before: str, after: str
) -> None:
    assert classify_keyword(before + word + after) is Keyword.OPT_OUT


@given(
    prefix=st.sampled_from(["please", "can you", "I will", "don't"]),
    suffix=st.sampled_from(["by the desk", "at the pharmacy", "the reminders on Friday"]),
)
def test_stop_inside_a_sentence_is_free_text_flagged_for_a_person(prefix: str, suffix: str) -> None:
    reply = parse_reply(f"{prefix} stop {suffix}")
    assert reply.keyword is Keyword.FREE_TEXT
    assert reply.possible_opt_out is True


def test_yes_confirms_and_says_twilio_also_lifted_a_stop_block() -> None:
    reply = parse_reply("YES")
    assert (reply.keyword, reply.lifts_carrier_block) == (Keyword.CONFIRM, True)


@given(value=st.integers(min_value=0, max_value=10))
def test_a_bare_number_is_a_check_in_answer_with_its_value(value: int) -> None:
    reply = parse_reply(f" {value} ")
    assert (reply.keyword, reply.number) == (Keyword.CHECKIN_ANSWER, Decimal(value))


def test_a_number_inside_a_sentence_is_free_text() -> None:
    assert parse_reply("my pain is 7 today").keyword is Keyword.FREE_TEXT
