"""What a caller may see and do, asked in one place by the API and the console alike.

The console once showed coordinators the clinical timeline and reading charts the API hid
from them, and the API let a coordinator reassign an urgent clinical alert while refusing
to let them acknowledge it. Both faces now ask these functions, so a page cannot show or
offer more than the API allows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from careloop.errors import NotAuthenticated, PermissionDenied
from careloop.security.principal import Principal


class PatientPanel(StrEnum):
    """The parts of one patient's record a face can show."""

    RECORD = "record"  # identity, demographics, contacts, caregivers
    CLINICAL_TIMELINE = "clinical-timeline"  # readings, check-ins, messages in and out, alerts
    READINGS = "readings"  # trend charts of home readings
    CARE_GAPS = "care-gaps"
    PROGRAMS = "programs"
    CONSENT = "consent"
    PREFERENCES = "preferences"
    DECISIONS = "decisions"
    WORKLIST = "worklist"


PANEL_PERMISSION: dict[PatientPanel, str] = {
    PatientPanel.RECORD: "patients:read",
    PatientPanel.CLINICAL_TIMELINE: "patients:read_clinical",
    PatientPanel.READINGS: "patients:read_clinical",
    PatientPanel.CARE_GAPS: "programs:read",
    PatientPanel.PROGRAMS: "programs:read",
    PatientPanel.CONSENT: "consent:read",
    PatientPanel.PREFERENCES: "preferences:read",
    PatientPanel.DECISIONS: "decisions:read",
    PatientPanel.WORKLIST: "worklist:read",
}


def may_see(principal: Principal, panel: PatientPanel) -> bool:
    """True when ``principal`` may see ``panel`` of a patient they may reach."""
    return principal.can(PANEL_PERMISSION[panel])


class ItemAction(StrEnum):
    """What can be done to a worklist item."""

    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    ASSIGN = "assign"


def may_act_on_item(principal: Principal, *, item_kind: str, action: ItemAction) -> bool:
    """Tasks: any worklist writer. Clinical alerts: only who may act on alerts, every action
    alike (handing an alert to someone else is as clinical a decision as closing it)."""
    if not principal.can("worklist:write"):
        return False
    return item_kind != "alert" or principal.can("alerts:write")


def check_item_action(principal: Principal, *, item_kind: str, action: ItemAction) -> None:
    """Raise :class:`PermissionDenied` (403) unless :func:`may_act_on_item` allows it."""
    if not may_act_on_item(principal, item_kind=item_kind, action=action):
        what = "clinical alerts" if item_kind == "alert" else "worklist items"
        raise PermissionDenied(f"role {principal.role} may not {action} {what}")


# Administrative permissions that need a recent sign-in, not just a live session or token.
REAUTH_PERMISSIONS = frozenset({"users:write", "settings:write", "audit:read"})
REAUTH_WINDOW = timedelta(minutes=15)


def check_recent_sign_in(principal: Principal, permission: str, *, now: datetime) -> None:
    """Refuse an administrative action unless the caller signed in within ``REAUTH_WINDOW``.

    A session left open on a shared screen, or a stolen long-lived token, then cannot read
    the audit trail or change accounts: the answer is 401 and a fresh sign-in opens it.
    """
    if permission not in REAUTH_PERMISSIONS or principal.signed_in_at is None:
        return
    if now - principal.signed_in_at > REAUTH_WINDOW:
        raise NotAuthenticated(f"sign in again to use {permission}")
