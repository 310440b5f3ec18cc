"""Caregivers (FHIR RelatedPerson): who they are to the patient, how and when to reach them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.db import get_or_missing, patient_rows
from careloop.fhirdata.patients import preferred_language
from careloop.models import Caregiver
from careloop.records.availability import parse_window
from careloop.records.contacts_phone import DEFAULT_REGION, normalise_points, region_of
from careloop.records.demographics import contact_points_of

PROXY_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/portal-proxy"


def _name(resource: dict[str, Any]) -> str | None:
    for name in resource.get("name") or []:
        if isinstance(name, dict):
            if name.get("text"):
                return str(name["text"])
            parts = [*(name.get("given") or []), name.get("family") or ""]
            joined = " ".join(p for p in parts if p).strip()
            if joined:
                return joined
    return None


def _relationship(resource: dict[str, Any]) -> str | None:
    for rel in resource.get("relationship") or []:
        if isinstance(rel, dict):
            if rel.get("text"):
                return str(rel["text"])
            for coding in rel.get("coding") or []:
                if coding.get("display") or coding.get("code"):
                    return str(coding.get("display") or coding.get("code"))
    return None


def caregiver_row(
    resource: dict[str, Any],
    *,
    patient_id: str,
    now: datetime,
    windows: list[dict[str, Any]],
    default_region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    proxy = any(
        isinstance(e, dict) and e.get("url") == PROXY_EXTENSION and e.get("valueBoolean") is True
        for e in resource.get("extension") or []
    )
    # A relationship the EHR has ended (``active: false``) leaves no number careloop may use:
    # the importer never deletes a caregiver, so this is how one leaves the record, and a
    # text queued for them must not go to whoever they are to the patient now.
    ended = resource.get("active") is False
    return {
        "id": resource["id"][:128],
        "patient_id": patient_id,
        "name": _name(resource),
        "relationship": _relationship(resource),
        "language": (preferred_language(resource) or "")[:35] or None,
        "contact_points": []
        if ended
        else normalise_points(
            contact_points_of(resource),
            region=region_of(
                next(iter(resource.get("address") or []), None), default=default_region
            ),
        ),
        "availability": windows,
        "is_proxy": proxy,
        "updated_at": now,
    }


def caregivers_of(session: Session, *, patient_id: str) -> list[Caregiver]:
    return patient_rows(session, Caregiver, patient_id, Caregiver.id)


def sender_languages(
    session: Session, *, patient_language: str | None, caregiver_id: str | None
) -> list[str]:
    """The languages to answer a sender in, most wanted first: a caregiver's recorded
    language (``caregiver_id``: the sender is that caregiver), then the patient's. A
    caregiver is never answered in the patient's language when the record says theirs."""
    wanted: list[str | None] = []
    if caregiver_id:
        caregiver = session.get(Caregiver, caregiver_id)
        wanted.append(caregiver.language if caregiver is not None else None)
    wanted.append(patient_language)
    return [language for language in wanted if language]


def set_availability(
    session: Session, *, caregiver_id: str, windows: list[str], now: datetime
) -> Caregiver:
    """Replace a caregiver's availability with windows like ``"mon-fri 15:00-21:00"``."""
    caregiver = get_or_missing(session, Caregiver, caregiver_id, "no such caregiver")
    caregiver.availability = [parse_window(w) for w in windows]
    caregiver.updated_at = now
    session.flush()
    return caregiver


def set_manages_medications(
    session: Session, *, caregiver_id: str, manages: bool, now: datetime
) -> Caregiver:
    """Mark whether this caregiver manages the patient's medicines (gets reminder copies)."""
    caregiver = get_or_missing(session, Caregiver, caregiver_id, "no such caregiver")
    caregiver.manages_medications = manages
    caregiver.updated_at = now
    session.flush()
    return caregiver
