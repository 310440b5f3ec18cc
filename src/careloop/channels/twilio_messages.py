"""Twilio's "create a message" request written straight onto the wire.

``client.messages.create`` runs, for each text, the package's general machinery: 24 optional
fields checked and serialised, three layers of request objects, the User-Agent rebuilt from
``platform``, a test-only copy of the request, the answer decoded to text and then to a
``MessageInstance`` whose ~25 fields (three dates parsed) careloop never reads. A text needs the
sid and the status. :class:`MessageCreator` asks the package once, at start, for what it would
put on the wire (the URL after the region, edge and base-URL rewrites, the headers in its order,
the basic auth) and then, per text, only fills in the form and the idempotency header and hands
the request to the same ``requests`` transport (the same pool, proxies and TLS settings).
``tests/channels/test_channels_twilio_wire.py`` holds it byte for byte to the package's request,
and reads errors as the package does (:func:`careloop.channels.twilio_calls.call_twilio`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import DeliveryStatus, SendResult
from careloop.channels.settings import TWILIO_API_BASE
from careloop.channels.twilio_calls import TRANSPORT_ERRORS, create_with_twilio, transport_failure
from careloop.channels.twilio_errors import twilio_failure
from careloop.channels.twilio_http import IDEMPOTENCY_HEADER, TwilioCompatibleHttpClient

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
"""The headers ``MessageList.create`` passes down, in its order (the package adds its own)."""


@dataclass(frozen=True)
class WrittenRequest:
    """``POST .../Accounts/{sid}/Messages.json`` for one client, as the package makes it."""

    http: TwilioCompatibleHttpClient
    url: str
    headers: Mapping[str, str]
    auth: tuple[str, str]

    @classmethod
    def of_client(cls, client: Any) -> WrittenRequest | None:
        """The request for a ``twilio`` client built by
        :func:`~careloop.channels.twilio_http.build_twilio_client`; ``None`` for any other
        client (another HTTP client, or credentials other than the account's key pair)."""
        http = getattr(client, "http_client", None)
        if not isinstance(http, TwilioCompatibleHttpClient) or client.credential_provider:
            return None
        # The URL the package builds (``Api`` domain, version 2010-04-01, the account's
        # ``Messages.json``), moved by the region and edge (from the environment too), then
        # by this client's base-URL rewrite. Written out, not read from ``client.api``: that
        # loads every generated module of the account's API (~25 ms of a worker's start).
        url = http.rebased(
            client.get_hostname(
                f"{TWILIO_API_BASE}/2010-04-01/Accounts/{client.account_sid}/Messages.json"
            )
        )
        return cls(
            http=http,
            url=url,
            headers=client.get_headers("POST", dict(FORM_HEADERS)),
            auth=client.get_auth(None),
        )

    def send(self, data: dict[str, object], *, idempotency_key: str) -> object:
        """The created message's JSON; failures as ``call_twilio`` maps them."""
        headers = {**self.headers, IDEMPOTENCY_HEADER: idempotency_key}
        self.http.log_request({"method": "POST", "url": self.url})
        try:
            prepared = self.http._prepare("POST", self.url, None, data, headers, self.auth)
            response = self.http._transport(prepared, timeout=self.http.timeout)
            status = response.status_code
            self.http.log_response(status, response)
            if status < 200 or status >= 300:
                raise twilio_failure(code=_error_code(response.content, status), http_status=status)
            return json.loads(response.content)
        except TRANSPORT_ERRORS as exc:
            raise transport_failure(exc) from None


@dataclass(frozen=True)
class MessageCreator:
    """Creates texts through one client: with its :class:`WrittenRequest` where it has one,
    else through ``client.messages.create``."""

    client: Any
    written: WrittenRequest | None

    @classmethod
    def of_client(cls, client: Any) -> MessageCreator:
        return cls(client=client, written=WrittenRequest.of_client(client))

    def create(
        self,
        *,
        to: str,
        from_: str | None,
        body: str,
        status_callback: str | None,
        idempotency_key: str,
        statuses: Mapping[str, DeliveryStatus],
        messaging_service_sid: str | None = None,
    ) -> SendResult:
        """Send one text; its sid and first status (Twilio's word mapped through
        ``statuses``, an unknown one still queued). With ``messaging_service_sid`` the
        request names the service, not a ``From`` (Twilio picks the number)."""
        if messaging_service_sid is not None:
            from_ = None
        if self.written is None:
            sender = {"from_": from_} if from_ is not None else {}
            service = {"messaging_service_sid": messaging_service_sid}
            return create_with_twilio(
                lambda: self.client.messages.create(
                    to=to,
                    body=body,
                    status_callback=status_callback,
                    **sender,
                    **(service if messaging_service_sid is not None else {}),
                ),
                idempotency_key=idempotency_key,
                statuses=statuses,
            )
        # The package's field order (``MessageList.create``); the form leaves ``None`` out.
        data: dict[str, object] = {
            "To": to,
            "StatusCallback": status_callback,
            "From": from_,
            "MessagingServiceSid": messaging_service_sid,
            "Body": body,
        }
        created = self.written.send(data, idempotency_key=idempotency_key)
        if not isinstance(created, dict) or not created.get("sid"):
            raise ChannelError(
                FailureReason.PROVIDER_DOWN, permanent=False, detail="answer without a sid"
            )
        raw_status = str(created.get("status", ""))
        return SendResult(
            provider_id=str(created["sid"]),
            status=statuses.get(raw_status, DeliveryStatus.QUEUED),
        )


def _error_code(content: bytes, status: int) -> int | float | str | None:
    """The code the package's ``TwilioRestException`` carries: the answer's ``code`` as the
    gateway wrote it (a number or a text), else the HTTP status (also when the answer is not
    JSON, or its code a list or an object, which the package could not look up)."""
    try:
        code = json.loads(content).get("code", status)
    except (ValueError, AttributeError):  # not JSON; JSON but not an object
        return status
    return code if code is None or isinstance(code, int | float | str) else status
