"""The page skeleton every portal page shares: who, for whom, in which language, audited.

A portal page is opened by a signed-in patient or caregiver for one patient the caller may
act for (``check_patient_access`` with the permission the page exercises); it is shown in
the patient's language, carries the patient switcher for caregivers, and a page that shows
patient data writes one audit read. :func:`open_page` does all of that once; the use-case
modules (sign-in, home, check-in, readings, preferences) take it as a dependency
(:func:`portal_page`) and only fill in their part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from careloop.audit import AuditAction
from careloop.clock import Clock
from careloop.personalize import service as personalize
from careloop.records.service import get_patient_record
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.web.console.pages import page_principal, render, sign_in_redirect
from careloop.web.deps import (
    ClockDep,
    PatientReach,
    SessionDep,
    audit_patient_access,
    check_patient_access,
    require,
)
from careloop.web.portal.i18n import (
    human_time,
    human_time_on,
    language_names,
    pick_language,
    supported_languages,
    translator,
)

LANG_COOKIE = "careloop_lang"
SIGN_IN = "/portal/sign-in"


def patient_for(principal: Principal, wanted: str | None, permission: str) -> str:
    """The patient this page is about: the one asked for (if allowed), else the first."""
    acting = replace(principal, permission=permission)
    patient_id = wanted or (sorted(principal.patient_ids)[0] if principal.patient_ids else "")
    check_patient_access(acting, patient_id)
    return patient_id


def reach_for(
    session: Session, clock: Clock, principal: Principal, wanted: str | None, permission: str
) -> PatientReach:
    """:func:`patient_for` as a :class:`PatientReach`, which audits what the page then does."""
    return PatientReach(session, clock, principal, patient_for(principal, wanted, permission))


def posted_for(permission: str, *, max_length: int = 64) -> Any:
    """The patient a portal form is posted for (its ``patient`` field, else the caller's
    own, :func:`patient_for`), reached by a caller who may ``permission``, as one
    dependency: ``reach: Annotated[PatientReach, posted_for("visits:write")]``."""

    allowed = require(permission)

    # Defaults, not ``Annotated`` hints: FastAPI evaluates hints in the module's globals.
    def dependency(
        session: SessionDep,
        clock: ClockDep,
        principal: Principal = Depends(allowed),  # noqa: B008 - FastAPI's dependency marker
        patient: str = Form("", max_length=max_length),
    ) -> PatientReach:
        return reach_for(session, clock, principal, patient or None, permission)

    dependency.__name__ = f"posted_for_{permission.replace(':', '_')}"
    return Depends(dependency)


async def form_text(request: Request) -> Callable[[str], str]:
    """The posted form's fields by name, trimmed ("" for a field not sent)."""
    form = await request.form()
    return lambda name: str(form.get(name) or "").strip()


def patient_languages(session: Session, patient_id: str) -> tuple[str | None, str | None]:
    """The language the patient stated (portal preferences), and their record's."""
    stated = personalize.get_profile(session, patient_id=patient_id).stated.language
    record_language = get_patient_record(session, patient_id=patient_id, timeline_limit=0).language
    return stated, record_language


def page_language(request: Request, session: Session, patient_id: str | None) -> str:
    """The query's ``lang``, else the patient's stated and recorded language, else the browser's."""
    stated = record_language = None
    if patient_id:
        stated, record_language = patient_languages(session, patient_id)
    return pick_language(
        request.query_params.get("lang"),
        stated,
        record_language,
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def render_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    language: str,
    principal: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A portal template with the words of ``language`` (``t``) and the language menu."""
    return render(
        request,
        template,
        {
            "t": translator(language),
            "lang": language,
            "languages": supported_languages(),
            "language_names": language_names(),
            # ``when(moment)``: a time as the patient reads it (their zone, their words).
            "when": lambda moment, zone=None: human_time(
                moment, zone or context.get("viewer_zone"), language
            ),
            # ``when_on(moment)``: the same after a verb ("we will call you na segunda-feira").
            "when_on": lambda moment, zone=None: human_time_on(
                moment, zone or context.get("viewer_zone"), language
            ),
            **context,
        },
        principal=principal,
        status_code=status_code,
    )


@dataclass(frozen=True)
class PortalPage:
    """An opened page: the caller, the patient, the language and the shared context."""

    request: Request
    session: Session
    clock: Clock
    principal: Principal
    patient_id: str
    language: str
    context: dict[str, Any]

    def show(self, template: str, section: str, **values: Any) -> HTMLResponse:
        """Render ``template`` for this page; ``section`` lights up the navigation."""
        return render_page(
            self.request,
            template,
            {**self.context, "section": section, **values},
            language=self.language,
            principal=self.principal,
        )


def open_page(
    request: Request,
    session: Session,
    clock: Clock,
    patient: str | None,
    *,
    permission: str,
    audit_as: str | None = None,
) -> PortalPage:
    """Open a portal page; without a signed-in patient or caregiver, redirect to sign-in.

    ``audit_as`` names the resource of the audit read for pages that show patient data.
    """
    principal = page_principal(request, session, clock)
    if principal is None or principal.role not in (Role.PATIENT, Role.CAREGIVER):
        target = sign_in_redirect(request, to=SIGN_IN).headers["location"]
        raise HTTPException(status_code=303, headers={"Location": target})
    patient_id = patient_for(principal, patient, permission)
    if audit_as:
        audit_patient_access(session, clock, principal, patient_id, AuditAction.READ, audit_as)
    names = {
        pid: get_patient_record(session, patient_id=pid, timeline_limit=0).given_name or ""
        for pid in sorted(principal.patient_ids)
    }
    context = {
        # Every time on a portal page is in the patient's own zone, named (web.timefmt).
        "viewer_zone": get_patient_record(
            session, patient_id=patient_id, timeline_limit=0
        ).timezone,
        "patient_id": patient_id,
        "patient_name": names.get(patient_id, ""),
        "patients": names,
        "is_caregiver": principal.role == Role.CAREGIVER,
    }
    return PortalPage(
        request=request,
        session=session,
        clock=clock,
        principal=principal,
        patient_id=patient_id,
        language=page_language(request, session, patient_id),
        context=context,
    )


def portal_page(permission: str, *, audit_as: str | None = None) -> Callable[..., PortalPage]:
    """The dependency that opens a page for ``?patient=`` with ``permission`` (see open_page)."""

    def opened(
        request: Request, session: SessionDep, clock: ClockDep, patient: str | None = None
    ) -> PortalPage:
        return open_page(request, session, clock, patient, permission=permission, audit_as=audit_as)

    return opened
