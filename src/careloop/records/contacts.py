"""Finding a patient by a phone number or an email address without reading clear text.

Contact points are stored encrypted (``governance.crypto.EncryptedJSON``), so the database
cannot search them. Each one also gets a keyed digest of its normalised value in
``contact_lookup``; an inbound SMS or a bounced email finds its patient by digest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select
from sqlalchemy.orm import Session

from careloop.crypto import configured_signing_key, keyed_digest
from careloop.models import Caregiver, ContactLookup, Patient
from careloop.settings import get_settings

_FALLBACK_KEY = b"careloop-contact-lookup"
PHONE_SYSTEMS = frozenset({"phone", "sms"})


def normalise(system: str, value: str) -> str | None:
    """A canonical form: digits of a phone (national US numbers without the 1), email lower-case."""
    if system in PHONE_SYSTEMS:
        digits = re.sub(r"\D", "", value)
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        return f"phone:{digits}" if digits else None
    if system == "email":
        address = value.strip().lower()
        return f"email:{address}" if "@" in address else None
    return None


def _key() -> bytes:
    # A configured secret makes digests useless without it; the fallback keeps look-ups
    # stable across processes when no secret is set (then nothing is encrypted either).
    return configured_signing_key(get_settings()) or _FALLBACK_KEY


def digest(system: str, value: str) -> str | None:
    canonical = normalise(system, value)
    return keyed_digest(_key(), canonical) if canonical else None


def reindex_contacts(
    connection: Connection,
    *,
    patient_id: str,
    points: Iterable[dict[str, Any]],
    caregiver_id: str | None = None,
) -> None:
    """Replace the look-up rows of one patient's (or one caregiver's) contact points."""
    table: Table = ContactLookup.__table__  # type: ignore[assignment]
    owner = (
        table.c.caregiver_id.is_(None)
        if caregiver_id is None
        else table.c.caregiver_id == caregiver_id
    )
    connection.execute(delete(table).where(table.c.patient_id == patient_id, owner))
    rows: dict[str, dict[str, Any]] = {}
    for point in points or []:
        system = str(point.get("system"))
        hashed = digest(system, str(point.get("value") or ""))
        if hashed:
            rows[hashed] = {
                "digest": hashed,
                "patient_id": patient_id,
                "caregiver_id": caregiver_id,
                "system": system[:16],
            }
    if rows:
        connection.execute(insert(table), list(rows.values()))


def index_contacts(
    session: Session,
    *,
    patient_id: str,
    points: Iterable[dict[str, Any]],
    caregiver_id: str | None = None,
) -> None:
    """:func:`reindex_contacts` inside a session (for writes that bypass the ORM)."""
    reindex_contacts(
        session.connection(), patient_id=patient_id, points=points, caregiver_id=caregiver_id
    )


def rebuild_contact_index(session: Session) -> int:
    """Recompute every look-up digest from the (decrypted) contact points under the current
    key: run after ``security.secret_key`` changes. Returns the number of owners re-indexed."""
    owners = 0
    for patient_id, points in session.execute(select(Patient.id, Patient.contact_points)):
        index_contacts(session, patient_id=patient_id, points=points or [])
        owners += 1
    caregivers = select(Caregiver.id, Caregiver.patient_id, Caregiver.contact_points)
    for caregiver_id, patient_id, points in session.execute(caregivers):
        index_contacts(
            session, patient_id=patient_id, points=points or [], caregiver_id=caregiver_id
        )
        owners += 1
    return owners


def find_patients_by_contact(
    session: Session, *, system: str, value: str, include_caregivers: bool = False
) -> list[str]:
    """Patients holding this phone number or email (their own, or a caregiver's if asked)."""
    hashed = digest(system, value)
    if hashed is None:
        return []
    query = select(ContactLookup.patient_id).where(ContactLookup.digest == hashed)
    if not include_caregivers:
        query = query.where(ContactLookup.caregiver_id.is_(None))
    return sorted(set(session.scalars(query)))
