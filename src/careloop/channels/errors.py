"""The one exception an adapter raises when a send does not go out, with a named reason.

The outbox decides what to do from ``permanent`` alone (dead-letter vs retry with backoff);
``reason`` is for people and reports. Messages never carry patient data (no numbers, no
addresses, no bodies): only provider codes and our reason names.
"""

from __future__ import annotations

from enum import StrEnum

from careloop.errors import CareloopError


class FailureReason(StrEnum):
    """Why a message was not sent or not delivered, in words a care team can act on."""

    INVALID_ADDRESS = "invalid-address"
    """The number or email address cannot receive messages (malformed, landline, no mailbox)."""
    UNSUBSCRIBED = "unsubscribed"
    """The recipient opted out at the carrier or provider (e.g. Twilio 21610 after STOP)."""
    BLOCKED = "blocked"
    """The carrier or provider filtered the message (spam filter, unregistered sender)."""
    RATE_LIMITED = "rate-limited"
    """The provider asked us to slow down; retry later."""
    PROVIDER_DOWN = "provider-down"
    """The provider could not be reached or answered 5xx; the message was not accepted."""
    TIMEOUT = "timeout"
    """No answer in time: the provider MAY have accepted the message (outcome unknown)."""
    AUTH_FAILED = "auth-failed"
    """Our credentials were refused; fix configuration before retrying."""
    MISCONFIGURED = "misconfigured"
    """Sender not allowed, region not enabled, missing callback URL: a setup problem."""
    UNREACHABLE = "unreachable"
    """The handset or mailbox is temporarily unreachable (off, full, roaming)."""
    REJECTED = "rejected"
    """The provider refused the request for a reason we have no better name for."""
    UNKNOWN = "unknown"
    """The provider reported a failure without a code we recognise."""


class ChannelError(CareloopError):
    """A send that did not go out (or a delivery that failed).

    ``permanent`` is True when repeating the same request cannot succeed (dead-letter it);
    False when a later retry may (back off and try again). ``provider_code`` is the
    provider's own error code when it gave one (e.g. Twilio ``21211``, SMTP ``550``).
    """

    def __init__(
        self,
        reason: FailureReason,
        *,
        permanent: bool,
        provider_code: str | None = None,
        detail: str = "",
    ) -> None:
        self.reason = reason
        self.permanent = permanent
        self.provider_code = provider_code
        self.detail = detail
        kind = "permanent" if permanent else "transient"
        code = f" (provider code {provider_code})" if provider_code else ""
        suffix = f": {detail}" if detail else ""
        super().__init__(f"{kind} channel failure {reason.value}{code}{suffix}")
