"""CQL runtime values other than Date/DateTime: Quantity, Interval, Code, Concept, Ratio.

FHIR data stays as parsed JSON (dicts, lists, strings); a value read from a FHIR choice
element (``value[x]``, ``effective[x]``) is wrapped in ``Typed`` so ``is``/``as`` can see which
of the choices it is. Booleans, Integers, Decimals and Strings are Python ``bool``, ``int``,
``float`` and ``str``; CQL Tuples are dicts; Lists are lists; null is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from careloop.programs.elm.cqltime import CqlDateTime


@dataclass(frozen=True, slots=True)
class Typed:
    """A FHIR choice element's value with the FHIR type its JSON key names (``dateTime``)."""

    fhir_type: str
    value: Any


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    unit: str = "1"


@dataclass(frozen=True, slots=True)
class Ratio:
    numerator: Quantity
    denominator: Quantity


@dataclass(frozen=True, slots=True)
class Code:
    code: str | None
    system: str | None = None
    version: str | None = None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Concept:
    codes: tuple[Code, ...]
    display: str | None = None


@dataclass(frozen=True, slots=True)
class ValueSetValue:
    """A value set as a value (``ValueSetRef`` with ``preserve``): its URL and its codes."""

    url: str
    codes: frozenset[tuple[str, str]]


class Interval:
    """A CQL interval; ``start()``/``end()`` give closed boundaries (None = unknown).

    A closed null boundary is unbounded (the point type's minimum or maximum), an open null
    one unknown; an open boundary is the successor/predecessor of its point.
    """

    __slots__ = ("high", "high_closed", "low", "low_closed")

    def __init__(self, low: Any, high: Any, low_closed: bool = True, high_closed: bool = True):
        self.low = low
        self.high = high
        self.low_closed = low_closed
        self.high_closed = high_closed

    def start(self) -> Any:
        if self.low is None:
            return minimum_of(self.high) if self.low_closed else None
        return self.low if self.low_closed else successor(self.low)

    def end(self) -> Any:
        if self.high is None:
            return maximum_of(self.low) if self.high_closed else None
        return self.high if self.high_closed else predecessor(self.high)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Interval)
            and self.start() == other.start()
            and self.end() == other.end()
        )

    def __hash__(self) -> int:
        return hash((self.low, self.high))

    def __repr__(self) -> str:
        left = "[" if self.low_closed else "("
        right = "]" if self.high_closed else ")"
        return f"Interval{left}{self.low!r}, {self.high!r}{right}"


def successor(value: Any) -> Any:
    if isinstance(value, CqlDateTime):
        return value.successor()
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1e-8
    if isinstance(value, Quantity):
        return Quantity(successor(value.value), value.unit)
    return None


def predecessor(value: Any) -> Any:
    if isinstance(value, CqlDateTime):
        return value.predecessor()
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value - 1
    if isinstance(value, float):
        return value - 1e-8
    if isinstance(value, Quantity):
        return Quantity(predecessor(value.value), value.unit)
    return None


def minimum_of(example: Any) -> Any:
    from careloop.programs.elm.cqltime import MIN_DATE, MIN_DATETIME

    if isinstance(example, CqlDateTime):
        return MIN_DATE if example.is_date else MIN_DATETIME
    if isinstance(example, int) and not isinstance(example, bool):
        return -(2**31)
    if isinstance(example, float):
        return -1e28
    if isinstance(example, Quantity):
        return Quantity(-1e28, example.unit)
    return None


def maximum_of(example: Any) -> Any:
    from careloop.programs.elm.cqltime import MAX_DATE, MAX_DATETIME

    if isinstance(example, CqlDateTime):
        return MAX_DATE if example.is_date else MAX_DATETIME
    if isinstance(example, int) and not isinstance(example, bool):
        return 2**31 - 1
    if isinstance(example, float):
        return 1e28
    if isinstance(example, Quantity):
        return Quantity(1e28, example.unit)
    return None


def unwrap(value: Any) -> Any:
    return value.value if isinstance(value, Typed) else value
