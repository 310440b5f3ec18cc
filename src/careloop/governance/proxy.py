"""Proxy access: a patient lets a caregiver act for them, within the scopes they choose.

A grant names the caregiver as the RelatedPerson on the patient's record; the caregiver's
portal account is linked to that RelatedPerson when their contact point is enrolled. At each
request the caregiver's principal is rebuilt from the live grants, so a revocation takes
effect on the very next call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.db import patient_rows
from careloop.errors import InvalidInput, NotFound
from careloop.governance.portal import matching_points
from careloop.models import Caregiver, PortalContact, ProxyGrant
from careloop.records import caregivers as records_caregivers
from careloop.security.principal import Principal
from careloop.security.roles import PROXY_SCOPES


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in PROXY_SCOPES]
    if unknown or not wanted:
        raise InvalidInput(f"scopes must be some of {sorted(PROXY_SCOPES)}", field="scopes")
    return wanted


def grant_proxy(
    session: Session,
    *,
    patient_id: str,
    caregiver_id: str,
    scopes: Iterable[str],
    actor: str,
    now: datetime,
) -> ProxyGrant:
    """Grant (or replace) a caregiver's proxy access; the caregiver must be on the record."""
    checked = _check_scopes(scopes)
    owned = {c.id for c in records_caregivers.caregivers_of(session, patient_id=patient_id)}
    if caregiver_id not in owned:
        raise NotFound("no such caregiver for this patient")
    for grant in active_grants(session, patient_id=patient_id):
        if grant.caregiver_id == caregiver_id:
            grant.revoked_at = now
            grant.revoked_by = actor
    row = ProxyGrant(
        patient_id=patient_id,
        caregiver_id=caregiver_id,
        scopes=checked,
        granted_at=now,
        granted_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def revoke_proxy(
    session: Session, *, patient_id: str, grant_id: int, actor: str, now: datetime
) -> ProxyGrant:
    grant = session.get(ProxyGrant, grant_id)
    if grant is None or grant.patient_id != patient_id:
        raise NotFound("no such proxy grant")
    if grant.revoked_at is None:
        grant.revoked_at = now
        grant.revoked_by = actor
        session.flush()
    return grant


def active_grants(session: Session, *, patient_id: str) -> list[ProxyGrant]:
    return patient_rows(
        session, ProxyGrant, patient_id, ProxyGrant.id, where=[ProxyGrant.revoked_at.is_(None)]
    )


def _still_listed(session: Session, contact: PortalContact) -> bool:
    """The record still lists the contact point this caregiver account was enrolled with.

    An EHR ends a relationship (``RelatedPerson.active: false``: a divorce, a carer who left)
    by leaving the caregiver no contact point, and the importer never deletes one; without
    this, the grant the patient once gave kept opening their record to that person."""
    caregiver = session.get(Caregiver, contact.caregiver_id)
    if caregiver is None or caregiver.patient_id != contact.patient_id:
        return False
    return bool(
        matching_points(list(caregiver.contact_points or []), contact.system, contact.value)
    )


def grants_for_user(session: Session, *, user_id: int) -> list[ProxyGrant]:
    """Live grants to the RelatedPersons a caregiver's portal account is linked to, while the
    record still lists that account's contact point for them."""
    contacts = session.scalars(
        select(PortalContact).where(
            PortalContact.user_id == user_id, PortalContact.caregiver_id.is_not(None)
        )
    ).all()
    caregiver_ids = {c.caregiver_id for c in contacts if _still_listed(session, c)}
    if not caregiver_ids:
        return []
    return list(
        session.scalars(
            select(ProxyGrant)
            .where(ProxyGrant.caregiver_id.in_(caregiver_ids), ProxyGrant.revoked_at.is_(None))
            .order_by(ProxyGrant.id)
        )
    )


def proxy_caregiver_id(session: Session, *, user_id: int, patient_id: str) -> str | None:
    """The caregiver (the RelatedPerson on the patient's record) a caregiver's portal account
    acts as for this patient, through a live grant; None when it has none for them."""
    return next(
        (
            grant.caregiver_id
            for grant in grants_for_user(session, user_id=user_id)
            if grant.patient_id == patient_id
        ),
        None,
    )


def with_proxy_grants(session: Session, principal: Principal) -> Principal:
    """A caregiver's principal, reaching exactly the patients and scopes granted now."""
    if principal.user_id is None:
        return principal
    permissions: dict[str, frozenset[str]] = {}
    for grant in grants_for_user(session, user_id=principal.user_id):
        opened = frozenset().union(*(PROXY_SCOPES[s] for s in grant.scopes if s in PROXY_SCOPES))
        permissions[grant.patient_id] = permissions.get(grant.patient_id, frozenset()) | opened
    return replace(principal, patient_ids=frozenset(permissions), proxy_permissions=permissions)
