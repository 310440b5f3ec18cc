"""Today's check-in in the portal, one question at a time, submitted through the intake.

``?form=motivation`` asks the motivation check-in the same way (three one-tap questions on
what matters most; its answer becomes the patient's stated framing and their segment), under
its own heading: it is not today's check-in.

Today's check-in asks about taking medicines, so a patient whose record lists no medicine
they take now is told no check-in is due instead of being asked about missed doses.

Today's check-in is asked once a day: once the patient has answered it (here, or by text
or phone), until their midnight the page thanks them instead of asking again.

A program's check-in the patient was invited to (its email or portal invitation links here)
is asked too, under ``?form=<questionnaire id>``, until they answer it (any channel).

Answers travel in the form (``a.<link id>``) until the last question, then the finished
conversation becomes a QuestionnaireResponse: stored, rules run, alerts raised in one
transaction by the care team's intake. Without htmx (no scripts, or a tap before they load)
every step is a whole page, so the portal works as plain HTML forms.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from careloop.careteam.intake import receive_questionnaire_response
from careloop.errors import InvalidInput, NotFound
from careloop.feedback import conversation
from careloop.feedback.catalog import default_catalog
from careloop.medications.service import has_active_medicines
from careloop.outreach.checkin_invitations import checkin_invitations
from careloop.outreach.config import outreach_settings
from careloop.programs.motivation import QUESTIONNAIRE_ID
from careloop.records.resources import patient_resources
from careloop.records.service import get_patient_record
from careloop.security.principal import Principal
from careloop.settings import Settings
from careloop.web.console.pages import after_post
from careloop.web.deps import ClockDep, SessionDep, require
from careloop.web.portal.i18n import has_text, translator
from careloop.web.portal.page import (
    PortalPage,
    open_page,
    page_language,
    patient_for,
    portal_page,
    render_page,
)
from careloop.web.timefmt import zone_info

router = APIRouter(include_in_schema=False)

TODAYS_CHECKIN = "careloop-medication-adherence"
FORMS = {"today": TODAYS_CHECKIN, "motivation": QUESTIONNAIRE_ID}


def _questionnaire(form: str = "today") -> dict[str, Any]:
    """A named form (``today``, ``motivation``) or a program check-in's questionnaire id."""
    if form in FORMS:
        return default_catalog().get(FORMS[form])
    try:
        return default_catalog().get(form)
    except NotFound:
        raise InvalidInput(f"form must be one of: {', '.join(FORMS)}", field="form") from None


def _option_text(
    t: Callable[..., str], language: str, link_id: str, code: str, display: str
) -> str:
    """An answer option in the page's language (``checkin.<question>.<code>``)."""
    key = f"checkin.{link_id}.{code}"
    return t(key) if has_text(language, key) else display


def _question_view(question: conversation.Question, language: str) -> dict[str, Any]:
    t = translator(language)
    key = f"checkin.{question.link_id}"
    text = t(key) if has_text(language, key) else question.text
    if question.kind == "boolean":
        options = [("yes", t("answer_yes")), ("no", t("answer_no"))]
    elif question.kind == "choice":
        displays = question.labels or tuple(display for _, display, _ in question.options)
        options = [
            (str(question.low + i), _option_text(t, language, question.link_id, code, display))
            for i, ((code, _display, _sys), display) in enumerate(
                zip(question.options, displays, strict=True)
            )
        ]
    else:
        options = [(str(n), str(n)) for n in range(question.low, question.high + 1)]
    return {"id": question.link_id, "text": text, "kind": question.kind, "options": options}


def _answered_since(session: Session, *, patient_id: str, form: str, since: datetime) -> bool:
    """Whether the patient completed ``form``'s questionnaire since ``since`` (any channel)."""
    wanted = _questionnaire(form)
    urls = {str(wanted.get("url") or ""), f"Questionnaire/{wanted['id']}", str(wanted["id"])}
    return any(
        str(response.get("questionnaire") or "").split("|", 1)[0] in urls
        and response.get("status") == "completed"
        for response in patient_resources(
            session, patient_id=patient_id, resource_types=["QuestionnaireResponse"], since=since
        )
    )


def answered_today(session: Session, *, patient_id: str, zone: str | None, now: datetime) -> bool:
    """Whether the patient completed today's check-in since their own midnight (any channel):
    the portal offered it again right after it was answered."""
    local = now.astimezone(zone_info(zone))
    midnight = datetime.combine(local.date(), time(), tzinfo=local.tzinfo)
    return _answered_since(session, patient_id=patient_id, form="today", since=midnight)


def invited_checkin(session: Session, *, settings: Settings, patient_id: str) -> str | None:
    """The questionnaire of a program check-in the patient was invited to and has not
    answered since, else None."""
    own, _channels = outreach_settings(settings)
    for invitation in checkin_invitations(session, settings=own, patient_id=patient_id):
        form = invitation.questionnaire
        if not _answered_since(
            session, patient_id=patient_id, form=form, since=invitation.invited_at
        ):
            return form
    return None


def _due(page: PortalPage) -> tuple[str, str]:
    """What the check-in page asks: (``due``, the form) for today's check-in (the patient
    takes a medicine and has not answered today) or an invited program check-in; else
    (``answered`` or ``none``, ``today``)."""
    state = "none"
    if has_active_medicines(page.session, patient_id=page.patient_id):
        answered = answered_today(
            page.session,
            patient_id=page.patient_id,
            zone=page.context.get("viewer_zone"),
            now=page.clock.now(),
        )
        if not answered:
            return "due", "today"
        state = "answered"
    settings = page.request.app.state.runtime.settings
    invited = invited_checkin(page.session, settings=settings, patient_id=page.patient_id)
    return ("due", invited) if invited is not None else (state, "today")


def todays_checkin(page: PortalPage) -> str:
    """``due``, ``answered`` (today's check-in, nothing else waiting) or ``none``."""
    return _due(page)[0]


CheckinPage = Annotated[PortalPage, Depends(portal_page("checkins:write"))]


@router.get("/portal/checkin", response_class=HTMLResponse)
def checkin_start(page: CheckinPage, form: str = "today") -> HTMLResponse:
    state, form = _due(page) if form == "today" else ("due", form)
    questionnaire = _questionnaire(form)
    if state != "due":  # no medicine: nothing to ask; answered today: thanked, not asked again
        heading = translator(page.language)("todays_checkin")
        return page.show(
            "portal/checkin.html", "checkin", heading=heading, question=None, state=state
        )
    questions = conversation.questions_for(questionnaire, page.language)
    return _question_page(page, form, questions, index=0, answers={})


def _question_page(
    page: PortalPage,
    form: str,
    questions: tuple[conversation.Question, ...],
    *,
    index: int,
    answers: dict[str, str],
) -> HTMLResponse:
    """The whole check-in page at question ``index``, earlier answers carried in the form."""
    t = translator(page.language)
    title_key = f"checkin_title_{form}"
    return page.show(
        "portal/checkin.html",
        "preferences" if form == "motivation" else "checkin",
        heading=t("motivation") if form == "motivation" else t("todays_checkin"),
        index=index,
        total=len(questions),
        question=_question_view(questions[index], page.language),
        answers=answers,
        title=t(title_key) if has_text(page.language, title_key) else "",
        form=form,
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
    patient_id = patient_for(principal, request.query_params.get("patient"), "checkins:write")
    form = request.query_params.get("form") or "today"
    questionnaire = _questionnaire(form)
    if form == "today" and not has_active_medicines(session, patient_id=patient_id):
        raise InvalidInput("no check-in is due: the record lists no medicine", field="form")
    settings = request.app.state.runtime.settings
    if (
        form not in FORMS
        and invited_checkin(session, settings=settings, patient_id=patient_id) != form
    ):
        # Answered already (a second tap, Back and Send): stored once; the page says so.
        return after_post(request, f"/portal/checkin?patient={patient_id}")
    language = page_language(request, session, patient_id)
    questions = conversation.questions_for(questionnaire, language)
    if not 0 <= index < len(questions):
        raise InvalidInput("no such question", field="index")
    if not current:
        raise InvalidInput("choose an answer", field="answer")
    answers[questions[index].link_id] = current
    if index + 1 < len(questions):
        if request.headers.get("HX-Request") != "true":
            # A plain form post (no scripts yet) gets the whole page, as the GET showed it.
            page = open_page(request, session, clock, patient_id, permission="checkins:write")
            return _question_page(page, form, questions, index=index + 1, answers=answers)
        return render_page(  # htmx swaps the form only
            request,
            "portal/_question.html",
            {
                "index": index + 1,
                "total": len(questions),
                "question": _question_view(questions[index + 1], language),
                "answers": answers,
                "patient_id": patient_id,
                "form": form,
            },
            language=language,
            principal=principal,
        )
    now = clock.now()
    if form == "today":
        zone = get_patient_record(session, patient_id=patient_id, timeline_limit=0).timezone
        if answered_today(session, patient_id=patient_id, zone=zone, now=now):
            # Sent again (Back and Send, a second tap without scripts): asked once a day,
            # so stored once; the page thanks them, as the GET would.
            return after_post(request, f"/portal/checkin?patient={patient_id}")
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
def checkin_done(page: CheckinPage, result: str = "ok") -> HTMLResponse:
    return page.show("portal/checkin_done.html", "checkin", alerted=result == "alert")
