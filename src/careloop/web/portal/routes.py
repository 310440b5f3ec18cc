"""The patient portal: sign in with a one-time code, messages, check in, readings, preferences.

Patients act for themselves, caregivers for the patients whose proxy grant covers the
page (``check_patient_access`` with the permission the page exercises). Sign-in is
governance's one-time-code flow; check-ins and readings go through the care team's intake
(stored, rules run, alerts raised in one transaction); preferences through personalize,
consent and proxy grants through governance. Every page is in the patient's language.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Purpose, audit
from careloop.careteam.intake import receive_observation, receive_questionnaire_response
from careloop.clock import Clock
from careloop.conversations.inbound import receive_portal_reply
from careloop.errors import InvalidInput, NotAuthenticated
from careloop.feedback import conversation
from careloop.feedback.catalog import default_catalog
from careloop.governance.consent import ConsentPurpose, consent_matrix, record_consent
from careloop.governance.proxy import active_grants, grant_proxy, revoke_proxy
from careloop.outreach import messages as outreach_messages
from careloop.outreach.next_decision import preview_next_decision
from careloop.outreach.portal_inbox import mark_read_for_patient
from careloop.personalize import service as personalize
from careloop.personalize.actions import CHANNELS, READING_LEVELS, SEND_WINDOWS
from careloop.records.service import get_patient_record, timeline
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.security.sessions import CSRF_COOKIE, SESSION_COOKIE, csrf_token_for
from careloop.web.api import auth as governance_api
from careloop.web.api import portal as portal_api
from careloop.web.api.webhooks import InboundDep
from careloop.web.console import patient_context
from careloop.web.console.pages import after_post, page_principal, render, sign_in_redirect
from careloop.web.deps import (
    ClockDep,
    PrincipalDep,
    SessionDep,
    SigningKeyDep,
    check_patient_access,
    get_runtime,
    rate_limit,
    require,
)
from careloop.web.portal.i18n import has_text, pick_language, supported_languages, translator
from careloop.web.portal.readings import observations_from_form

router = APIRouter(include_in_schema=False)

TODAYS_CHECKIN = "careloop-medication-adherence"
LANG_COOKIE = "careloop_lang"
PROXY_SCOPES_OFFERED = ["record", "messages", "checkins", "readings", "preferences"]


# -- who, for whom, in which language ----------------------------------------------------


def _patient_for(principal: Principal, wanted: str | None, permission: str) -> str:
    """The patient this page is about: the one asked for (if allowed), else the first."""
    acting = replace(principal, permission=permission)
    patient_id = wanted or (sorted(principal.patient_ids)[0] if principal.patient_ids else "")
    check_patient_access(acting, patient_id)
    return patient_id


def _language(request: Request, session: Session, patient_id: str | None) -> str:
    stated = record_language = None
    if patient_id:
        stated = personalize.get_profile(session, patient_id=patient_id).stated.language
        record_language = get_patient_record(
            session, patient_id=patient_id, timeline_limit=0
        ).language
    return pick_language(
        request.query_params.get("lang"),
        stated,
        record_language,
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    language: str,
    principal: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        template,
        {
            "t": translator(language),
            "lang": language,
            "languages": supported_languages(),
            **context,
        },
        principal=principal,
        status_code=status_code,
    )


def _portal_principal(request: Request, session: Session, clock: Clock) -> Principal | None:
    principal = page_principal(request, session, clock)
    if principal is None or principal.role not in (Role.PATIENT, Role.CAREGIVER):
        return None
    return principal


def _names(session: Session, patient_ids: list[str]) -> dict[str, str]:
    names = {}
    for pid in patient_ids:
        record = get_patient_record(session, patient_id=pid, timeline_limit=0)
        names[pid] = record.given_name or ""
    return names


def _common(
    request: Request, session: Session, principal: Principal, patient_id: str
) -> tuple[str, dict[str, Any]]:
    language = _language(request, session, patient_id)
    names = _names(session, sorted(principal.patient_ids))
    return language, {
        "patient_id": patient_id,
        "patient_name": names.get(patient_id, ""),
        "patients": names,
        "is_caregiver": principal.role == Role.CAREGIVER,
    }


def _audit_read(
    session: Session, clock: Clock, principal: Principal, patient_id: str, resource: str
) -> None:
    audit(
        session,
        clock=clock,
        principal=principal,
        action=AuditAction.READ,
        resource=resource,
        purpose=Purpose.PATIENT_REQUEST,
        patient_ids=[patient_id],
    )


# -- sign in with a one-time code ---------------------------------------------------------


@router.get("/portal/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    language = pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )
    response = _page(request, "portal/sign_in.html", {"step": "contact"}, language=language)
    if request.query_params.get("lang"):
        response.set_cookie(LANG_COOKIE, language, samesite="strict", max_age=365 * 86400)
    return response


@router.post(
    "/portal/sign-in", response_class=HTMLResponse, dependencies=[Depends(rate_limit("signin"))]
)
def request_code(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    key: SigningKeyDep,
    system: Annotated[str, Form(pattern="^(sms|email)$")],
    value: Annotated[str, Form(min_length=3, max_length=320)],
) -> HTMLResponse:
    """Ask governance for a code; the answer is the same whether or not the contact is known."""
    language = pick_language(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
    )
    background = BackgroundTasks()
    requested = portal_api.portal_request_code(
        portal_api.CodeRequest(system=system, value=value),
        request,
        background,
        session,
        clock,
        key,
    )
    response = _page(
        request,
        "portal/sign_in.html",
        {"step": "code", "challenge_id": requested.challenge_id},
        language=language,
    )
    response.background = background  # the code leaves after the commit
    return response


@router.post(
    "/portal/verify", response_class=HTMLResponse, dependencies=[Depends(rate_limit("signin"))]
)
def verify_code(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    key: SigningKeyDep,
    challenge_id: Annotated[str, Form(min_length=1, max_length=64)],
    code: Annotated[str, Form(min_length=1, max_length=12)],
) -> Response:
    """Trade the code for the portal session cookie (HttpOnly, SameSite=Strict) and CSRF."""
    language = pick_language(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
    )
    try:
        issued = portal_api.portal_verify_code(
            portal_api.CodeVerify(challenge_id=challenge_id, code=code),
            request,
            session,
            clock,
            key,
        )
    except NotAuthenticated:
        return _page(
            request,
            "portal/sign_in.html",
            {"step": "code", "challenge_id": challenge_id, "error": True},
            language=language,
            status_code=401,
        )
    minutes = get_runtime(request).settings.security.portal_token_minutes
    secure = request.url.scheme == "https"
    response = RedirectResponse("/portal", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.access_token,
        max_age=minutes * 60,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token_for(key, issued.access_token),
        max_age=minutes * 60,
        secure=secure,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/portal/sign-out")
def sign_out(
    request: Request, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> Response:
    response = after_post(request, "/portal/sign-in")
    governance_api.delete_session(request, response, principal, session, clock)
    return response


# -- home and messages --------------------------------------------------------------------


@router.get("/portal", response_class=HTMLResponse)
def home(
    request: Request, session: SessionDep, clock: ClockDep, patient: str | None = None
) -> Response:
    principal = _portal_principal(request, session, clock)
    if principal is None:
        return sign_in_redirect(request, to="/portal/sign-in")
    patient_id = _patient_for(principal, patient, "patients:read")
    language, context = _common(request, session, principal, patient_id)
    now = clock.now()
    upcoming = [
        item
        for item in timeline(session, patient_id=patient_id, types=["Appointment"], limit=20)
        if item.date is None or item.date >= now - timedelta(days=1)
    ]
    _audit_read(session, clock, principal, patient_id, "portal-home")
    return _page(
        request,
        "portal/home.html",
        {
            **context,
            "section": "home",
            "gaps": patient_context.care_gaps(session, patient_id=patient_id),
            "appointments": upcoming[:5],
            "zone": get_patient_record(session, patient_id=patient_id, timeline_limit=0).timezone,
        },
        language=language,
        principal=principal,
    )


@router.get("/portal/messages", response_class=HTMLResponse)
def messages(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    patient: str | None = None,
    sent: int = 0,
    error: str | None = None,
) -> Response:
    principal = _portal_principal(request, session, clock)
    if principal is None:
        return sign_in_redirect(request, to="/portal/sign-in")
    patient_id = _patient_for(principal, patient, "messages:read")
    language, context = _common(request, session, principal, patient_id)
    if principal.role == Role.PATIENT:  # the patient opening the page reads their inbox
        mark_read_for_patient(session, clock=clock, patient_id=patient_id)
    _audit_read(session, clock, principal, patient_id, "portal-messages")
    return _page(
        request,
        "portal/messages.html",
        {
            **context,
            "section": "messages",
            "items": outreach_messages.conversation(session, patient_id=patient_id, limit=100),
            "may_reply": replace(principal, permission="messages:send").may_act_for(patient_id),
            "sent": bool(sent),
            "error": error == "empty",
        },
        language=language,
        principal=principal,
    )


@router.post("/portal/messages")
def send_reply(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    ctx: InboundDep,
    principal: Annotated[Principal, Depends(require("messages:send"))],
    patient: Annotated[str, Form(max_length=64)] = "",
    body: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """The patient's (or proxy's) message, handled like an SMS reply so it reaches the team."""
    patient_id = _patient_for(principal, patient or None, "messages:send")
    page = f"/portal/messages?patient={patient_id}"
    try:
        outcome = receive_portal_reply(session, patient_id=patient_id, body=body, ctx=ctx)
    except InvalidInput:
        return after_post(request, f"{page}&error=empty")
    audit(
        session,
        clock=clock,
        principal=principal,
        action=AuditAction.SEND,
        resource="portal-message",
        purpose=Purpose.PATIENT_REQUEST,
        patient_ids=[patient_id],
        detail={"handled_as": outcome.handled_as},
    )
    return after_post(request, f"{page}&sent=1")


# -- today's check-in, one question at a time ----------------------------------------------


def _questionnaire() -> dict[str, Any]:
    return default_catalog().get(TODAYS_CHECKIN)


def _question_view(question: conversation.Question, language: str) -> dict[str, Any]:
    t = translator(language)
    key = f"checkin.{question.link_id}"
    text = t(key) if has_text(language, key) else question.text
    if question.kind == "boolean":
        options = [("yes", t("answer_yes")), ("no", t("answer_no"))]
    elif question.kind == "choice":
        options = [
            (str(question.low + i), display)
            for i, (_code, display, _sys) in enumerate(question.options)
        ]
    else:
        options = [(str(n), str(n)) for n in range(question.low, question.high + 1)]
    return {"id": question.link_id, "text": text, "kind": question.kind, "options": options}


@router.get("/portal/checkin", response_class=HTMLResponse)
def checkin_start(
    request: Request, session: SessionDep, clock: ClockDep, patient: str | None = None
) -> Response:
    principal = _portal_principal(request, session, clock)
    if principal is None:
        return sign_in_redirect(request, to="/portal/sign-in")
    patient_id = _patient_for(principal, patient, "checkins:write")
    language, context = _common(request, session, principal, patient_id)
    questions = conversation.questions_for(_questionnaire())
    return _page(
        request,
        "portal/checkin.html",
        {
            **context,
            "section": "checkin",
            "index": 0,
            "total": len(questions),
            "question": _question_view(questions[0], language),
            "answers": {},
            "title": _questionnaire().get("title", ""),
        },
        language=language,
        principal=principal,
    )


async def _form_answers(request: Request) -> tuple[dict[str, str], str, int]:
    form = await request.form()
    answers = {
        str(k)[2:]: str(v) for k, v in form.multi_items() if str(k).startswith("a.") and str(v)
    }
    current = str(form.get("answer") or "")
    try:
        index = int(str(form.get("index") or "0"))
    except ValueError:
        raise InvalidInput("index must be a number", field="index") from None
    return answers, current, index


@router.post("/portal/checkin", response_class=HTMLResponse)
async def checkin_step(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(require("checkins:write"))],
) -> Response:
    """Keep the answer and show the next question; after the last, submit the check-in."""
    answers, current, index = await _form_answers(request)
    patient_id = _patient_for(principal, request.query_params.get("patient"), "checkins:write")
    questionnaire = _questionnaire()
    questions = conversation.questions_for(questionnaire)
    if not 0 <= index < len(questions):
        raise InvalidInput("no such question", field="index")
    if not current:
        raise InvalidInput("choose an answer", field="answer")
    answers[questions[index].link_id] = current
    language = _language(request, session, patient_id)
    if index + 1 < len(questions):
        return _page(
            request,
            "portal/_question.html",
            {
                "index": index + 1,
                "total": len(questions),
                "question": _question_view(questions[index + 1], language),
                "answers": answers,
                "patient_id": patient_id,
            },
            language=language,
            principal=principal,
        )
    now = clock.now()
    state = conversation.start(questionnaire, channel="portal")
    for question in questions:
        state, _step = conversation.accept_reply(state, answers.get(question.link_id, ""), now)
    if state.status is not conversation.ConversationStatus.COMPLETED:
        raise InvalidInput("some answers could not be read; please start again", field="answer")
    record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
    response = conversation.to_response(
        state,
        response_id=f"qr-{uuid.uuid4().hex}",
        patient_ref=f"Patient/{record.sources[0]}",
        authored=now,
    )
    result = receive_questionnaire_response(
        session, response, clock=clock, principal=principal, source="portal", channel="portal"
    )
    flag = "alert" if result.alerts else "ok"
    return after_post(request, f"/portal/checkin/done?patient={patient_id}&result={flag}")


@router.get("/portal/checkin/done", response_class=HTMLResponse)
def checkin_done(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    patient: str | None = None,
    result: str = "ok",
) -> Response:
    principal = _portal_principal(request, session, clock)
    if principal is None:
        return sign_in_redirect(request, to="/portal/sign-in")
    patient_id = _patient_for(principal, patient, "checkins:write")
    language, context = _common(request, session, principal, patient_id)
    return _page(
        request,
        "portal/checkin_done.html",
        {**context, "section": "checkin", "alerted": result == "alert"},
        language=language,
        principal=principal,
    )


# -- readings -------------------------------------------------------------------------------


@router.get("/portal/readings", response_class=HTMLResponse)
def readings_page(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    patient: str | None = None,
    saved: int = 0,
) -> Response:
    principal = _portal_principal(request, session, clock)
    if principal is None:
        return sign_in_redirect(request, to="/portal/sign-in")
    patient_id = _patient_for(principal, patient, "readings:write")
    language, context = _common(request, session, principal, patient_id)
    from careloop.web.console.patient import reading_charts

    charts = reading_charts(patient_context.reading_series(session, patient_id=patient_id))
    _audit_read(session, clock, principal, patient_id, "portal-readings")
    return _page(
        request,
        "portal/readings.html",
        {**context, "section": "readings", "charts": charts, "saved": bool(saved)},
        language=language,
        principal=principal,
    )


@router.post("/portal/readings")
def save_reading(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(require("readings:write"))],
    patient: Annotated[str, Form(max_length=64)] = "",
    systolic: Annotated[str, Form(max_length=8)] = "",
    diastolic: Annotated[str, Form(max_length=8)] = "",
    glucose: Annotated[str, Form(max_length=8)] = "",
    weight: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    patient_id = _patient_for(principal, patient or None, "readings:write")
    record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
    observations = observations_from_form(
        patient_fhir_id=record.sources[0],
        now=clock.now(),
        systolic=systolic,
        diastolic=diastolic,
        glucose=glucose,
        weight=weight,
    )
    for observation in observations:
        receive_observation(session, observation, clock=clock, principal=principal, source="portal")
    return after_post(request, f"/portal/readings?patient={patient_id}&saved=1")


# -- preferences, consent, proxy -------------------------------------------------------------


@router.get("/portal/preferences", response_class=HTMLResponse)
def preferences_page(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    patient: str | None = None,
    saved: int = 0,
) -> Response:
    principal = _portal_principal(request, session, clock)
    if principal is None:
        return sign_in_redirect(request, to="/portal/sign-in")
    patient_id = _patient_for(principal, patient, "preferences:read")
    language, context = _common(request, session, principal, patient_id)
    now = clock.now()
    stated = personalize.get_profile(session, patient_id=patient_id).stated
    record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
    consent = consent_matrix(session, patient_id=patient_id, now=now)
    grants = {g.caregiver_id: g for g in active_grants(session, patient_id=patient_id)}
    upcoming = preview_next_decision(session, patient_id=patient_id, now=now)
    _audit_read(session, clock, principal, patient_id, "preference-profile")
    return _page(
        request,
        "portal/preferences.html",
        {
            **context,
            "section": "preferences",
            "stated": stated,
            "channels": CHANNELS,
            "windows": SEND_WINDOWS,
            "levels": READING_LEVELS,
            "purposes": [str(p) for p in ConsentPurpose],
            "consent": {p: any(d.allowed for d in row.values()) for p, row in consent.items()},
            "caregivers": record.caregivers,
            "grants": grants,
            "may_manage_proxy": principal.role == Role.PATIENT,
            "next_decision": upcoming,
            "saved": bool(saved),
        },
        language=language,
        principal=principal,
    )


def _choice(value: str, allowed: tuple[str, ...] | list[str], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput(f"unknown {field.replace('_', ' ')}", field=field)
    return value


@router.post("/portal/preferences")
async def save_preferences(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(require("preferences:write"))],
) -> Response:
    """Stated preferences (personalize), consent per purpose and proxy grants (governance)."""
    form = await request.form()
    patient_id = _patient_for(
        principal, str(form.get("patient") or "") or None, "preferences:write"
    )
    now = clock.now()

    def text(name: str) -> str:
        return str(form.get(name) or "").strip()

    quiet_from, quiet_to = text("quiet_from"), text("quiet_to")
    changes: dict[str, Any] = {
        "channel": _choice(text("channel"), CHANNELS, "channel"),
        "send_window": _choice(text("send_window"), SEND_WINDOWS, "send_window"),
        "reading_level": _choice(text("reading_level"), READING_LEVELS, "reading_level"),
        "language": _choice(text("language"), list(supported_languages()), "language"),
        "quiet_hours": f"{quiet_from}-{quiet_to}" if quiet_from and quiet_to else None,
        "caregiver_as_contact": form.get("caregiver_as_contact") == "on",
    }
    personalize.set_stated_preferences(
        session, clock=clock, patient_id=patient_id, changes=changes, actor=principal.actor
    )
    detail: dict[str, Any] = {"changed": sorted(changes)}
    if principal.can("consent:write") and principal.may_act_for(patient_id):
        current = consent_matrix(session, patient_id=patient_id, now=now)
        for purpose in ConsentPurpose:
            wanted = form.get(f"consent.{purpose}") == "on"
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
                detail.setdefault("consent", []).append(str(purpose))
    if principal.role == Role.PATIENT:
        grants = {g.caregiver_id: g for g in active_grants(session, patient_id=patient_id)}
        record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
        for caregiver in record.caregivers:
            wanted = form.get(f"proxy.{caregiver.id}") == "on"
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
    audit(
        session,
        clock=clock,
        principal=principal,
        action=AuditAction.UPDATE,
        resource="preference-profile",
        purpose=Purpose.PATIENT_REQUEST,
        patient_ids=[patient_id],
        detail=detail,
    )
    return after_post(request, f"/portal/preferences?patient={patient_id}&saved=1")
