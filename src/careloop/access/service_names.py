"""What ``--service`` names: a code the directory carries, or the name a person types.

A coordinator types "colonoscopy"; the directory holds SNOMED ``73761001`` shown as
"Colonoscopy". Matching only codes made that an empty list, read as "no time fits". So a name
(a concept's ``text`` or a coding's ``display``, any case, or a HealthcareService's ``name``)
resolves to its code, and a word the directory does not know is an error naming the services
it does know, never a silent ``[]``. A name two services carry (a SNOMED "Colonoscopy" and the
clinic's own "COLO" shown as "Colonoscopy", on two Schedules) is an :class:`Ambiguous` error
listing each code with its name: picking the first would offer one clinic's times as if they
were all there is. Codes of one concept (a coding in SNOMED and one local, side by side) are
one service, not a choice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.errors import Ambiguous, InvalidInput
from careloop.fhirdata.codings import codes
from careloop.models import FhirResource
from careloop.records.code_filter import may_carry_code

_CONCEPT_FIELDS = {
    "Schedule": ("serviceType", "specialty"),
    "HealthcareService": ("type", "specialty"),
}
_SLOT_FIELDS = ("serviceType", "serviceCategory", "specialty", "appointmentType")


def _concepts(value: Any) -> Iterable[dict[str, Any]]:
    for concept in value if isinstance(value, list) else [value]:
        if isinstance(concept, dict):  # R5 wraps the concept in a CodeableReference
            inner = concept.get("concept") if "concept" in concept else concept
            if isinstance(inner, dict):
                yield inner


def _names(concept: dict[str, Any]) -> list[str]:
    found = [concept.get("text")]
    found += [c.get("display") for c in concept.get("coding") or [] if isinstance(c, dict)]
    return [n.strip() for n in found if isinstance(n, str) and n.strip()]


def _directory_concepts(session: Session) -> Iterable[tuple[frozenset[str], list[str]]]:
    """Each service concept of the directory's Schedules and HealthcareServices: its codes
    and its names."""
    rows = session.scalars(
        select(FhirResource.resource)
        .where(FhirResource.resource_type.in_(tuple(_CONCEPT_FIELDS)))
        .order_by(FhirResource.resource_type, FhirResource.fhir_id)
    )
    for resource in rows:
        own = resource.get("name") if resource["resourceType"] == "HealthcareService" else None
        extra = [own.strip()] if isinstance(own, str) and own.strip() else []
        for field in _CONCEPT_FIELDS[resource["resourceType"]]:
            for concept in _concepts(resource.get(field)):
                yield frozenset(codes([concept])), [*_names(concept), *extra]


def directory_services(session: Session) -> dict[str, list[str]]:
    """Each service code of the directory's Schedules and HealthcareServices → its names."""
    named: dict[str, list[str]] = {}
    for concept_codes, concept_names in _directory_concepts(session):
        for code in sorted(concept_codes):
            names = named.setdefault(code, [])
            names += [n for n in concept_names if n not in names]
    return named


def _one_service(session: Session, wanted: str, matched: list[str]) -> str:
    """The code a name matched; several, an :class:`Ambiguous` error listing them unless they
    are codings of one concept (the same service in two code systems)."""
    together = any(
        set(matched) <= concept_codes for concept_codes, _ in _directory_concepts(session)
    )
    if len(matched) == 1 or together:
        return matched[0]
    named = directory_services(session)
    candidates = [{"code": code, "display": (named[code] or [code])[0]} for code in matched]
    listed = ", ".join(f"{c['display']} ({c['code']})" for c in candidates)
    raise Ambiguous(
        f"--service {wanted!r} names {len(candidates)} services: {listed}; give the code",
        field="service",
        candidates=candidates,
    )


def _a_slot_carries(session: Session, code: str) -> bool:
    """Whether a Slot names ``code`` itself (a directory may code only its slots)."""
    rows = session.scalars(
        select(FhirResource.resource).where(
            FhirResource.resource_type == "Slot", may_carry_code([code])
        )
    )
    return any(code in codes(r.get(f)) for r in rows for f in _SLOT_FIELDS)


def service_code(session: Session, wanted: str) -> str:
    """The code ``wanted`` names: itself when the directory carries it, else the code of the
    service whose name it is (any case); unknown, an :class:`InvalidInput` naming the known
    services."""
    text = wanted.strip()
    named = directory_services(session)
    if text in named:
        return text
    folded = text.casefold()
    matched = sorted(
        code
        for code, names in named.items()
        if folded == code.casefold() or any(folded == n.casefold() for n in names)
    )
    if matched:
        return _one_service(session, text, matched)
    if text and _a_slot_carries(session, text):
        return text
    known = sorted(f"{names[0]} ({code})" if names else code for code, names in named.items())
    listed = ", ".join(known) if known else "none yet (import the Schedules and services)"
    raise InvalidInput(
        f"--service {text!r} is not a service of the directory; known services: {listed}",
        field="service",
    )
