"""Roles and the permissions they grant. Deny by default: a permission not listed is refused.

Patient and caregiver permissions are further narrowed to their own / proxied records by
:class:`careloop.security.principal.Principal` (``may_act_for``) using the proxy grants of
:mod:`careloop.governance.proxy`.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"
    NURSE = "nurse"
    COORDINATOR = "coordinator"
    ANALYST = "analyst"
    PATIENT = "patient"
    CAREGIVER = "caregiver"


STAFF_ROLES = frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE, Role.COORDINATOR, Role.ANALYST})

# What clinicians, nurses and coordinators share; nurses add clinical reading, alerts and
# proposing plan changes; clinicians (MD, NP, PA) approve plans and content too;
# coordinators edit the message library.
_CARE_TEAM = {
    "patients:read",
    "patients:write",
    "preferences:read",
    "preferences:write",
    "decisions:read",
    "content:read",
    "programs:read",
    "programs:run",
    "worklist:read",
    "worklist:write",
    "messages:send",
    "reports:read",
    "consent:read",
    "consent:write",
    "appointments:read",
    "appointments:write",
    "rewards:fulfil",
}
_NURSING = _CARE_TEAM | {
    "patients:read_clinical",
    "alerts:read",
    "alerts:write",
    "plans:propose",
}
_CLINICAL = _NURSING | {
    "content:approve",
    "plans:approve",
}
_COORDINATION = _CARE_TEAM | {
    "content:edit",
}

# What a patient does for themselves and a caregiver may ever do on their behalf (per patient
# a caregiver is narrowed to the proxy grant's scopes; clinical reading is the patient's own).
_SELF_SERVICE = frozenset(
    {
        "patients:read",
        "preferences:read",
        "preferences:write",
        "consent:read",
        "consent:write",
        "messages:read",
        "messages:send",
        "checkins:write",
        "readings:write",
        "visits:write",
    }
)

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            "users:read",
            "users:write",
            "settings:write",
            "audit:read",
            "jobs:read",
            "content:read",
            "content:edit",
            "programs:read",
            "reports:read",
        }
    ),
    Role.CLINICIAN: frozenset(_CLINICAL | {"content:edit"}),
    Role.NURSE: frozenset(_NURSING),
    Role.COORDINATOR: frozenset(_COORDINATION),
    Role.ANALYST: frozenset({"reports:read", "programs:read", "content:read", "segments:read"}),
    Role.PATIENT: _SELF_SERVICE | {"patients:read_clinical"},
    Role.CAREGIVER: _SELF_SERVICE,
}

# The scopes a patient can grant a caregiver, and the permissions each one opens.
PROXY_SCOPES: dict[str, frozenset[str]] = {
    "record": frozenset({"patients:read"}),
    "messages": frozenset({"messages:read", "messages:send"}),
    "checkins": frozenset({"checkins:write"}),
    "readings": frozenset({"readings:write"}),
    "preferences": frozenset({"preferences:read", "preferences:write"}),
    "consent": frozenset({"consent:read", "consent:write"}),
}


def role_allows(role: Role | str, permission: str) -> bool:
    """True when ``role`` grants ``permission``; unknown roles grant nothing."""
    try:
        return permission in PERMISSIONS[Role(role)]
    except ValueError:
        return False
