"""Send a form to a patient's phone, open it from the link, sign it.

Lifecycle of a :class:`~careloop.models.FormRequest` (one writer: this module)::

    sent ──(signed on the page)──▶ signed
      │ ──(5 wrong dates of birth)──▶ locked
      └──(expires_at passes)──▶ (the link stops working; the row stays ``sent``)

The link is ``forms.link`` + ``<request id>.<HMAC>`` under ``security.secret_key``: it
cannot be forged or pointed at another form, and it works until it expires or the form is
signed. Whoever holds the link sees the form's questions, never the patient's name or
record; to sign, they confirm the patient's date of birth (the signer's identity check,
as on our phone line), and five wrong tries lock the form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Purpose, audit
from careloop.clock import Clock, ensure_utc
from careloop.crypto import signing_key
from careloop.db import patient_rows
from careloop.errors import LinkNotUsable
from careloop.events import EventKind, record_event
from careloop.forms.catalogue import Form, find_form
from careloop.forms.signing import Signature, read_answers, signed_resources
from careloop.governance.consent import ConsentPurpose
from careloop.models import FormRequest
from careloop.outreach.requests import request_message
from careloop.records.resources import store_resources
from careloop.records.service import get_patient, get_patient_record
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.settings import Settings

LINK_CHANNELS = ("sms", "email", "portal")  # the point is the link: never a phone call
MESSAGE = "form_request"
MAX_FAILED_CHECKS = 5
LINK_PRINCIPAL = Principal(actor="link:forms", role=Role.PATIENT, source="link")


class FormState(StrEnum):
    SENT = "sent"
    SIGNED = "signed"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class SentForm:
    request_id: str
    link: str
    outbox_id: int | None
    not_queued: str | None


@dataclass(frozen=True, slots=True)
class OpenedForm:
    request: FormRequest
    form: Form


def _sign(key: bytes, request_id: str) -> str:
    digest = hmac.new(key, f"form-link|{request_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


def link_token(key: bytes, request_id: str) -> str:
    return f"{request_id}.{_sign(key, request_id)}"


def _request_of(session: Session, *, key: bytes, token: str, clock: Clock) -> FormRequest:
    request_id, _, signature = token.partition(".")
    row = None
    if request_id and len(token) <= 64 and hmac.compare_digest(signature, _sign(key, request_id)):
        row = session.get(FormRequest, request_id)
    if row is None or row.state != FormState.SENT or ensure_utc(row.expires_at) <= clock.now():
        raise LinkNotUsable("this form link is invalid, used or expired")
    return row


def send_form(
    session: Session,
    *,
    patient_id: str,
    form_id: str,
    clock: Clock,
    settings: Settings,
    principal: Principal,
) -> SentForm:
    """Store the request and queue ``form_request`` with the signed link (module docstring)."""
    patient = get_patient(session, patient_id)
    find_form(form_id, patient.language)  # an unknown form is refused before anything is sent
    now = clock.now()
    row = FormRequest(
        id=secrets.token_hex(8), patient_id=patient_id, form=form_id, state=FormState.SENT,
        sent_at=now, sent_by=principal.actor, failed_checks=0,
        expires_at=now + timedelta(days=settings.forms.link_days),
    )  # fmt: skip
    session.add(row)
    base = settings.public_link(settings.forms, "link", path="/portal/forms")
    link = f"{base.rstrip('/')}/{link_token(signing_key(settings), row.id)}"
    asked = request_message(
        session, patient_id=patient_id, message=MESSAGE,
        purpose=str(ConsentPurpose.CARE_REMINDERS), key=f"form:{row.id}", now=now, clock=clock,
        settings=settings, fields={"form_link": link}, allowed_channels=LINK_CHANNELS,
    )  # fmt: skip
    record_event(
        session, kind=EventKind.FORM_SENT, clock=clock, actor=principal.actor,
        patient_id=patient_id, subject_type="form_request", subject_id=row.id,
        payload={"form": form_id, "queued": asked.outbox_id is not None},
    )  # fmt: skip
    return SentForm(row.id, link, asked.outbox_id, asked.not_queued)


def open_form(session: Session, *, key: bytes, token: str, clock: Clock) -> OpenedForm:
    """The form a link names, in the patient's language (its questions only, no record)."""
    row = _request_of(session, key=key, token=token, clock=clock)
    audit(
        session, clock=clock, principal=LINK_PRINCIPAL, action=AuditAction.READ,
        resource="form-request", purpose=Purpose.PATIENT_REQUEST, patient_ids=[row.patient_id],
    )  # fmt: skip
    return OpenedForm(row, find_form(row.form, get_patient(session, row.patient_id).language))


def confirm_signer(
    session: Session, *, key: bytes, token: str, birth_date: date | None, clock: Clock
) -> bool:
    """Whether the signer gave the patient's date of birth; a wrong one is counted (flushed),
    and the fifth locks the form. The caller commits either way."""
    row = _request_of(session, key=key, token=token, clock=clock)
    if birth_date is not None and get_patient(session, row.patient_id).birth_date == birth_date:
        return True
    row.failed_checks += 1
    if row.failed_checks >= MAX_FAILED_CHECKS:
        row.state = FormState.LOCKED
    audit(
        session, clock=clock, principal=LINK_PRINCIPAL, action=AuditAction.UPDATE,
        resource="form-request", purpose=Purpose.SECURITY, patient_ids=[row.patient_id],
        outcome="denied", detail={"failed_checks": row.failed_checks},
    )  # fmt: skip
    session.flush()
    return False


def sign_form(
    session: Session,
    *,
    key: bytes,
    token: str,
    answers: dict[str, str],
    signature: Signature,
    clock: Clock,
) -> FormRequest:
    """Store what was signed (``forms.signing``) in the record and mark the form signed.

    Call :func:`confirm_signer` first. Bad answers raise :class:`InvalidInput` naming the item.
    """
    opened = open_form(session, key=key, token=token, clock=clock)
    row, form = opened.request, opened.form
    now = clock.now()
    record = get_patient_record(session, patient_id=row.patient_id, timeline_limit=0)
    signed = signed_resources(
        form, read_answers(form, answers), request_id=row.id,
        patient=f"Patient/{record.sources[0]}", signature=signature, signed_at=now,
    )  # fmt: skip
    store_resources(
        session, signed.resources, clock=clock, principal=LINK_PRINCIPAL, source="forms",
        purpose=Purpose.PATIENT_REQUEST,
    )  # fmt: skip
    row.state = FormState.SIGNED
    row.signed_at = now
    row.document_sha256 = signed.sha256
    row.signed_resources = [f"{r['resourceType']}/{r['id']}" for r in signed.resources]
    record_event(
        session, kind=EventKind.FORM_SIGNED, clock=clock, actor=LINK_PRINCIPAL.actor,
        patient_id=row.patient_id, subject_type="form_request", subject_id=row.id,
        payload={"form": row.form, "sha256": signed.sha256, "signature": str(signature.kind)},
    )  # fmt: skip
    return row


def forms_of(session: Session, *, patient_id: str) -> list[FormRequest]:
    """The forms sent to a patient, newest first (the console's patient view)."""
    return patient_rows(session, FormRequest, patient_id, FormRequest.sent_at.desc())
