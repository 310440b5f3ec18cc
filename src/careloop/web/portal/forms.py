"""A form behind a signed link, filled in and signed on the phone (``careloop.forms``).

No sign-in: the link's token is the capability (like the self-scheduling link), and the page
shows the form's questions only, never a name. To sign, the signer confirms the patient's
date of birth, types their full name and, if they like, draws their signature on the
canvas (``static/signature.js`` puts the drawing in a hidden field as a PNG data URL).
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from careloop.errors import InvalidInput, LinkNotUsable
from careloop.forms.service import OpenedForm, confirm_signer, open_form, sign_form
from careloop.forms.signing import Signature, SignatureKind
from careloop.web.deps import ClockDep, SessionDep, SigningKeyDep
from careloop.web.portal.i18n import pick_language
from careloop.web.portal.page import patient_languages, render_page

router = APIRouter(include_in_schema=False)
PNG_DATA_URL = "data:image/png;base64,"


def _show(
    request: Request, session: Session, opened: OpenedForm, token: str, *, values: dict[str, str],
    problem: str | None = None, status_code: int = 200, signed: bool = False,
    problem_item: str | None = None,
) -> HTMLResponse:  # fmt: skip
    """The form in its language; the page around it in the patient's where the portal speaks
    it, saying why the questions are in English when no reviewed translation of the form
    exists (a translation nobody approved never reaches a patient)."""
    form = opened.form
    language = pick_language(
        request.query_params.get("lang"),
        *patient_languages(session, opened.request.patient_id),
        form.language,
    )
    context: dict[str, Any] = {
        "form": form, "token": token, "values": values, "problem": problem, "signed": signed,
        "problem_item": problem_item,
        "form_in_english": language.split("-")[0] != form.language.split("-")[0],
    }  # fmt: skip
    return render_page(
        request, "portal/form.html", context, language=language, status_code=status_code
    )


def _birth_date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def _image(raw: str) -> bytes | None:
    if not raw.startswith(PNG_DATA_URL):
        return None
    try:
        return base64.b64decode(raw[len(PNG_DATA_URL) :], validate=True)
    except binascii.Error:
        return None


@router.get("/portal/forms/{token}", response_class=HTMLResponse)
def form_page(
    request: Request, token: str, session: SessionDep, clock: ClockDep, key: SigningKeyDep
) -> HTMLResponse:
    opened = open_form(session, key=key, token=token, clock=clock)
    return _show(request, session, opened, token, values={})


@router.post("/portal/forms/{token}", response_class=HTMLResponse)
async def submit_form(
    request: Request,
    token: str,
    session: SessionDep,
    clock: ClockDep,
    key: SigningKeyDep,
    birth_date: Annotated[str, Form(max_length=10)] = "",
    signer_name: Annotated[str, Form(max_length=100)] = "",
    signature_image: Annotated[str, Form(max_length=300_000)] = "",
) -> HTMLResponse:
    opened = open_form(session, key=key, token=token, clock=clock)
    submitted = await request.form()
    values = {k: str(v) for k, v in submitted.items() if isinstance(v, str) and len(v) <= 2000}
    values.pop("signature_image", None)
    if not confirm_signer(
        session, key=key, token=token, birth_date=_birth_date(birth_date), clock=clock
    ):
        return _show(request, session, opened, token, values=values,
                     problem="form_wrong_birth_date", status_code=422)  # fmt: skip
    image = _image(signature_image)
    kind = SignatureKind.DRAWN if signature_image else SignatureKind.TYPED
    try:
        with session.begin_nested():
            sign_form(
                session, key=key, token=token, answers=values, clock=clock,
                signature=Signature(kind, signer_name, image),
            )  # fmt: skip
    except LinkNotUsable:
        raise  # used or expired meanwhile: the link page, not a question to answer
    except InvalidInput as exc:
        field = exc.field or ""
        problem = "form_sign_name" if field == "signer_name" else (
            "form_draw" if field == "signature_image" else "form_answer_missing")  # fmt: skip
        return _show(request, session, opened, token, values=values, problem=problem,
                     status_code=422, problem_item=field)  # fmt: skip
    return _show(request, session, opened, token, values={}, signed=True)
