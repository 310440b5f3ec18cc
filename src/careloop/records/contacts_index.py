"""Keeping the contact look-up usable across key changes, so a STOP is never lost.

Look-up digests are keyed (:func:`careloop.records.contacts.digest`): imported without a
secret key and served with one, every inbound STOP would be an "unknown sender". The index
therefore records the *fingerprint* it was built with (a digest of the key and the
normalisation scheme, which reveals neither); when the fingerprint differs, the whole index
is rebuilt from the (decrypted) contact points: by ``careloop contacts reindex``, after an
import, and when ``careloop serve`` or ``careloop worker`` starts; a process that still finds
it stale refuses to serve.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.crypto import keyed_digest
from careloop.errors import Conflict
from careloop.models import Caregiver, ContactLookup, ContactLookupState, Patient
from careloop.records.contacts import lookup_key, reindex_contacts
from careloop.runtime import Runtime

SCHEME = "e164-v1"
"""Bump when :func:`careloop.records.contacts.normalise` changes: digests change with it."""
_STATE_ID = 1


def current_fingerprint() -> str:
    return keyed_digest(lookup_key(), f"careloop-contact-lookup-fingerprint:{SCHEME}")


def stored_fingerprint(session: Session) -> str | None:
    state = session.get(ContactLookupState, _STATE_ID)
    return state.fingerprint if state is not None else None


def is_stale(session: Session) -> bool:
    """True when the digests were built with another key or scheme (or never recorded one)
    while there are contact points to find."""
    if stored_fingerprint(session) == current_fingerprint():
        return False
    return bool(session.scalar(select(func.count()).select_from(Patient)))


def _locked_state(session: Session, *, now: datetime) -> ContactLookupState:
    """The state row, created if missing and locked for this transaction, so processes that
    start together (two workers) rebuild one after the other instead of colliding."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(ContactLookupState)
        .values(id=_STATE_ID, fingerprint="", entries=0, indexed_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return session.scalars(
        select(ContactLookupState)
        .where(ContactLookupState.id == _STATE_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def reindex_all(session: Session, *, now: datetime) -> int:
    """Rebuild every look-up row with the current key and scheme; returns how many."""
    state = _locked_state(session, now=now)
    connection = session.connection()
    connection.execute(delete(ContactLookup))
    for patient_id, points in session.execute(select(Patient.id, Patient.contact_points)):
        reindex_contacts(connection, patient_id=patient_id, points=points or [])
    for caregiver_id, patient_id, points in session.execute(
        select(Caregiver.id, Caregiver.patient_id, Caregiver.contact_points)
    ):
        reindex_contacts(
            connection, patient_id=patient_id, points=points or [], caregiver_id=caregiver_id
        )
    entries = int(session.scalar(select(func.count()).select_from(ContactLookup)) or 0)
    state.fingerprint = current_fingerprint()
    state.entries = entries
    state.indexed_at = now
    session.flush()
    return entries


def reindex_if_stale(session: Session, *, now: datetime) -> int | None:
    """:func:`reindex_all` when the index is stale; ``None`` when it was current.

    The state row is locked first, so a process that waited for another's rebuild sees the
    fingerprint that one recorded and does not rebuild again."""
    state = _locked_state(session, now=now)
    if state.fingerprint == current_fingerprint():
        return None
    if not is_stale(session):
        reindex_all(session, now=now)  # an empty database: record the fingerprint
        return None
    return reindex_all(session, now=now)


def require_current(session: Session) -> None:
    """Refuse to go on with a stale index (inbound STOPs would not find their patient)."""
    if is_stale(session):
        raise Conflict(
            "the contact look-up index was built with another key: run `careloop contacts reindex`"
        )


def ensure_contact_index(rt: Runtime) -> int | None:
    """At start of a serving process: rebuild a stale index, then refuse to go on if it is
    still stale (e.g. another process changed it meanwhile)."""
    with rt.transaction() as session:
        rebuilt = reindex_if_stale(session, now=rt.clock.now())
        require_current(session)
    return rebuilt
