"""The portal's preferences page: stated preferences, consent per purpose, proxy grants.

Stated preferences go to personalize; consent and proxy grants to governance. The page also
shows the engine's next decision and why, so the patient sees what their choices change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from careloop.audit import AuditAction
from careloop.errors import InvalidInput
from careloop.governance.consent import ConsentPurpose, consent_matrix, record_consent
from careloop.governance.proxy import active_grants, grant_proxy, revoke_proxy
from careloop.outreach.next_decision import preview_next_decision
from careloop.personalize import service as personalize
from careloop.personalize.actions import CHANNELS, READING_LEVELS, SEND_WINDOWS
from careloop.records.service import get_patient_record
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.web.console.pages import after_post
from careloop.web.deps import PatientReach
from careloop.web.portal.i18n import (
    DEFAULT_LANGUAGE,
    has_text,
    pick_language,
    supported_languages,
    translator,
)
from careloop.web.portal.next_words import next_decision_words
from careloop.web.portal.page import PortalPage, form_text, portal_page, posted_for

router = APIRouter(include_in_schema=False)

PROXY_SCOPES_OFFERED = ["record", "messages", "checkins", "readings", "preferences"]


PreferencesPage = Annotated[
    PortalPage, Depends(portal_page("preferences:read", audit_as="preference-profile"))
]


@router.get("/portal/preferences", response_class=HTMLResponse)
def preferences_page(page: PreferencesPage, saved: int = 0) -> HTMLResponse:
    session, patient_id, now = page.session, page.patient_id, page.clock.now()
    consent = consent_matrix(session, patient_id=patient_id, now=now)
    stated = personalize.get_profile(session, patient_id=patient_id).stated
    record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
    upcoming = preview_next_decision(session, patient_id=patient_id, now=now)
    return page.show(
        "portal/preferences.html",
        "preferences",
        stated=stated,
        # "zh" or "pt-BR" as stated or recorded selects the menu's "zh-Hans" or "pt": with no
        # stated choice the menu shows the record's language, the one the portal speaks.
        stated_language=_menu_language(stated.language or record.language),
        channels=CHANNELS,
        windows=SEND_WINDOWS,
        levels=READING_LEVELS,
        purposes=[str(p) for p in ConsentPurpose],
        consent={p: any(d.allowed for d in row.values()) for p, row in consent.items()},
        caregivers=record.caregivers,
        grants={g.caregiver_id: g for g in active_grants(session, patient_id=patient_id)},
        may_manage_proxy=page.principal.role == Role.PATIENT,
        next_decision=upcoming,
        next_words=next_decision_words(
            upcoming.decision,
            t=translator(page.language),
            has_text=lambda key: has_text(page.language, key),
            stated_channel=stated.channel,
        )
        if upcoming
        else [],
        saved=bool(saved),
    )


def _menu_language(tag: str | None) -> str | None:
    """The menu's entry for a stored tag; None (the "—" entry) for one the portal lacks."""
    if not tag:
        return None
    picked = pick_language(tag)
    return picked if picked != DEFAULT_LANGUAGE or tag.split("-")[0].lower() == "en" else None


def _choice(value: str, allowed: tuple[str, ...] | list[str], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput(f"unknown {field.replace('_', ' ')}", field=field)
    return value


def _stated_changes(text: Callable[[str], str], checked: Callable[[str], bool]) -> dict[str, Any]:
    quiet_from, quiet_to = text("quiet_from"), text("quiet_to")
    return {
        "channel": _choice(text("channel"), CHANNELS, "channel"),
        "send_window": _choice(text("send_window"), SEND_WINDOWS, "send_window"),
        "reading_level": _choice(text("reading_level"), READING_LEVELS, "reading_level"),
        "language": _choice(text("language"), list(supported_languages()), "language"),
        "quiet_hours": f"{quiet_from}-{quiet_to}" if quiet_from and quiet_to else None,
        "caregiver_as_contact": checked("caregiver_as_contact"),
    }


def _save_consent(
    session: Session,
    principal: Principal,
    patient_id: str,
    checked: Callable[[str], bool],
    now: datetime,
) -> list[str]:
    """Record a consent change for each purpose whose box differs; the purposes changed."""
    current = consent_matrix(session, patient_id=patient_id, now=now)
    changed = []
    for purpose in ConsentPurpose:
        wanted = checked(f"consent.{purpose}")
        if wanted != any(d.allowed for d in current[str(purpose)].values()):
            record_consent(
                session,
                patient_id=patient_id,
                purpose=str(purpose),
                channel="*",
                status="granted" if wanted else "denied",
                source="portal",
                actor=principal.actor,
                now=now,
            )
            changed.append(str(purpose))
    return changed


def _save_proxy_grants(
    session: Session,
    principal: Principal,
    patient_id: str,
    checked: Callable[[str], bool],
    now: datetime,
) -> None:
    """Grant or revoke each caregiver's proxy access as its box says."""
    grants = {g.caregiver_id: g for g in active_grants(session, patient_id=patient_id)}
    record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
    for caregiver in record.caregivers:
        wanted = checked(f"proxy.{caregiver.id}")
        if wanted and caregiver.id not in grants:
            grant_proxy(
                session,
                patient_id=patient_id,
                caregiver_id=caregiver.id,
                scopes=PROXY_SCOPES_OFFERED,
                actor=principal.actor,
                now=now,
            )
        elif not wanted and caregiver.id in grants:
            revoke_proxy(
                session,
                patient_id=patient_id,
                grant_id=grants[caregiver.id].id,
                actor=principal.actor,
                now=now,
            )


@router.post("/portal/preferences")
async def save_preferences(
    request: Request, reach: Annotated[PatientReach, posted_for("preferences:write")]
) -> Response:
    """Stated preferences (personalize), consent per purpose and proxy grants (governance)."""
    session, clock, principal = reach.session, reach.clock, reach.principal
    patient_id, now = reach.patient_id, clock.now()
    text = await form_text(request)

    def checked(name: str) -> bool:
        return text(name) == "on"

    changes = _stated_changes(text, checked)
    personalize.set_stated_preferences(
        session, clock=clock, patient_id=patient_id, changes=changes, actor=principal.actor
    )
    detail: dict[str, Any] = {"changed": sorted(changes)}
    may_consent = principal.can("consent:write") and principal.may_act_for(patient_id)
    if may_consent and (consent := _save_consent(session, principal, patient_id, checked, now)):
        detail["consent"] = consent
    if principal.role == Role.PATIENT:
        _save_proxy_grants(session, principal, patient_id, checked, now)
    reach.audit(AuditAction.UPDATE, "preference-profile", detail=detail)
    return after_post(request, f"/portal/preferences?patient={patient_id}&saved=1")
