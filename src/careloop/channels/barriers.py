"""What stands in a patient's way, read from the words of a free-text reply.

A small lexicon per language (en, es, pt, zh) for the barriers that keep patients away from
visits: getting there, cost, work or time, caring for someone, and feeling well enough not to
come. Matching is done after the same Unicode folding as :mod:`careloop.channels.keywords`
(accents dropped, compatibility forms unified, upper-cased), on whole words: "card" is not
"car", "busy" is not "bus". Chinese has no spaces between words, so a Chinese term counts
wherever it occurs. Every language's lexicon is tried: the record's language is not always
the one a patient writes in.

Only codes come out, never the text (a reply is PHI). The result is evidence for the care
team, not a decision: "I have a ride now" still says ``transportation``.
"""

from __future__ import annotations

import re
from enum import StrEnum

from careloop.channels.keywords import fold


class Barrier(StrEnum):
    TRANSPORTATION = "transportation"
    COST = "cost"
    TIME = "time"
    CAREGIVING = "caregiving"
    FEELS_WELL = "feels-well"


LEXICON: dict[str, dict[Barrier, tuple[str, ...]]] = {
    "en": {
        Barrier.TRANSPORTATION: (
            "ride", "rides", "car", "bus", "transport", "transportation", "get there",
            "taxi", "no way to get",
        ),
        Barrier.COST: (
            "cost", "costs", "afford", "expensive", "copay", "co-pay", "money", "pay", "bill",
            "bills",
        ),
        Barrier.TIME: (
            "work", "working", "job", "shift", "shifts", "busy", "time off", "no time",
        ),
        Barrier.CAREGIVING: (
            "childcare", "child care", "babysitter", "kids", "children", "caregiver",
            "caring for", "take care of", "look after",
        ),
        Barrier.FEELS_WELL: (
            "feel fine", "feel good", "feel well", "feeling fine", "feeling good",
            "feeling better", "no need", "don't need", "dont need", "not sick", "healthy",
        ),
    },
    "es": {
        Barrier.TRANSPORTATION: (
            "transporte", "carro", "coche", "autobús", "camión", "aventón", "cómo llegar",
        ),
        Barrier.COST: ("caro", "costo", "dinero", "pagar", "copago", "no me alcanza"),
        Barrier.TIME: ("trabajo", "trabajar", "turno", "ocupado", "ocupada", "no tengo tiempo"),
        Barrier.CAREGIVING: ("niños", "hijos", "niñera", "cuidar", "cuido a"),
        Barrier.FEELS_WELL: ("me siento bien", "estoy bien", "no necesito", "sano", "sana"),
    },
    "pt": {
        Barrier.TRANSPORTATION: ("transporte", "carro", "ônibus", "condução", "carona"),
        Barrier.COST: ("custo", "caro", "dinheiro", "pagar", "não posso pagar"),
        Barrier.TIME: ("trabalho", "trabalhar", "turno", "ocupado", "ocupada", "sem tempo"),
        Barrier.CAREGIVING: ("filhos", "crianças", "babá", "cuidar", "cuido da", "cuido do"),
        Barrier.FEELS_WELL: ("me sinto bem", "estou bem", "não preciso", "saudável"),
    },
    "zh": {
        Barrier.TRANSPORTATION: ("交通", "车", "公交", "坐车"),
        Barrier.COST: ("钱", "贵", "费用", "付不起"),
        Barrier.TIME: ("工作", "上班", "没时间", "忙"),
        Barrier.CAREGIVING: ("孩子", "照顾", "带娃"),
        Barrier.FEELS_WELL: ("感觉很好", "身体很好", "不需要", "没事"),
    },
}  # fmt: skip


def _is_cjk(term: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in term)


def _pattern(term: str) -> str:
    folded = fold(term)
    if _is_cjk(folded):
        return re.escape(folded)
    words = re.split(r"[\W_]+", folded)
    # Whole words only; the words of a phrase may be split by any spacing or punctuation.
    return r"(?<![^\W_])" + r"[\W_]+".join(re.escape(w) for w in words if w) + r"(?![^\W_])"


_MATCHERS: tuple[tuple[Barrier, re.Pattern[str]], ...] = tuple(
    (
        barrier,
        re.compile(
            "|".join(
                _pattern(term)
                for by_barrier in LEXICON.values()
                for term in by_barrier.get(barrier, ())
            )
        ),
    )
    for barrier in Barrier
)


def barriers_in(text: str) -> tuple[Barrier, ...]:
    """The barriers a reply names, in the order of :class:`Barrier`, each once."""
    folded = fold(text)
    return tuple(barrier for barrier, matcher in _MATCHERS if matcher.search(folded))
