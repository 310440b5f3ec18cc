"""Twilio error codes → our failure reasons, permanent or transient.

Used both for REST errors (``TwilioRestException.code`` on create) and for the ``ErrorCode`` of
``undelivered``/``failed`` status callbacks. Codes not listed fall back on the HTTP status
(4xx permanent, 429 and 5xx transient) or, for callbacks, on the code's family: 30xxx
delivery errors are transient unless listed, because Twilio uses that family for carrier
trouble that often clears. Reference: https://www.twilio.com/docs/api/errors
"""

from __future__ import annotations

from careloop.channels.errors import ChannelError, FailureReason

R = FailureReason

TWILIO_ERROR_CODES: dict[int, tuple[FailureReason, bool]] = {
    # code: (reason, permanent)
    20003: (R.AUTH_FAILED, True),  # authentication failed
    20404: (R.MISCONFIGURED, True),  # resource not found (wrong account sid or base URL)
    20429: (R.RATE_LIMITED, False),  # too many requests
    21211: (R.INVALID_ADDRESS, True),  # invalid 'To' phone number
    21212: (R.MISCONFIGURED, True),  # invalid 'From' phone number
    21214: (R.INVALID_ADDRESS, True),  # 'To' phone number cannot be reached
    21217: (R.INVALID_ADDRESS, True),  # phone number does not appear to be valid
    21408: (R.MISCONFIGURED, True),  # permission to send to this region not enabled
    21606: (R.MISCONFIGURED, True),  # 'From' number is not a valid SMS-capable number
    21610: (R.UNSUBSCRIBED, True),  # recipient replied STOP: treat as an opt-out
    21612: (R.INVALID_ADDRESS, True),  # cannot route to this number
    21614: (R.INVALID_ADDRESS, True),  # 'To' is not a mobile number
    21617: (R.REJECTED, True),  # body exceeds the concatenated message limit
    30001: (R.RATE_LIMITED, False),  # queue overflow
    30002: (R.AUTH_FAILED, True),  # account suspended
    30003: (R.UNREACHABLE, False),  # unreachable destination handset
    30004: (R.BLOCKED, True),  # message blocked (often the recipient blocked the sender)
    30005: (R.INVALID_ADDRESS, True),  # unknown destination handset
    30006: (R.INVALID_ADDRESS, True),  # landline or unreachable carrier
    30007: (R.BLOCKED, True),  # carrier filtered the message
    30008: (R.UNKNOWN, False),  # unknown error
    30022: (R.RATE_LIMITED, False),  # US A2P 10DLC throughput exceeded
    30034: (R.BLOCKED, True),  # US A2P 10DLC: unregistered sender number
}


def twilio_failure(
    *, code: int | float | str | None, http_status: int | None = None, detail: str = ""
) -> ChannelError:
    """The :class:`ChannelError` for a Twilio error code and/or HTTP status."""
    # A gateway may write the code as a float (21610.0) or a text: the package looked the
    # value up as it came (a float equal to a listed code finds it, a text none).
    whole = isinstance(code, int) or (isinstance(code, float) and code.is_integer())
    known = TWILIO_ERROR_CODES.get(int(code)) if whole else None  # type: ignore[arg-type]
    if known is not None:
        reason, permanent = known
        return ChannelError(reason, permanent=permanent, provider_code=str(code), detail=detail)
    provider_code = str(code) if code is not None else None
    if http_status is not None:
        if http_status == 401 or http_status == 403:
            return ChannelError(
                R.AUTH_FAILED, permanent=True, provider_code=provider_code, detail=detail
            )
        if http_status == 429:
            return ChannelError(
                R.RATE_LIMITED, permanent=False, provider_code=provider_code, detail=detail
            )
        if http_status >= 500:
            return ChannelError(
                R.PROVIDER_DOWN, permanent=False, provider_code=provider_code, detail=detail
            )
        if http_status == 404:
            return ChannelError(
                R.MISCONFIGURED, permanent=True, provider_code=provider_code, detail=detail
            )
        return ChannelError(R.REJECTED, permanent=True, provider_code=provider_code, detail=detail)
    permanent = code is not None and not (isinstance(code, int | float) and 30000 <= code < 31000)
    return ChannelError(R.UNKNOWN, permanent=permanent, provider_code=provider_code, detail=detail)
