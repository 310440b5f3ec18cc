"""Demo staff accounts, one per role, so ``careloop demo`` can say how to open the console.

Only for the demo database: the passwords are printed and documented (docs/console.md).
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.errors import Conflict
from careloop.models import User
from careloop.records.schemas import ContactPoint
from careloop.security.auth import create_user
from careloop.security.roles import Role

# The teams every demo user is on. The clinician is on the oncology nurses' team too: the
# demo raises an oncology check-in alert, and a clinician filtering the worklist by their
# teams would not have seen it.
DEMO_TEAMS = ["rpm-nursing", "care-coordination"]
CLINICIAN_TEAMS = ["oncology-nursing", *DEMO_TEAMS]

DEMO_USERS: tuple[tuple[Role, str, str, str], ...] = (
    (Role.CLINICIAN, "demo-clinician", "demo-clinician-tulip-42", "Dr. Demo Clinician"),
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
    return CLINICIAN_TEAMS if role == Role.CLINICIAN else DEMO_TEAMS


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


def seed_demo_portal_contact(session: Session, clock: Clock, *, key: bytes) -> PortalContact | None:
    """Enrol the first living sample patient's phone (a mobile if they have one) for portal
    sign-in, so a new user can open the portal without the API; returns the patient id, the
    number and what it is, or None. Callers print the id and the kind only: the number is
    PHI (the console's patient page shows it, audited)."""
    from careloop.governance.portal import enroll_portal_contact
    from careloop.records.service import get_patient_record, list_patients

    for patient in list_patients(session, limit=200):
        if patient.deceased:
            continue
        record = get_patient_record(session, patient_id=patient.id, timeline_limit=0)
        phones = [cp for cp in record.contact_points if cp.system == "phone" and cp.value]
        if not phones:
            continue
        point = next((cp for cp in phones if phone_in_words(cp) == "mobile"), phones[0])
        phone = str(point.value)
        try:
            with session.begin_nested():
                enroll_portal_contact(
                    session,
                    key=key,
                    patient_id=patient.id,
                    system="sms",
                    value=phone,
                    actor="system:demo",
                    clock=clock,
                )
        except Conflict:
            continue
        return PortalContact(patient.id, phone, phone_in_words(point))
    return None
