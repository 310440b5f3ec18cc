"""Forms in the patient view: send one to the patient's phone, see what was signed.

A signed form shows the document exactly as signed (the DocumentReference's bytes), the
signature (the typed name, or the drawn image), when, and the SHA-256 the Provenance
carries, so staff can see what the patient agreed to without leaving the record.
Sending is ``patients:write``; reading signed forms, ``patients:read_clinical``.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from careloop.forms.catalogue import find_form, form_ids
from careloop.forms.service import forms_of, send_form
from careloop.records.resources import get_resource
from careloop.web.console.pages import CatalogueId, after_post
from careloop.web.deps import PatientReach, SettingsDep, reached

router = APIRouter(include_in_schema=False)

RESULTS = {
    "sent": "Sent: the patient got a link to fill in and sign the form on their phone.",
    "stored": "The form is ready, but no message could be sent (consent or contact details).",
}


def _signed(session: Session, resources: list[str]) -> dict[str, Any]:
    found = dict(r.split("/", 1) for r in resources)
    document = get_resource(
        session, resource_type="DocumentReference", fhir_id=found["DocumentReference"]
    )
    provenance = get_resource(session, resource_type="Provenance", fhir_id=found["Provenance"])
    if document is None or provenance is None:
        return {}
    [signature] = provenance["signature"]
    data = signature["data"]
    drawn = signature["sigFormat"] == "image/png"
    return {
        "text": base64.b64decode(document["content"][0]["attachment"]["data"]).decode(),
        "image": f"data:image/png;base64,{data}" if drawn else None,
        "typed": None if drawn else base64.b64decode(data).decode(),
        "resources": resources,
    }


def forms_context(
    session: Session, *, patient_id: str, language: str | None, result: str | None
) -> dict[str, Any]:
    """The panel's data: forms sent, newest first, with what was signed."""
    rows = [
        {
            "title": find_form(f.form, language).title,
            "state": f.state,
            "sent_at": f.sent_at,
            "signed_at": f.signed_at,
            "sha256": f.document_sha256,
            "signed": _signed(session, f.signed_resources) if f.signed_resources else None,
        }
        for f in forms_of(session, patient_id=patient_id)
    ]
    choices = [(form_id, find_form(form_id).title) for form_id in form_ids()]
    return {"forms_sent": rows, "forms_choices": choices, "forms_result": RESULTS.get(result or "")}


@router.post("/console/patients/{patient_id}/forms")
def send_form_page(
    request: Request,
    settings: SettingsDep,
    reach: Annotated[PatientReach, reached("patients:write")],
    form: CatalogueId,
) -> Response:
    sent = send_form(
        reach.session,
        patient_id=reach.patient_id,
        form_id=form,
        clock=reach.clock,
        settings=settings,
        principal=reach.principal,
    )
    outcome = "sent" if sent.outbox_id is not None else "stored"
    return after_post(request, f"/console/patients/{reach.patient_id}?form={outcome}#forms-h")
