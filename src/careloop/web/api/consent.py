"""Consent over HTTP: read and change a patient's consent; email unsubscribe links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.content.conversation_words import conversation_words, has_conversation_words
from careloop.governance.consent import (
    ANY,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    consent_history,
    consent_matrix,
    opt_out_channel,
    record_consent,
)
from careloop.governance.number_opt_outs import record_number_opt_out
from careloop.governance.unsubscribe import Unsubscribe, read_unsubscribe_token
from careloop.records import service as records
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.web.api.outputs import from_attributes
from careloop.web.deps import (
    ClockDep,
    PatientReach,
    SessionDep,
    SigningKeyDep,
    client_address,
    get_runtime,
    rate_limit,
    reached,
)

router = APIRouter(tags=["consent"])


class DecisionOut(BaseModel):
    allowed: bool
    reason: str


class ConsentRecordOut(BaseModel):
    id: int
    purpose: str
    channel: str
    status: str
    source: str
    recorded_at: datetime
    recorded_by: str


class ConsentOut(BaseModel):
    patient_id: str
    decisions: dict[str, dict[str, DecisionOut]]
    history: list[ConsentRecordOut]


class ConsentChange(BaseModel):
    purpose: ConsentPurpose | Literal["*"]
    channel: ConsentChannel | Literal["*"]
    status: Literal["granted", "denied"]
    note: str | None = Field(default=None, max_length=500)


class ConsentUpdate(BaseModel):
    changes: list[ConsentChange] = Field(min_length=1, max_length=50)
    source: Literal["staff", "form", "portal"] | None = Field(
        default=None, description="staff may record a paper form; patients always 'portal'"
    )


def _consent_out(session: SessionDep, patient_id: str, now: datetime) -> ConsentOut:
    matrix = consent_matrix(session, patient_id=patient_id, now=now)
    return ConsentOut(
        patient_id=patient_id,
        decisions={
            purpose: {
                channel: DecisionOut(allowed=d.allowed, reason=d.reason)
                for channel, d in row.items()
            }
            for purpose, row in matrix.items()
        },
        history=[
            from_attributes(ConsentRecordOut, r)
            for r in consent_history(session, patient_id=patient_id)
        ],
    )


@router.get("/api/patients/{patient_id}/consent", response_model=ConsentOut)
def get_consent(
    reach: Annotated[PatientReach, reached("consent:read", on_record=True)],
) -> ConsentOut:
    """What may be sent to this patient, per purpose and channel, and the history behind it."""
    out = _consent_out(reach.session, reach.patient_id, reach.clock.now())
    reach.audit(AuditAction.READ, "consent")
    return out


@router.put("/api/patients/{patient_id}/consent", response_model=ConsentOut)
def put_consent(
    body: ConsentUpdate,
    reach: Annotated[PatientReach, reached("consent:write", on_record=True)],
) -> ConsentOut:
    """Record grants and denials (staff: as told or from a form; patients: in the portal)."""
    session, principal, patient_id = reach.session, reach.principal, reach.patient_id
    source = (body.source or ConsentSource.STAFF) if principal.is_staff else ConsentSource.PORTAL
    now = reach.clock.now()
    for change in body.changes:
        record_consent(
            session,
            patient_id=patient_id,
            purpose=str(change.purpose),
            channel=str(change.channel),
            status=change.status,
            source=str(source),
            actor=principal.actor,
            now=now,
            note=change.note,
        )
    reach.audit(AuditAction.UPDATE, "consent", detail={"changes": len(body.changes)})
    return _consent_out(session, patient_id, now)


_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>{title}</title></head><body><main><h1>{title}</h1><p>{text}</p>{form}</main></body></html>"""


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _page(
    title: str, text: str, form: str = "", status: int = 200, language: str = "en"
) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(lang=escape(language), title=escape(title), text=escape(text), form=form),
        status_code=status,
    )


def _describe(channel: str, purpose: str) -> str:
    what = "all messages" if purpose == ANY else f"{purpose} messages"
    return f"{what} by {channel}"


@dataclass(frozen=True, slots=True)
class _UnsubscribeWords:
    language: str
    title: str
    question: str
    button: str
    done_title: str
    done: str


def _unsubscribe_words(link: Unsubscribe) -> _UnsubscribeWords:
    """The page in the language of the email the link came in (an email's links are for all
    our email; any other link keeps its English description of what it stops)."""
    if link.channel == "email" and link.purpose == ANY:
        language = link.language.split("-")[0].lower()
        words = conversation_words(language)
        return _UnsubscribeWords(
            language=language if has_conversation_words(language) else "en",
            title=words["unsubscribe_title"],
            question=words["unsubscribe_question"],
            button=words["unsubscribe_button"],
            done_title=words["unsubscribed_title"],
            done=words["unsubscribed_done"],
        )
    description = _describe(link.channel, link.purpose)
    return _UnsubscribeWords(
        language="en",
        title="Unsubscribe",
        question=f"Stop receiving {description}?",
        button="Unsubscribe",
        done_title="Unsubscribed",
        done=f"You will no longer receive {description}.",
    )


@router.get(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    dependencies=[Depends(rate_limit("unsubscribe"))],
)
def unsubscribe_page(token: str, request: Request, clock: ClockDep, key: SigningKeyDep) -> Response:
    """What this link unsubscribes from; nothing changes until it is confirmed (POST)."""
    ttl = timedelta(days=get_runtime(request).settings.security.unsubscribe_link_days)
    link = read_unsubscribe_token(key=key, token=token, now=clock.now(), ttl=ttl)
    if _wants_json(request):
        return JSONResponse(
            {"channel": link.channel, "purpose": link.purpose, "confirm": "POST this URL"}
        )
    words = _unsubscribe_words(link)
    form = f'<form method="post"><button type="submit">{escape(words.button)}</button></form>'
    return _page(words.title, words.question, form, language=words.language)


@router.post(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    dependencies=[Depends(rate_limit("unsubscribe"))],
)
def unsubscribe(
    token: str, request: Request, session: SessionDep, clock: ClockDep, key: SigningKeyDep
) -> Response:
    """Unsubscribe at once (RFC 8058 one-click: ``List-Unsubscribe=One-Click`` body)."""
    ttl = timedelta(days=get_runtime(request).settings.security.unsubscribe_link_days)
    now = clock.now()
    link = read_unsubscribe_token(key=key, token=token, now=now, ttl=ttl)
    principal = Principal(
        actor="unsubscribe-link",
        role=Role.PATIENT,
        patient_ids=frozenset({link.patient_id}),
        source=client_address(request),
    )
    if link.address is not None:
        # A caregiver's copy: their own mailbox stops getting copies; the patient's consent
        # is the patient's (as a caregiver's SMS STOP is).
        row = record_number_opt_out(
            session,
            address=link.address,
            stopped=True,
            sender=None,
            actor=principal.actor,
            now=now,
            source=str(ConsentSource.EMAIL_LINK),
        )
        Auditor(session, clock, principal, Purpose.PATIENT_REQUEST)(
            AuditAction.UPDATE, f"NumberOptOut/{row.id}", [link.patient_id]
        )
    elif records.contact_snapshot(session, patient_ids=[link.patient_id]):
        if link.purpose == ANY:
            opt_out_channel(
                session,
                patient_id=link.patient_id,
                channel=link.channel,
                source=ConsentSource.EMAIL_LINK,
                actor=principal.actor,
                now=now,
            )
        else:
            record_consent(
                session,
                patient_id=link.patient_id,
                purpose=link.purpose,
                channel=link.channel,
                status="denied",
                source=ConsentSource.EMAIL_LINK,
                actor=principal.actor,
                now=now,
            )
        Auditor(session, clock, principal, Purpose.PATIENT_REQUEST)(
            AuditAction.UPDATE, "consent", [link.patient_id]
        )
    # An erased patient's old link answers the same way: nothing is left to contact.
    if _wants_json(request):
        return JSONResponse(
            {"unsubscribed": True, "channel": link.channel, "purpose": link.purpose}
        )
    words = _unsubscribe_words(link)
    return _page(words.done_title, words.done, language=words.language)
