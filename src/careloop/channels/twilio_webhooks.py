"""Requests Twilio makes to us: signature check, inbound SMS, message and call status.

The web layer (owned by the outreach/web packages) receives the form POST, calls
:func:`validate_twilio_request` with the PUBLIC URL Twilio called (scheme, host, path and
query exactly as configured at Twilio; behind a proxy rebuild it from the forwarded headers)
and only then the parsers here. Parsers take the form fields as a mapping of strings and the
time of receipt, and return our typed messages; a missing required field is ``InvalidInput``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from twilio.request_validator import RequestValidator

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.keywords import parse_reply
from careloop.channels.messages import ChannelKind, DeliveryReport, DeliveryStatus, InboundMessage
from careloop.channels.sms_twilio import TWILIO_MESSAGE_STATUS
from careloop.channels.twilio_errors import twilio_failure
from careloop.clock import ensure_utc
from careloop.errors import InvalidInput

SIGNATURE_HEADER = "X-Twilio-Signature"

TWILIO_CALL_STATUS: dict[str, DeliveryStatus] = {
    "queued": DeliveryStatus.QUEUED,
    "initiated": DeliveryStatus.SENT,
    "ringing": DeliveryStatus.SENT,
    "in-progress": DeliveryStatus.DELIVERED,
    "answered": DeliveryStatus.DELIVERED,
    "completed": DeliveryStatus.COMPLETED,
    "busy": DeliveryStatus.BUSY,
    "no-answer": DeliveryStatus.NO_ANSWER,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


def validate_twilio_request(
    *, url: str, params: Mapping[str, Any], signature: str | None, auth_token: str
) -> bool:
    """True when ``X-Twilio-Signature`` proves Twilio (holding our auth token) sent this.

    Uses Twilio's own ``RequestValidator`` (HMAC-SHA1 over the URL and the sorted form fields,
    tried with and without the default port). A missing signature is simply invalid.
    """
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def required_field(params: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = params.get(name)
        if value:
            return str(value)
    raise InvalidInput(f"missing form field {names[0]}", field=names[0])


def parse_inbound_sms(params: Mapping[str, Any], *, received_at: datetime) -> InboundMessage:
    """An incoming SMS (Twilio's messaging webhook) as a classified reply."""
    body = str(params.get("Body") or "")
    reply = parse_reply(body)
    return InboundMessage(
        channel=ChannelKind.SMS,
        sender=required_field(params, "From"),
        recipient=required_field(params, "To"),
        body=body,
        provider_id=required_field(params, "MessageSid", "SmsMessageSid", "SmsSid"),
        received_at=ensure_utc(received_at),
        keyword=reply.keyword,
        number=reply.number,
        possible_opt_out=reply.possible_opt_out,
    )


def _failure(params: Mapping[str, Any], *, default: ChannelError) -> ChannelError:
    raw = params.get("ErrorCode")
    if raw in (None, ""):
        return default
    try:
        code = int(str(raw))
    except ValueError:
        return default
    return twilio_failure(code=code)


def parse_message_status(params: Mapping[str, Any], *, reported_at: datetime) -> DeliveryReport:
    """A Messages status callback (``MessageStatus`` + ``ErrorCode``) as a delivery report.

    An ``undelivered``/``failed`` without an ErrorCode is treated as transient: we cannot tell
    why, and a later attempt costs less than a reminder that never arrives.
    """
    raw_status = required_field(params, "MessageStatus", "SmsStatus")
    status = TWILIO_MESSAGE_STATUS.get(raw_status)
    if status is None:
        raise InvalidInput("unknown MessageStatus", field="MessageStatus")
    failure = None
    if status in (DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED):
        failure = _failure(params, default=ChannelError(FailureReason.UNKNOWN, permanent=False))
    return DeliveryReport(
        channel=ChannelKind.SMS,
        provider_id=required_field(params, "MessageSid", "SmsSid"),
        status=status,
        reported_at=ensure_utc(reported_at),
        failure=failure,
    )


def parse_call_status(params: Mapping[str, Any], *, reported_at: datetime) -> DeliveryReport:
    """A Calls status callback (``CallStatus``) as a delivery report.

    ``busy`` and ``no-answer`` are transient failures (try again later, or escalate);
    ``failed`` carries Twilio's ErrorCode when there is one.
    """
    raw_status = required_field(params, "CallStatus")
    status = TWILIO_CALL_STATUS.get(raw_status)
    if status is None:
        raise InvalidInput("unknown CallStatus", field="CallStatus")
    failure = None
    if status is DeliveryStatus.BUSY or status is DeliveryStatus.NO_ANSWER:
        failure = ChannelError(FailureReason.UNREACHABLE, permanent=False)
    elif status is DeliveryStatus.FAILED:
        failure = _failure(params, default=ChannelError(FailureReason.UNKNOWN, permanent=False))
    return DeliveryReport(
        channel=ChannelKind.VOICE,
        provider_id=required_field(params, "CallSid"),
        status=status,
        reported_at=ensure_utc(reported_at),
        failure=failure,
    )
