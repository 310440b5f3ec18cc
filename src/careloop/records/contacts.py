"""Finding a patient by a phone number or an email address without reading clear text.

Contact points are stored encrypted (``governance.crypto.EncryptedJSON``), so the database
cannot search them. Each one also gets a keyed digest of its normalised value in
``contact_lookup``; an inbound SMS or a bounced email finds its patient by digest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select
from sqlalchemy.orm import Session

from careloop.crypto import configured_signing_key, keyed_digest
from careloop.models import ContactLookup
from careloop.records.contacts_phone import PHONE_SYSTEMS, to_e164
from careloop.settings import get_settings

_FALLBACK_KEY = b"careloop-contact-lookup"
_CHUNK = 500


def normalise(system: str, value: str) -> str | None:
    """A canonical form: a phone in E.164 (national numbers read as US, as stored ones
    already are E.164), an email lower-case."""
    if system in PHONE_SYSTEMS:
        number = to_e164(value)
        return f"phone:{number}" if number else None
    if system == "email":
        address = value.strip().lower()
        return f"email:{address}" if "@" in address else None
    return None


def lookup_key() -> bytes:
    # A configured secret makes digests useless without it; the fallback keeps look-ups
    # stable across processes when no secret is set (then nothing is encrypted either).
    return configured_signing_key(get_settings()) or _FALLBACK_KEY


def digest(system: str, value: str) -> str | None:
    canonical = normalise(system, value)
    return keyed_digest(lookup_key(), canonical) if canonical else None


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
    rows = _lookup_rows(patient_id, points, caregiver_id)
    if rows:
        connection.execute(insert(table), rows)


def reindex_patients_contacts(
    connection: Connection, points_by_patient: Mapping[str, Iterable[dict[str, Any]]]
) -> None:
    """:func:`reindex_contacts` of several patients' own points (no caregiver's) in two
    statements, not two a patient: an import refreshes a batch of records at once."""
    table: Table = ContactLookup.__table__  # type: ignore[assignment]
    ids = list(points_by_patient)
    for start in range(0, len(ids), _CHUNK):
        connection.execute(
            delete(table).where(
                table.c.patient_id.in_(ids[start : start + _CHUNK]),
                table.c.caregiver_id.is_(None),
            )
        )
    rows = [
        row
        for patient_id, points in points_by_patient.items()
        for row in _lookup_rows(patient_id, points, None)
    ]
    if rows:
        connection.execute(insert(table), rows)


def _lookup_rows(
    patient_id: str, points: Iterable[dict[str, Any]], caregiver_id: str | None
) -> list[dict[str, Any]]:
    """The look-up rows of one owner's points (one a digest)."""
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
    return list(rows.values())


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


def find_caregivers_by_contact(
    session: Session, *, system: str, value: str
) -> list[tuple[str, str]]:
    """``(patient_id, caregiver_id)`` of every caregiver holding this phone number or email
    (one person may care for several patients, under one caregiver record each)."""
    hashed = digest(system, value)
    if hashed is None:
        return []
    rows = session.execute(
        select(ContactLookup.patient_id, ContactLookup.caregiver_id).where(
            ContactLookup.digest == hashed, ContactLookup.caregiver_id.is_not(None)
        )
    ).all()
    return sorted({(str(p), str(c)) for p, c in rows})
