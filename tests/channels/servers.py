"""Real servers on loopback for the channel tests: a Twilio look-alike and our webhook side.

``FakeTwilio`` speaks the Messages and Calls APIs the way Twilio documents them (form-encoded
POSTs with Basic auth, JSON answers with ``SM``/``CA`` sids, Twilio-shaped errors for its
magic test numbers) and calls back: signed status callbacks, TwiML fetches and key presses.
``CareloopWebhooks`` is what the outreach layer will mount: it checks every signature with
``validate_twilio_request`` and hands the form to the channel parsers.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from careloop.channels.messages import DeliveryReport, InboundMessage, OutboundMessage
from careloop.channels.twilio_webhooks import (
    SIGNATURE_HEADER,
    parse_call_status,
    parse_inbound_sms,
    parse_message_status,
    validate_twilio_request,
)
from careloop.channels.voice_twilio import parse_gather_callback, render_call_twiml

API = "/2010-04-01/Accounts/{account_sid}"

# Twilio's magic "To" numbers for test credentials (twilio.com/docs/iam/test-credentials).
INVALID_NUMBER = "+15005550001"  # 21211
NOT_MOBILE = "+15005550009"  # 21614
OPTED_OUT = "+15005550004"  # 21610
UNDELIVERABLE = "+15005550006"  # accepted, then undelivered with 30003 (ours, for callbacks)


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it, by the ``twilio`` package's own validator."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def wait_for(predicate: Callable[[], bool], *, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class ServerThread:
    """One ASGI app served by uvicorn on 127.0.0.1 with a free port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        wait_for(lambda: self._server.started)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


@dataclass
class FakeTwilio:
    """State and behaviour of the Twilio look-alike."""

    account_sid: str
    auth_token: str
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests_seen: list[dict[str, Any]] = field(default_factory=list)
    forced_errors: list[tuple[int, int]] = field(default_factory=list)
    answered_by: dict[str, str] = field(default_factory=dict)
    """Per called number: what answering-machine detection reports (default ``human``)."""
    key_presses: dict[str, str] = field(default_factory=dict)
    """Per called number: the key the person presses when the menu plays."""
    twiml_heard: dict[str, str] = field(default_factory=dict)
    """Per call sid: the TwiML the call executed (fetched from Url or given inline)."""
    answer_delay_seconds: float = 0.0

    def app(self) -> Starlette:
        base = API.format(account_sid="{account_sid}")
        return Starlette(
            routes=[
                Route(f"{base}/Messages.json", self._create_message, methods=["POST"]),
                Route(f"{base}/Messages.json", self._list_messages, methods=["GET"]),
                Route(f"{base}/Calls.json", self._create_call, methods=["POST"]),
            ]
        )

    def fail_next(self, status: int, code: int) -> None:
        self.forced_errors.append((status, code))

    # --- the REST side -------------------------------------------------------------------

    def _authorized(self, request: Request, account_sid: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        header = request.headers.get("authorization", "")
        return account_sid == self.account_sid and secrets.compare_digest(
            header, f"Basic {expected}"
        )

    async def _common(self, request: Request) -> tuple[dict[str, str], str | None, Response | None]:
        account_sid = request.path_params["account_sid"]
        form = {k: str(v) for k, v in (await request.form()).items()}
        token = request.headers.get("i-twilio-idempotency-token")
        self.requests_seen.append(
            {
                "path": request.url.path,
                "form": form,
                "idempotency_token": token,
                "content_type": request.headers.get("content-type", ""),
            }
        )
        if not self._authorized(request, account_sid):
            return form, token, _error(401, 20003, "Authenticate")
        if self.forced_errors:
            status, code = self.forced_errors.pop(0)
            message = "Too Many Requests" if status == 429 else "Internal Server Error"
            return form, token, _error(status, code, message)
        return form, token, None

    async def _create_message(self, request: Request) -> Response:
        form, _token, early = await self._common(request)
        if early is not None:
            return early
        to = form.get("To", "")
        if to == INVALID_NUMBER or not to.startswith("+") or not to[1:].isdigit():
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to == NOT_MOBILE:
            return _error(400, 21614, f"'To' number {to} is not a valid mobile number")
        if to == OPTED_OUT:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' phone number is required.")
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        uri = f"{API.format(account_sid=self.account_sid)}/Messages/{sid}"
        body = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            # Through a Messaging Service, Twilio picks the From later: none in the answer.
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"{API.format(account_sid=self.account_sid)}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"{uri}.json",
        }
        self.messages[sid] = {
            **body,
            "status_callback": form.get("StatusCallback"),
            "date_created_iso": datetime.now(UTC).isoformat(),
        }
        if self.answer_delay_seconds:
            await asyncio.sleep(self.answer_delay_seconds)
        callback = form.get("StatusCallback")
        task = BackgroundTask(self._message_callbacks, sid, callback) if callback else None
        return JSONResponse(body, status_code=201, background=task)

    async def _list_messages(self, request: Request) -> Response:
        """``GET Messages.json?To=&From=&DateSent>=``: Twilio filters on the date only."""
        if not self._authorized(request, request.path_params["account_sid"]):
            return _error(401, 20003, "Authenticate")
        query = request.query_params
        self.requests_seen.append({"path": request.url.path, "query": dict(query)})
        since = (query.get("DateSent>") or "")[:10]
        found = [
            {k: v for k, v in m.items() if k not in ("status_callback", "date_created_iso")}
            for m in self.messages.values()
            if (query.get("To") in (None, m["to"]) and query.get("From") in (None, m["from"]))
            and m["date_created_iso"][:10] >= since
        ]
        page = {"messages": found, "next_page_uri": None, "page": 0, "page_size": 50}
        return JSONResponse(page)

    async def _create_call(self, request: Request) -> Response:
        form, _token, early = await self._common(request)
        if early is not None:
            return early
        if not form.get("Url") and not form.get("Twiml"):
            return _error(400, 21205, "Url parameter is required.")
        to = form.get("To", "")
        if to == INVALID_NUMBER or not to.startswith("+"):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        sid = "CA" + secrets.token_hex(16)
        body = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "sid": sid,
            "status": "queued",
            "to": to,
            "from": form.get("From"),
            "direction": "outbound-api",
            "uri": f"{API.format(account_sid=self.account_sid)}/Calls/{sid}.json",
        }
        self.calls[sid] = {**body, "form": form}
        return JSONResponse(body, status_code=201, background=BackgroundTask(self._run_call, sid))

    # --- the callback side -----------------------------------------------------------------

    async def _post_signed(self, url: str, params: dict[str, str]) -> httpx.Response:
        headers = {SIGNATURE_HEADER: twilio_signature(self.auth_token, url, params)}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, data=params, headers=headers)

    async def _message_callbacks(self, sid: str, url: str) -> None:
        message = self.messages[sid]
        base = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": str(message["from"]),
            "To": str(message["to"]),
            "MessageSid": sid,
            "SmsSid": sid,
        }
        for status in ("sent", "undelivered" if message["to"] == UNDELIVERABLE else "delivered"):
            params = {**base, "MessageStatus": status, "SmsStatus": status}
            if status == "undelivered":
                params["ErrorCode"] = "30003"
            await self._post_signed(url, params)

    async def _run_call(self, sid: str) -> None:
        call = self.calls[sid]
        form = call["form"]
        to = str(call["to"])
        base = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "From": str(call["from"]),
            "To": to,
            "Direction": "outbound-api",
        }
        if form.get("Url"):
            params = {**base, "CallStatus": "in-progress"}
            if form.get("MachineDetection"):
                params["AnsweredBy"] = self.answered_by.get(to, "human")
            answer = await self._post_signed(form["Url"], params)
            twiml = answer.text
        else:
            twiml = form["Twiml"]
        self.twiml_heard[sid] = twiml
        gather = ET.fromstring(twiml).find("Gather")
        if gather is not None and to in self.key_presses:
            digits = self.key_presses[to]
            await self._post_signed(
                gather.attrib["action"], {**base, "CallStatus": "in-progress", "Digits": digits}
            )
        if form.get("StatusCallback"):
            await self._post_signed(
                form["StatusCallback"], {**base, "CallStatus": "completed", "CallDuration": "31"}
            )

    async def send_inbound_sms(
        self, url: str, *, sender: str, to: str, body: str
    ) -> httpx.Response:
        sid = "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
        }
        return await self._post_signed(url, params)


@dataclass
class CareloopWebhooks:
    """Our side of the webhooks, built only from the channel package's public functions."""

    auth_token: str
    calls: dict[str, OutboundMessage] = field(default_factory=dict)
    """Outbound voice messages by the answer URL path code (what the outbox would look up)."""
    reports: list[DeliveryReport] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    rejected: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/twilio/status/{code}", self._status, methods=["POST"]),
                Route("/twilio/call-status/{code}", self._call_status, methods=["POST"]),
                Route("/twilio/inbound", self._inbound, methods=["POST"]),
                Route("/twilio/voice/{code}", self._answer, methods=["POST"]),
                Route("/twilio/gather/{code}", self._gather, methods=["POST"]),
            ]
        )

    async def _verified(self, request: Request) -> dict[str, str] | None:
        form = {k: str(v) for k, v in (await request.form()).items()}
        ok = validate_twilio_request(
            url=str(request.url),
            params=form,
            signature=request.headers.get(SIGNATURE_HEADER),
            auth_token=self.auth_token,
        )
        if not ok:
            self.rejected += 1
            return None
        return form

    async def _status(self, request: Request) -> Response:
        form = await self._verified(request)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        self.reports.append(parse_message_status(form, reported_at=datetime.now(UTC)))
        return Response(status_code=204)

    async def _call_status(self, request: Request) -> Response:
        form = await self._verified(request)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        self.reports.append(parse_call_status(form, reported_at=datetime.now(UTC)))
        return Response(status_code=204)

    async def _inbound(self, request: Request) -> Response:
        form = await self._verified(request)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        self.inbound.append(parse_inbound_sms(form, received_at=datetime.now(UTC)))
        return Response("<Response/>", media_type="application/xml")

    async def _answer(self, request: Request) -> Response:
        form = await self._verified(request)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        message = self.calls[request.path_params["code"]]
        twiml = render_call_twiml(message, answered_by=form.get("AnsweredBy"))
        return Response(twiml, media_type="application/xml")

    async def _gather(self, request: Request) -> Response:
        form = await self._verified(request)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        self.inbound.append(parse_gather_callback(form, received_at=datetime.now(UTC)))
        return Response("<Response><Hangup/></Response>", media_type="application/xml")


@dataclass
class FakeTwilioLookup:
    """Twilio Lookup v2 look-alike: ``GET /v2/PhoneNumbers/{number}`` with Basic auth,
    answering ``line_type_intelligence`` in Twilio's shape from ``line_types`` (a number
    not listed: ``type`` null with Twilio's error 60600, "unprovisioned or out of coverage").
    Records every request; corrects none."""

    account_sid: str
    auth_token: str
    line_types: dict[str, str] = field(default_factory=dict)
    requests_seen: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v2/PhoneNumbers/{number}", self._fetch)])

    async def _fetch(self, request: Request) -> Response:
        number = request.path_params["number"]
        self.requests_seen.append(
            {"number": number, "query": dict(request.query_params), "auth": _basic(request)}
        )
        if _basic(request) != (self.account_sid, self.auth_token):
            return _error(401, 20003, "Authenticate")
        kind = self.line_types.get(number)
        fields = request.query_params.get("Fields", "")
        intelligence = (
            {
                "error_code": None if kind else 60600,
                "mobile_country_code": "310" if kind == "mobile" else None,
                "mobile_network_code": "260" if kind == "mobile" else None,
                "carrier_name": "Example Carrier" if kind else None,
                "type": kind,
            }
            if "line_type_intelligence" in fields
            else None
        )
        return JSONResponse(
            {
                "calling_country_code": "1",
                "country_code": "US",
                "phone_number": number,
                "national_format": number,
                "valid": True,
                "validation_errors": [],
                "caller_name": None,
                "sim_swap": None,
                "call_forwarding": None,
                "line_type_intelligence": intelligence,
                "identity_match": None,
                "reassigned_number": None,
                "sms_pumping_risk": None,
                "url": f"https://lookups.twilio.com/v2/PhoneNumbers/{number}",
            }
        )


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    sid, _, token = base64.b64decode(header[6:]).decode().partition(":")
    return sid, token
