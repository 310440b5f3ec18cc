"""Line type of a phone number by Twilio Lookup v2 (``line_type_intelligence``).

``GET {base_url}/v2/PhoneNumbers/{E.164}?Fields=line_type_intelligence`` with the account's
Basic auth; the answer's ``line_type_intelligence.type`` is ``mobile``, ``landline``,
``fixedVoip``, ``nonFixedVoip``, ``tollFree``, ... (twilio.com/docs/lookup/v2-api/line-type-
intelligence). A number Twilio could not classify (``error_code`` set, ``type`` null) is
``None``: unknown, not a landline. The caller caches answers; this adapter only asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.settings import LookupSettings, SmsSettings, account_or_sms

if TYPE_CHECKING:  # imported when a lookup is built: an outbox worker never builds one
    import httpx

TWILIO_LOOKUP_BASE = "https://lookups.twilio.com"


class LineTypeLookup(Protocol):
    """Asks a provider what kind of line a number is (``None``: it could not tell)."""

    def line_type(self, number: str) -> str | None: ...


class TwilioLineTypeLookup:
    """Twilio Lookup v2 over HTTP; ``transport`` lets a test put a recording server behind it."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        base_url: str = TWILIO_LOOKUP_BASE,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=(account_sid, auth_token),
            timeout=timeout,
            transport=transport,
        )

    @classmethod
    def from_settings(cls, lookup: LookupSettings, sms: SmsSettings) -> TwilioLineTypeLookup:
        account = account_or_sms(lookup.account, sms)
        return cls(
            account_sid=account.account_sid,
            auth_token=account.auth_token.get_secret_value(),
            base_url=lookup.base_url,
            timeout=lookup.timeout_seconds,
        )

    def line_type(self, number: str) -> str | None:
        import httpx

        try:
            answer = self._client.get(
                f"/v2/PhoneNumbers/{quote(number, safe='+')}",
                params={"Fields": "line_type_intelligence"},
            )
        except httpx.HTTPError:
            raise ChannelError(FailureReason.PROVIDER_DOWN, permanent=False) from None
        if answer.status_code == 404:
            return None
        if answer.status_code in (401, 403):
            raise ChannelError(FailureReason.AUTH_FAILED, permanent=True, provider_code="20003")
        if answer.status_code >= 400:
            raise ChannelError(
                FailureReason.PROVIDER_DOWN,
                permanent=False,
                provider_code=str(answer.status_code),
            )
        intelligence = answer.json().get("line_type_intelligence") or {}
        kind = intelligence.get("type")
        return str(kind) if kind and not intelligence.get("error_code") else None

    def close(self) -> None:
        self._client.close()
