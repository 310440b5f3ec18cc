"""Small readers for the FHIR R4 fields the KPIs use, over plain resource dicts.

Resources come from bundles, NDJSON or the record store as JSON dicts; reading the few fields
needed here is simpler and faster than building full models, and a missing or malformed field
is reported by the caller as a skipped resource, not an exception.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any


def parse_instant(value: object) -> datetime | None:
    """A FHIR dateTime/instant → aware UTC datetime; a bare date means its start (UTC)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def reference_key(reference: object) -> str | None:
    """``{"reference": "Patient/123"}`` or ``urn:uuid:...`` → a stable key (the id part)."""
    if not isinstance(reference, Mapping):
        return None
    value = reference.get("reference")
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("urn:uuid:"):
        return value.removeprefix("urn:uuid:")
    return value.rsplit("/", 1)[-1]


def codings(concept: object) -> Iterator[tuple[str | None, str]]:
    """(system, code) pairs of a CodeableConcept (or a single Coding)."""
    if not isinstance(concept, Mapping):
        return
    items = concept.get("coding")
    if items is None and "code" in concept:
        items = [concept]
    for coding in items or []:
        if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
            system = coding.get("system")
            yield (system if isinstance(system, str) else None), coding["code"]


def has_code(concept: object, codes: set[str]) -> bool:
    """Whether any coding of ``concept`` carries one of ``codes`` (any system)."""
    return any(code in codes for _, code in codings(concept))


def resources_of(resources: Any, resource_type: str) -> Iterator[Mapping[str, Any]]:
    """The resources of one type among dicts, bundles (their entries) or both."""
    for resource in resources:
        if not isinstance(resource, Mapping):
            continue
        if resource.get("resourceType") == "Bundle":
            entries = [e.get("resource") for e in resource.get("entry") or []]
            yield from resources_of(entries, resource_type)
        elif resource.get("resourceType") == resource_type:
            yield resource
