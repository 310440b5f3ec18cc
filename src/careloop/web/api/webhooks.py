"""Twilio's requests to us: inbound SMS, delivery receipts, and key presses during calls.

Every request must carry a valid ``X-Twilio-Signature`` over the public URL Twilio called
(``security.public_base_url`` + path + query) and the form fields, checked with Twilio's own
validator; anything else is refused with 403 before a byte of it is used (429 once its
address has sent ``security.webhook_per_second`` twice over); signed requests are never
rate-limited. Replies to the
patient are queued in the outbox (paced, recorded, idempotent), never answered inline.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from twilio.twiml.messaging_response import MessagingResponse

from careloop.channels.settings import account_or_sms
from careloop.channels.twilio_webhooks import (
    SIGNATURE_HEADER,
    parse_call_status,
    parse_inbound_sms,
    parse_message_status,
    required_field,
    validate_twilio_request,
)
from careloop.channels.voice_twilio import SECOND_TRY, parse_gather_callback
from careloop.compose.outreach import inbound_context
from careloop.conversations.inbound import UNOFFERED_KEY, InboundContext
from careloop.conversations.received import receive_reply
from careloop.errors import InvalidInput, PermissionDenied
from careloop.outreach.config import care_team_for, outreach_settings
from careloop.outreach.delivery import apply_report
from careloop.outreach.inbound_calls import CallDesk, answer_inbound_call, verify_inbound_call
from careloop.outreach.voice_calls import (
    ask_again_twiml,
    call_twiml,
    goodbye_twiml,
    safety_twiml,
)
from careloop.web.deps import ClockDep, SessionDep, get_runtime, refuse_unsigned_webhook

log = logging.getLogger("careloop.web.webhooks")

# No rate limit on the router: a signed request is never refused, a forged one spends a
# ``webhook`` token of its address (``refuse_unsigned_webhook``).
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])

_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _twiml(body: str = _EMPTY_TWIML) -> Response:
    return Response(content=body, media_type="application/xml")


async def verified_form(request: Request) -> dict[str, str]:
    """The form fields, once the signature proves Twilio sent them (403 otherwise)."""
    runtime = get_runtime(request)
    _, channels = outreach_settings(runtime.settings)
    try:
        form = await request.form()
    except HTTPException:
        # A body the form parser refuses (400) is as unsigned as a forged one: it spends the
        # same bucket, or a caller could send them without end.
        refuse_unsigned_webhook(request)
        raise
    params = {key: str(value) for key, value in form.items()}
    url = runtime.settings.security.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    # Twilio signs with the token of the account that owns the number or the call: calls may
    # belong to their own account (``channels.voice.account``).
    tokens = {
        channels.sms.auth_token.get_secret_value(),
        account_or_sms(channels.voice.account, channels.sms).auth_token.get_secret_value(),
    }
    if not any(
        validate_twilio_request(
            url=url,
            params=params,
            signature=request.headers.get(SIGNATURE_HEADER),
            auth_token=token,
        )
        for token in sorted(tokens)
    ):
        # The base it was checked against, so a wrong ``public_base_url`` (the usual cause
        # behind a proxy) shows in the log; the route template, never the URL's ids.
        refuse_unsigned_webhook(request)  # 429 past the burst: a forged flood is not logged
        route = getattr(request.scope.get("route"), "path", request.url.path)
        checked = runtime.settings.security.public_base_url.rstrip("/") + route
        log.warning("twilio signature refused", extra={"checked_url": checked})
        raise PermissionDenied("invalid Twilio signature")
    return params


FormDep = Annotated[dict[str, str], Depends(verified_form)]


def _inbound_context(request: Request) -> InboundContext:
    """The reply router's context, built once per app (tests may preset its journeys)."""
    state = request.app.state
    ctx: InboundContext | None = getattr(state, "outreach_inbound", None)
    if ctx is None:
        programs = getattr(state, "outreach_programs", None)
        ctx = inbound_context(get_runtime(request), programs=programs)
        state.outreach_inbound = ctx
    return ctx


InboundDep = Annotated[InboundContext, Depends(_inbound_context)]


@router.post("/sms", summary="Inbound SMS (keywords, confirmations, check-in answers)")
def inbound_sms(params: FormDep, session: SessionDep, clock: ClockDep, ctx: InboundDep) -> Response:
    message = parse_inbound_sms(params, received_at=clock.now())
    outcome = receive_reply(session, ctx=ctx, message=message)
    if outcome.answer_now:
        # HELP from a number we do not know: answered in Twilio's own reply (TwiML <Message>).
        response = MessagingResponse()
        response.message(outcome.answer_now)
        return _twiml(str(response))
    return _twiml()


@router.post("/status", summary="Delivery receipts for messages and calls")
def delivery_status(
    params: FormDep,
    session: SessionDep,
    clock: ClockDep,
    m: int | None = None,
    kind: str = "message",
) -> Response:
    if kind not in ("message", "call"):
        raise InvalidInput("kind must be message or call", field="kind")
    parse = parse_call_status if kind == "call" else parse_message_status
    report = parse(params, reported_at=clock.now())
    apply_report(session, clock=clock, report=report, outbox_id=m)
    return Response(status_code=204)


@router.post("/voice/answer", summary="TwiML for a reminder call, once it is answered")
def voice_answer(params: FormDep, session: SessionDep, request: Request, m: int) -> Response:
    settings = get_runtime(request).settings
    base = settings.security.public_base_url
    answered_by = params.get("AnsweredBy") or None
    own, channels = outreach_settings(settings)
    return _twiml(
        call_twiml(
            session,
            message_id=m,
            answered_by=answered_by,
            base_url=base,
            settings=own,
            voices=channels.voice.voices,
            speech=channels.voice.speech,
        )
    )


@router.post("/voice/gather", summary="A key pressed, or words said, during a call")
def voice_gather(
    params: FormDep,
    session: SessionDep,
    clock: ClockDep,
    ctx: InboundDep,
    request: Request,
    m: int | None = None,
    attempt: Annotated[int, Query(ge=1, le=SECOND_TRY)] = 1,
) -> Response:
    settings = get_runtime(request).settings
    voice = outreach_settings(settings)[1].voice
    message = parse_gather_callback(params, received_at=clock.now(), attempt=attempt)
    outcome = None
    if message is not None:
        keypad = bool(params.get("Digits"))
        outcome = receive_reply(session, ctx=ctx, message=message, keypad=keypad)
    if outcome is not None and outcome.answer_now:
        # An urgent check-in answer, or red-flag words said on the call: what to do now,
        # spoken on this call in its language, then the care team (never the menu again).
        return _twiml(
            safety_twiml(
                outcome.answer_now,
                language=outcome.answer_language,
                voices=voice.voices,
                care_team_number=voice.care_team_number,
            )
        )
    if outcome is None or outcome.handled_as == UNOFFERED_KEY:
        return _twiml(
            ask_again_twiml(
                session,
                message_id=m,
                attempt=attempt,
                base_url=settings.security.public_base_url,
                voices=voice.voices,
                speech=voice.speech,
            )
        )
    return _twiml(goodbye_twiml(session, message_id=m, voices=voice.voices))


def _call_desk(request: Request) -> CallDesk:
    settings = get_runtime(request).settings
    own, channels = outreach_settings(settings)
    return CallDesk(
        base_url=settings.security.public_base_url,
        care_team=partial(care_team_for, own),
        clinic_phone=own.clinic_phone,
        care_team_number=channels.voice.care_team_number,
        voices=channels.voice.voices,
        speech=channels.voice.speech,
    )


@router.post("/voice/inbound", summary="A call to our number: verify the caller, or connect")
def voice_inbound(params: FormDep, session: SessionDep, request: Request) -> Response:
    caller = required_field(params, "From")
    return _twiml(answer_inbound_call(session, caller=caller, desk=_call_desk(request)))


@router.post("/voice/inbound/verify", summary="The date of birth keyed in by a caller")
def voice_inbound_verify(
    params: FormDep, session: SessionDep, clock: ClockDep, request: Request
) -> Response:
    caller = required_field(params, "From")
    digits = params.get("Digits", "")
    return _twiml(
        verify_inbound_call(
            session, caller=caller, digits=digits, desk=_call_desk(request), clock=clock
        )
    )
