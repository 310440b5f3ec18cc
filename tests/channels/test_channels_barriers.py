"""Barriers named in a free-text reply: whole words after folding, four languages, codes only."""

from __future__ import annotations

import pytest

from careloop.channels.barriers import Barrier, barriers_in

T, C, W, K, F = (
    Barrier.TRANSPORTATION,
    Barrier.COST,
    Barrier.TIME,
    Barrier.CAREGIVING,
    Barrier.FEELS_WELL,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have no ride to get there", (T,)),
        ("My CAR broke down", (T,)),
        ("can't get  there, the bus is too far", (T,)),
        ("I can't afford the copay", (C,)),
        ("too expensive!!", (C,)),
        ("I work double shifts, no time off", (W,)),
        ("no one to watch the kids", (K,)),
        ("I feel fine, don't need a checkup", (F,)),
        ("No tengo carro y el autobús no pasa", (T,)),
        ("no tengo carro y el AUTOBUS no pasa", (T,)),
        ("Es muy caro, no tengo dinero", (C,)),
        ("Estoy ocupada con el trabajo y los niños", (W, K)),
        ("Me siento bien", (F,)),
        ("Não tenho carro nem dinheiro para o ônibus", (T, C)),
        ("Sem tempo, muito trabalho", (W,)),
        ("Cuido dos filhos", (K,)),
        ("Estou bem, não preciso", (F,)),
        ("没有车，交通不方便", (T,)),
        ("太贵了，没钱", (C,)),
        ("我没时间，要上班", (W,)),
        ("要照顾孩子", (K,)),
        ("我身体很好，不需要", (F,)),
        ("Ｉ ｈａｖｅ ｎｏ ｒｉｄｅ", (T,)),  # full-width forms fold
    ],
)
def test_a_reply_names_its_barriers(text: str, expected: tuple[Barrier, ...]) -> None:
    assert barriers_in(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "my card was declined at the pharmacy",  # "card" is not "car"
        "carpool lane",  # nor "carpool"
        "the buses? no, business as usual",  # "business" is not "bus"
        "I paid yesterday",  # "paid" is not "pay"
        "networking event",  # "networking" is not "work"
        "escaro",  # "caro" inside a word
        "ok thanks, see you Tuesday",
        "1",
        "",
    ],
)
def test_words_inside_other_words_and_plain_replies_name_none(text: str) -> None:
    assert barriers_in(text) == ()


def test_only_codes_come_out() -> None:
    found = barriers_in("no ride and no money")
    assert [str(b) for b in found] == ["transportation", "cost"]
    assert all(isinstance(b, Barrier) for b in found)
