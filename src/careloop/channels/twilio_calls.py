"""Calling the ``twilio`` client and turning what goes wrong into a :class:`ChannelError`.

Shared by the SMS and voice adapters. A connect failure means Twilio never saw the request
(``provider-down``); a read timeout or a connection dropped after the request was written
means it may have (``timeout``: the retry asks the gateway first): both are transient, and
the idempotency token sent with the request is what makes the retry of the second safe where
the gateway honours it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import DeliveryStatus, SendResult
from careloop.channels.twilio_errors import twilio_failure
from careloop.channels.twilio_http import idempotency_token

TRANSPORT_ERRORS = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    ValueError,
)
"""What the HTTP exchange itself can raise that :func:`transport_failure` names (``ValueError``:
an answer that is not JSON, as ``json`` and ``requests`` raise it)."""


def transport_failure(exc: BaseException) -> ChannelError:
    """The failure for one of :data:`TRANSPORT_ERRORS`: not connected (Twilio never saw the
    request), timed out reading or dropped mid-exchange (it may have: the outcome is
    unknown), or an answer that cannot be read (a broken gateway). All transient."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ChannelError(FailureReason.PROVIDER_DOWN, permanent=False)
    if isinstance(exc, requests.exceptions.Timeout):
        return ChannelError(FailureReason.TIMEOUT, permanent=False, detail="outcome unknown")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        # The answer's body was cut short: the request was read, the text probably sent.
        return ChannelError(FailureReason.TIMEOUT, permanent=False, detail="answer cut short")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _never_connected(exc):
            return ChannelError(FailureReason.PROVIDER_DOWN, permanent=False)
        # The connection dropped mid-exchange (reset, closed before the answer): the request
        # may have been read and the text sent, as after a read timeout.
        return ChannelError(FailureReason.TIMEOUT, permanent=False, detail="connection dropped")
    return ChannelError(
        FailureReason.PROVIDER_DOWN, permanent=False, detail="unreadable provider answer"
    )


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """No connection was made (refused, no route, no name, TLS refused), so nothing of the
    request reached Twilio; anything else (``ProtocolError``: aborted, reset, closed without
    an answer) happened after it may have been sent."""
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def call_twilio(create: Callable[[], Any], *, idempotency_key: str) -> Any:
    """Run one ``create`` call with the idempotency header; map every failure."""
    try:
        with idempotency_token(idempotency_key):
            return create()
    except TwilioRestException as exc:
        raise twilio_failure(code=exc.code, http_status=exc.status) from None
    except TRANSPORT_ERRORS as exc:
        raise transport_failure(exc) from None
    except TwilioException:
        # A 2xx answer we cannot read (not Twilio's shape): a broken gateway.
        raise transport_failure(ValueError()) from None


def create_with_twilio(
    create: Callable[[], Any], *, idempotency_key: str, statuses: Mapping[str, DeliveryStatus]
) -> SendResult:
    """Create a message or call and read its sid and first status (Twilio's word mapped
    through ``statuses``; an unknown one is still queued); an answer without a sid is a
    broken gateway, tried again."""
    created = call_twilio(create, idempotency_key=idempotency_key)
    sid = getattr(created, "sid", None)
    if not sid:
        raise ChannelError(
            FailureReason.PROVIDER_DOWN, permanent=False, detail="answer without a sid"
        )
    raw_status = str(getattr(created, "status", ""))
    return SendResult(provider_id=str(sid), status=statuses.get(raw_status, DeliveryStatus.QUEUED))
