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


TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"


def translations(element: Any, name: str) -> dict[str, str]:
    """Language tag → text of the FHIR ``translation`` extensions on primitive ``name`` of
    ``element`` (they sit on ``_name``: ``_display``, ``_text``), as a directory ships a
    service's name in the languages its patients read."""
    found: dict[str, str] = {}
    shadow = element.get(f"_{name}") if isinstance(element, Mapping) else None
    extensions = shadow.get("extension") if isinstance(shadow, Mapping) else None
    for ext in extensions if isinstance(extensions, list) else []:
        if not isinstance(ext, Mapping) or ext.get("url") != TRANSLATION:
            continue
        parts = {p.get("url"): p for p in ext.get("extension") or [] if isinstance(p, Mapping)}
        lang = (parts.get("lang") or {}).get("valueCode")
        text = (parts.get("content") or {}).get("valueString")
        if isinstance(lang, str) and isinstance(text, str) and text:
            found[lang] = text
    return found
