"""Demo staff accounts, one per role, so ``careloop demo`` can say how to open the console.

Only for the demo database: the passwords are printed and documented (docs/console.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.errors import Conflict
from careloop.models import User
from careloop.records.contacts_phone import PHONE_SYSTEMS, textable
from careloop.records.schemas import ContactPoint
from careloop.security.auth import create_user
from careloop.security.roles import Role

# The teams every demo user is on. The clinician and the nurse are on the oncology nurses'
# team too: the demo raises an oncology check-in alert, and a clinician filtering the
# worklist by their teams would not have seen it.
DEMO_TEAMS = ["rpm-nursing", "care-coordination"]
CLINICIAN_TEAMS = ["oncology-nursing", *DEMO_TEAMS]

DEMO_USERS: tuple[tuple[Role, str, str, str], ...] = (
    (Role.CLINICIAN, "demo-clinician", "demo-clinician-tulip-42", "Dr. Demo Clinician"),
    (Role.NURSE, "demo-nurse", "demo-nurse-tulip-42", "Demo Oncology Nurse, RN"),
    (Role.COORDINATOR, "demo-coordinator", "demo-coordinator-tulip-42", "Demo Care Coordinator"),
    (Role.ANALYST, "demo-analyst", "demo-analyst-tulip-42", "Demo Population Analyst"),
    (Role.ADMIN, "demo-admin", "demo-admin-tulip-42", "Demo Administrator"),
)


def seed_demo_users(session: Session, clock: Clock) -> list[tuple[str, str, str]]:
    """Create (or keep) one console user per staff role; returns (role, username, password)."""
    created = []
    for role, username, password, display in DEMO_USERS:
        try:
            with session.begin_nested():
                create_user(
                    session,
                    clock=clock,
                    username=username,
                    password=password,
                    role=role,
                    display_name=display,
                    teams=_teams_of(role),
                )
        except Conflict:
            _join_teams(session, username, _teams_of(role))  # from an earlier run
        created.append((str(role), username, password))
    return created


def _teams_of(role: Role) -> list[str]:
    return CLINICIAN_TEAMS if role in (Role.CLINICIAN, Role.NURSE) else DEMO_TEAMS


def _join_teams(session: Session, username: str, teams: list[str]) -> None:
    """A demo user kept from an earlier run joins the teams the demo now puts them on."""
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is not None and not set(teams) <= set(user.teams or []):
        user.teams = [*(user.teams or []), *(t for t in teams if t not in (user.teams or []))]


class PortalContact(NamedTuple):
    patient_id: str
    phone: str
    kind: str
    """What the number is, in words: ``mobile``, ``home phone``, ``home landline``..."""


# What a line-type look-up's answer makes a number, whatever the record's ``use`` says.
_LINES = {"mobile": "mobile", "landline": "landline"}
_USES = {"mobile": "mobile", "home": "home phone", "work": "work phone"}


def phone_in_words(point: ContactPoint) -> str:
    """What a phone contact point is, from the line-type look-up if it ran, else its ``use``:
    a reader told "mobile" expects a text to reach it."""
    line = _LINES.get(point.line_type or "")
    if line == "landline" and point.use in ("home", "work"):
        return f"{point.use} landline"
    return line or _USES.get(point.use or "", "phone")


DEMO_MOBILE = "(617) 555-0142"
"""The mobile number the demo's EHR update gives a sample patient (555-01xx: reserved for
fiction, so no real phone is ever texted)."""


def _living_with_phones(session: Session) -> Iterator[tuple[str, list[ContactPoint]]]:
    from careloop.records.service import get_patient_record, list_patients

    for patient in list_patients(session, limit=200):
        if patient.deceased:
            continue
        record = get_patient_record(session, patient_id=patient.id, timeline_limit=0)
        phones = [cp for cp in record.contact_points if cp.system in PHONE_SYSTEMS and cp.value]
        if phones:
            yield patient.id, phones


def demo_mobile_update(session: Session) -> dict[str, Any] | None:
    """The Patient resource an EHR would send to add a mobile number to the first living
    sample patient with a phone, or None when some living patient already has a number a
    text can reach. The Synthea sample writes every phone as ``home``, and a sign-in code is
    never texted to a home line (it may be a landline)."""
    from careloop.records.resources import get_resource
    from careloop.records.service import get_patient_record

    first: str | None = None
    for patient_id, phones in _living_with_phones(session):
        if any(textable(cp.model_dump()) for cp in phones):
            return None
        first = first or patient_id
    if first is None:
        return None
    source = get_patient_record(session, patient_id=first, timeline_limit=0).sources[0]
    resource = get_resource(session, resource_type="Patient", fhir_id=source)
    if resource is None:
        return None
    mobile = {"system": "phone", "value": DEMO_MOBILE, "use": "mobile", "rank": 1}
    return {**resource, "telecom": [*(resource.get("telecom") or []), mobile]}


def seed_demo_portal_contact(session: Session, clock: Clock, *, key: bytes) -> PortalContact | None:
    """Enrol the first living sample patient's mobile number for portal sign-in, so a new
    user can open the portal without the API; returns the patient id, the number and what it
    is, or None (no living patient has a number a text can reach: the demo first gives one a
    mobile, :func:`demo_mobile_update`). Callers print the id and the kind only: the number
    is PHI (the console's patient page shows it, audited)."""
    from careloop.governance.portal import enroll_portal_contact

    for patient_id, phones in _living_with_phones(session):
        mobiles = [cp for cp in phones if textable(cp.model_dump())]
        if not mobiles:
            continue
        point = min(mobiles, key=lambda cp: (0 if cp.use == "mobile" else 1, cp.rank or 99))
        phone = str(point.value)
        try:
            with session.begin_nested():
                enroll_portal_contact(
                    session,
                    key=key,
                    patient_id=patient_id,
                    system="sms",
                    value=phone,
                    actor="system:demo",
                    clock=clock,
                )
        except Conflict:
            continue
        return PortalContact(patient_id, phone, phone_in_words(point))
    return None
