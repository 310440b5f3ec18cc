"""FHIR codes: the (system, code) pairs of a CodeableConcept, a bare Coding, or lists of them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def codings(value: Any) -> Iterator[tuple[str, str]]:
    """(system, code) pairs, system ``""`` when the coding names none.

    A bare Coding (``Encounter.class``: a mapping with a ``code`` of its own) counts too.
    """
    if isinstance(value, list):
        for item in value:
            yield from codings(item)
        return
    if not isinstance(value, Mapping):
        return
    if isinstance(value.get("code"), str):
        yield str(value.get("system") or ""), value["code"]
    for coding in value.get("coding") or ():
        if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
            yield str(coding.get("system") or ""), coding["code"]


def codes(value: Any) -> set[str]:
    """The codes of ``value`` whatever their system."""
    return {code for _, code in codings(value)}


def has_code(value: Any, wanted: set[str] | frozenset[str]) -> bool:
    """Whether any coding of ``value`` carries one of ``wanted`` (any system)."""
    return any(code in wanted for _, code in codings(value))


def first_coding(concept: Any) -> Mapping[str, Any]:
    """The first Coding of a CodeableConcept (an empty mapping when it has none)."""
    items = concept.get("coding") if isinstance(concept, Mapping) else None
    first = items[0] if isinstance(items, list) and items else None
    return first if isinstance(first, Mapping) else {}
