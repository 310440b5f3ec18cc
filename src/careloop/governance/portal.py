"""Patient and caregiver sign-in by a one-time code sent to a verified contact point.

Flow: staff (or an import) enrol a contact point that is on the patient's or caregiver's
record (:func:`enroll_portal_contact`); the person asks for a code (:func:`request_code`,
same answer whether or not the contact point is known), receives six digits by SMS or
email, and trades them for a short-lived portal token (:func:`verify_code`). Codes are
stored only as keyed hashes, expire after 10 minutes and allow 5 tries; asking for a new
code retires the older ones.

A code is texted only to a number a text can reach, by the records domain's one rule
(``records.contacts_phone.textable``, the rule outreach addresses by): enrolling a home,
work or old line, or a looked-up landline, is refused with the reason; a number enrolled
before that rule, or whose record changed since, gets no code (the answer is the one an
unknown number gets) until the record lists it as a mobile. Email is unaffected.

Delivery goes through a :class:`CodeSender` (the SMS and email adapters implement it); the
edge sends only after the code is committed.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.crypto import keyed_digest
from careloop.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from careloop.models import Patient, PortalCode, PortalContact, User
from careloop.personalize.service import get_profile
from careloop.records import caregivers as records_caregivers
from careloop.records import service as records
from careloop.records.contacts_phone import textable, to_e164, why_not_textable
from careloop.security.auth import IssuedToken, create_user, issue_token
from careloop.security.roles import Role

log = logging.getLogger("careloop.governance.portal")

CODE_TTL = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
CODE_DIGITS = 6
PORTAL_SYSTEMS = ("sms", "email")


class CodeSender(Protocol):
    """Delivers a sign-in code; raises on failure (the code then simply is not used)."""

    def send_code(
        self, *, channel: str, to: str, code: str, expires_minutes: int, language: str = "en"
    ) -> None: ...


@dataclass
class InMemoryCodeSender:
    """A fake sender for tests and the demo: keeps what would have been sent."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)

    def send_code(
        self, *, channel: str, to: str, code: str, expires_minutes: int, language: str = "en"
    ) -> None:
        self.sent.append((channel, to, code))
        self.languages.append(language)

    def last_code_for(self, to: str) -> str:
        return next(code for _channel, dest, code in reversed(self.sent) if dest == to)


class UnconfiguredCodeSender:
    """Used when no channel adapter was wired in: says so in the log (without the address)."""

    def send_code(
        self, *, channel: str, to: str, code: str, expires_minutes: int, language: str = "en"
    ) -> None:
        log.warning("portal sign-in code not delivered: no %s sender configured", channel)


@dataclass(frozen=True)
class PendingCode:
    """A code to deliver once the transaction that stored it has committed."""

    channel: str
    to: str
    code: str
    language: str = "en"
    """The patient's language (stated in the portal, else the record's): a caregiver reads
    the code in the language the portal greets them in for that patient."""


def normalize_contact(system: str, value: str) -> tuple[str, str]:
    """(kind, canonical value): emails lower-cased, phones in E.164 (national read as US)."""
    if system not in PORTAL_SYSTEMS and system not in ("phone",):
        raise InvalidInput("system must be sms or email", field="system")
    if system == "email":
        email = value.strip().lower()
        if not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,255}", email):
            raise InvalidInput("not an email address", field="value")
        return "email", email
    number = to_e164(value)
    if number is None:
        raise InvalidInput("not a phone number", field="value")
    return "phone", number


def contact_digest(key: bytes, system: str, value: str) -> str:
    kind, canonical = normalize_contact(system, value)
    return keyed_digest(key, f"{kind}:{canonical}")


def rebuild_portal_digests(session: Session, *, key: bytes) -> int:
    """Recompute the look-up digest of every enrolled portal contact under ``key`` (after
    ``security.secret_key`` changes; the values themselves are kept encrypted)."""
    contacts = session.scalars(select(PortalContact)).all()
    for contact in contacts:
        contact.digest = contact_digest(key, contact.system, contact.value)
    session.flush()
    return len(contacts)


def adopt_process_key(session: Session, *, key: bytes, configured: bool) -> int:
    """At the start of a serving process without ``security.secret_key``: every process on
    the database now signs with the key kept in it, but digests written before it kept one
    (under some process's random key) could never match; re-derive them under this key.
    Returns how many were rebuilt (0 with a configured key, whose digests stay valid)."""
    return 0 if configured else rebuild_portal_digests(session, key=key)


def matching_points(
    points: list[dict[str, object]], system: str, value: str
) -> list[dict[str, object]]:
    """The record's contact points that are this contact point (a phone in any spelling)."""
    wanted = normalize_contact(system, value)
    found = []
    for cp in points:
        cp_system, cp_value = str(cp.get("system") or ""), str(cp.get("value") or "")
        the_system = "email" if cp_system == "email" else "sms"
        if cp_system not in ("email", "phone", "sms"):
            continue
        try:
            if normalize_contact(the_system, cp_value) == wanted:
                found.append(cp)
        except InvalidInput:
            continue
    return found


def _why_not_texted(matching: list[dict[str, object]]) -> str | None:
    """Why no code may be texted to the number these points spell (None: it may be): one of
    them must be textable by the records domain's rule, the same outreach texts by."""
    if any(textable(cp) for cp in matching):
        return None
    return why_not_textable(matching[0]) if matching else "not on the record"


def _points_of(
    session: Session, *, patient_id: str, caregiver_id: str | None
) -> list[dict[str, object]]:
    """The patient's own contact points, or the named caregiver's."""
    if caregiver_id is None:
        snapshot = records.contact_snapshot(session, patient_ids=[patient_id]).get(patient_id)
        if snapshot is None:
            raise NotFound("no such patient")
        return snapshot[1]
    found = [
        c
        for c in records_caregivers.caregivers_of(session, patient_id=patient_id)
        if c.id == caregiver_id
    ]
    if not found:
        raise NotFound("no such caregiver for this patient")
    return list(found[0].contact_points or [])


def enroll_portal_contact(
    session: Session,
    *,
    key: bytes,
    patient_id: str,
    system: str,
    value: str,
    actor: str,
    clock: Clock,
    caregiver_id: str | None = None,
) -> PortalContact:
    """Let a contact point on the record receive sign-in codes (staff attest it is theirs).

    A patient's own contact opens a patient account; a caregiver's contact opens (or reuses)
    a caregiver account, which reaches the patient only through a proxy grant. A number is
    enrolled for texts only if the record's rule lets a text reach it
    (``records.contacts_phone.textable``): a home line is refused, naming why.
    """
    if system not in PORTAL_SYSTEMS:
        raise InvalidInput("system must be sms or email", field="system")
    now = clock.now()
    matching = matching_points(
        _points_of(session, patient_id=patient_id, caregiver_id=caregiver_id), system, value
    )
    if not matching:
        raise InvalidInput("this contact point is not on the record", field="value")
    if system == "sms" and (why := _why_not_texted(matching)) is not None:
        raise InvalidInput(f"this number is {why}; texts need a mobile number", field="value")
    digest = contact_digest(key, system, value)
    existing = session.scalars(select(PortalContact).where(PortalContact.digest == digest)).all()
    role = Role.CAREGIVER if caregiver_id else Role.PATIENT
    user: User | None = session.get(User, existing[0].user_id) if existing else None
    if user is not None and (
        user.role != role or (role is Role.PATIENT and user.patient_id != patient_id)
    ):
        raise Conflict("this contact point already signs in to another portal account")
    for row in existing:
        if row.patient_id == patient_id and row.caregiver_id == caregiver_id:
            return row
    if user is None:
        user = create_user(
            session,
            clock=clock,
            username=f"portal-{secrets.token_hex(8)}",
            password=None,
            role=role,
            patient_id=patient_id if role is Role.PATIENT else None,
        )
    row = PortalContact(
        digest=digest,
        system=system,
        value=normalize_contact(system, value)[1],
        user_id=user.id,
        patient_id=patient_id,
        caregiver_id=caregiver_id,
        verified_at=now,
        verified_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def _code_hash(key: bytes, challenge_id: str, code: str) -> str:
    return keyed_digest(key, f"portal-code:{challenge_id}:{code}")


def _why_code_withheld(session: Session, contact: PortalContact) -> str | None:
    """Why no code may go to an enrolled contact point today: the record no longer lists it
    (a number or a mailbox), or lists a number as a line a text cannot reach (enrolled
    before the rule, or the record changed since). The record is read afresh at each
    request, so correcting it to a mobile number brings the codes back without a new
    enrolment. No code goes to any contact of a patient the record says has died (whoever
    holds that phone or mailbox now), as no outreach does."""
    snapshot = records.contact_snapshot(session, patient_ids=[contact.patient_id])
    if snapshot.get(contact.patient_id, (False, []))[0]:
        return "of a patient the record says has died"
    try:
        points = _points_of(
            session, patient_id=contact.patient_id, caregiver_id=contact.caregiver_id
        )
    except NotFound:
        return "not on the record"
    matching = matching_points(points, contact.system, contact.value)
    if contact.system == "email":
        # A mailbox the record dropped (or a caregiver the EHR ended, who keeps none) is no
        # longer theirs to sign in with, as a dropped number is not.
        return None if matching else "not on the record"
    return _why_not_texted(matching)


def request_code(
    session: Session,
    *,
    key: bytes,
    system: str,
    value: str,
    now: datetime,
    chosen_language: str | None = None,
) -> tuple[str, PendingCode | None]:
    """A challenge id (always) and, for an enrolled contact point, the code to deliver.

    ``chosen_language``: the language the person picked in the portal itself (its language
    menu on the sign-in page); the code then comes in the words of the page that asked for it,
    before the patient's stated or recorded language."""
    challenge_id = secrets.token_urlsafe(24)
    digest = contact_digest(key, system, value)
    contact = session.scalars(
        select(PortalContact).where(PortalContact.digest == digest).limit(1)
    ).first()
    user = session.get(User, contact.user_id) if contact is not None else None
    if contact is None or user is None or not user.active:
        return challenge_id, None
    if (why := _why_code_withheld(session, contact)) is not None:
        # Same answer as for an unknown number (the answer never says what is enrolled); the
        # log says why for staff, with the enrolment's id, never the number.
        log.warning("portal sign-in code not texted to enrolment %s: it is %s", contact.id, why)
        return challenge_id, None
    session.execute(
        update(PortalCode)
        .where(PortalCode.user_id == user.id, PortalCode.used_at.is_(None))
        .values(used_at=now)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(
        PortalCode(
            id=challenge_id,
            user_id=user.id,
            code_hash=_code_hash(key, challenge_id, code),
            created_at=now,
            expires_at=now + CODE_TTL,
            attempts=0,
        )
    )
    session.flush()
    language = chosen_language or _code_language(session, contact.patient_id)
    return challenge_id, PendingCode(channel=system, to=contact.value, code=code, language=language)


def _code_language(session: Session, patient_id: str) -> str:
    """What the portal would speak to this patient: the stated language, else the record's."""
    stated = get_profile(session, patient_id=patient_id).stated.language
    patient = session.get(Patient, patient_id)
    return stated or (patient.language if patient is not None else None) or "en"


def verify_code(
    session: Session,
    *,
    key: bytes,
    challenge_id: str,
    code: str,
    clock: Clock,
    token_ttl: timedelta,
) -> tuple[User, IssuedToken]:
    """Trade a correct code for a portal token. Wrong tries count (commit them!)."""
    now = clock.now()
    row = session.get(PortalCode, challenge_id[:64])
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= now
        or row.attempts >= MAX_CODE_ATTEMPTS
    ):
        raise NotAuthenticated("invalid or expired code")
    if not hmac.compare_digest(row.code_hash, _code_hash(key, challenge_id, code.strip())):
        row.attempts += 1
        session.flush()
        raise NotAuthenticated("invalid or expired code")
    row.used_at = now
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("invalid or expired code")
    issued = issue_token(
        session, clock=clock, user=user, name="portal", ttl=token_ttl, kind="portal"
    )
    return user, issued
