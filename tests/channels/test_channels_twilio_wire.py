"""The Twilio client's requests, built without ``requests``' generic preparation, go on the
wire exactly as ``requests`` would have prepared them (what a Twilio server reads); a text
written by :class:`MessageCreator` goes out exactly as the ``twilio`` package sends it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from requests import PreparedRequest, Request, Response
from requests.adapters import BaseAdapter
from twilio.rest import Client

from careloop.channels.errors import ChannelError
from careloop.channels.messages import SendResult
from careloop.channels.settings import TWILIO_API_BASE
from careloop.channels.sms_twilio import TWILIO_MESSAGE_STATUS
from careloop.channels.twilio_http import _form, build_twilio_client, idempotency_token
from careloop.channels.twilio_messages import MessageCreator

ACCOUNT = "AC00000000000000000000000000000000"


class Capture(BaseAdapter):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[PreparedRequest] = []
        self.settings: list[dict[str, Any]] = []

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        self.seen.append(request)
        self.settings.append(kwargs)
        response = Response()
        listing = request.method == "GET"
        response.status_code = 200 if listing else 201
        response._content = (
            b'{"messages": [], "next_page_uri": null, "page": 0, "page_size": 20}'
            if listing
            else b'{"sid": "SM1", "status": "queued"}'
        )
        response.encoding = "utf-8"
        response.request = request
        return response


def _as_requests_prepares(client: Any, sent: PreparedRequest) -> PreparedRequest:
    """What ``Session.prepare_request`` makes of the same call."""
    http = client.http_client
    last = http._test_only_last_request
    return http.session.prepare_request(
        Request(
            method=last.method,
            url=last.url,
            params=last.params,
            data=last.data,
            headers=last.headers,
            auth=last.auth,
        )
    )


def _wire(request: PreparedRequest) -> tuple[Any, ...]:
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    return request.method, request.url, dict(request.headers), body


def test_a_send_and_a_list_go_out_as_requests_would_prepare_them() -> None:
    client = build_twilio_client(
        account_sid=ACCOUNT, auth_token="secret", base_url="https://gw.example/twilio"
    )
    capture = Capture()
    client.http_client.session.mount("https://", capture)
    with idempotency_token("bench:7"):
        client.messages.create(
            to="+16175550199",
            from_="+15550000001",
            body="Tu cita es mañana & trae tu tarjeta: 100% listo?",
            media_url=["https://a.example/1.png", "https://a.example/2.png"],
        )
    sent = capture.seen[-1]
    assert _wire(sent) == _wire(_as_requests_prepares(client, sent))
    assert sent.url == f"https://gw.example/twilio/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert sent.headers["I-Twilio-Idempotency-Token"] == "bench:7"

    client.messages.list(to="+16175550199", from_="+15550000001", limit=20)
    listed = capture.seen[-1]
    assert _wire(listed) == _wire(_as_requests_prepares(client, listed))
    assert "To=%2B16175550199" in (listed.url or "")


VALUES = st.one_of(
    st.none(), st.text(), st.integers(), st.booleans(), st.floats(allow_nan=False), st.binary()
)


@given(st.dictionaries(st.text(min_size=1), st.one_of(VALUES, st.lists(VALUES, max_size=3))))
def test_a_form_body_is_encoded_as_urlencode_encodes_it(fields: dict[str, Any]) -> None:
    """Any text (accents, emoji, reserved characters), numbers, bytes and repeated keys: the
    body Twilio parses is byte for byte what ``requests`` would have sent."""
    pairs = [
        (key, value)
        for key, values in fields.items()
        for value in (values if isinstance(values, list) else [values])
        if value is not None
    ]
    assert _form(fields) == urlencode(pairs, doseq=True)


def test_a_send_reaches_the_transport_as_the_session_would_hand_it_over() -> None:
    """The client calls the session's transport adapter itself (no redirect to follow):
    the same request object, the same settings (timeout, TLS verification, proxies, not
    streamed) that ``Session.send`` would pass, and the answer's body already read."""
    client = build_twilio_client(
        account_sid=ACCOUNT, auth_token="secret", base_url="https://gw.example/twilio", timeout=7
    )
    capture = Capture()
    client.http_client.session.mount("https://", capture)
    created = client.messages.create(to="+16175550199", from_="+15550000001", body="Hola")
    assert created.sid == "SM1"
    sent, settings = capture.seen[-1], capture.settings[-1]
    session = client.http_client.session
    session.send(sent, allow_redirects=False, timeout=7, proxies=client.http_client.proxy)
    assert capture.seen[-1] is sent
    assert settings == capture.settings[-1]
    assert settings["stream"] is False
    assert settings["timeout"] == 7


def test_session_and_request_headers_merge_as_requests_merges_them() -> None:
    """The request's headers win over the session's whatever their case, ``None`` drops one,
    and the order is the session's then the request's new ones."""
    client = build_twilio_client(account_sid=ACCOUNT, auth_token="secret")
    session = client.http_client.session
    session.headers.update({"X-Session": "s", "X-Dropped": "d", "accept": "text/plain"})
    prepared = client.http_client._prepare(
        "POST",
        "https://api.twilio.com/x",
        None,
        {"A": "1"},
        {"Accept": "application/json", "x-dropped": None, "X-New": "n"},
        ("u", "p"),
    )
    expected = session.prepare_request(
        Request(
            method="POST",
            url="https://api.twilio.com/x",
            data={"A": "1"},
            headers={"Accept": "application/json", "x-dropped": None, "X-New": "n"},
            auth=("u", "p"),
        )
    )
    assert list(prepared.headers.items()) == list(expected.headers.items())
    assert "X-Dropped" not in prepared.headers


class Answering(Capture):
    """Records every request and answers each with the same status and body."""

    def __init__(self, status: int, content: bytes) -> None:
        super().__init__()
        self.status, self.content = status, content

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        response = super().send(request, **kwargs)
        response.status_code, response._content = self.status, self.content
        return response


def _both(adapter: Capture, *, base_url: str = "https://gw.example/twilio") -> tuple[Any, Any]:
    """A package client and the creator made from it, both on ``adapter``."""
    client = build_twilio_client(account_sid=ACCOUNT, auth_token="secret", base_url=base_url)
    client.http_client.session.mount("https://", adapter)
    creator = MessageCreator.of_client(client)
    assert creator.written is not None
    return client, creator


TEXTS = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@given(
    to=TEXTS,
    sender=TEXTS,
    body=TEXTS,
    callback=st.one_of(st.none(), TEXTS.map(lambda t: f"https://cb.example/s/{t}")),
    key=TEXTS,
)
def test_a_text_goes_on_the_wire_byte_for_byte_as_the_twilio_package_sends_it(
    to: str, sender: str, body: str, callback: str | None, key: str
) -> None:
    """The same method, URL, headers in the same order, form body and transport settings as
    ``client.messages.create`` under the idempotency header: whatever the text (accents,
    emoji, ``&``, ``=``, ``+``), with or without a status callback."""
    capture = Capture()
    client, creator = _both(capture)
    with idempotency_token(key):
        client.messages.create(to=to, from_=sender, body=body, status_callback=callback)
    creator.create(
        to=to,
        from_=sender,
        body=body,
        status_callback=callback,
        idempotency_key=key,
        statuses=TWILIO_MESSAGE_STATUS,
    )
    package, lean = capture.seen
    assert _wire(lean) == _wire(package)
    assert list(lean.headers.items()) == list(package.headers.items())
    assert capture.settings[1] == capture.settings[0]


@given(to=TEXTS, body=TEXTS, key=TEXTS)
def test_a_text_through_a_messaging_service_goes_on_the_wire_as_the_package_sends_it(
    to: str, body: str, key: str
) -> None:
    """``MessagingServiceSid`` where the package puts it, and no ``From`` at all."""
    capture = Capture()
    client, creator = _both(capture)
    service = "MG" + "0123456789abcdef" * 2
    with idempotency_token(key):
        client.messages.create(to=to, messaging_service_sid=service, body=body)
    creator.create(
        to=to,
        from_="+15017122661",
        body=body,
        status_callback=None,
        idempotency_key=key,
        statuses=TWILIO_MESSAGE_STATUS,
        messaging_service_sid=service,
    )
    package, lean = capture.seen
    assert _wire(lean) == _wire(package)
    assert "From=" not in str(_wire(lean)[3])


def test_the_region_and_edge_of_the_environment_move_the_text_as_they_move_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    capture = Capture()
    client, creator = _both(capture, base_url=TWILIO_API_BASE)
    with idempotency_token("k"):
        client.messages.create(to="+16175550199", from_="+15550000001", body="Hola")
    creator.create(
        to="+16175550199",
        from_="+15550000001",
        body="Hola",
        status_callback=None,
        idempotency_key="k",
        statuses=TWILIO_MESSAGE_STATUS,
    )
    package, lean = capture.seen
    assert (
        lean.url
        == package.url
        == (f"https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    )


ANSWERS = [
    (400, b'{"code": 21211, "message": "Invalid To", "status": 400}'),
    (400, b'{"code": 21610, "message": "unsubscribed"}'),
    (401, b'{"code": 20003, "message": "Authenticate"}'),
    (404, b"not json"),
    (429, b'{"message": "slow down"}'),
    (500, b""),
    (503, b'{"code": null}'),
    (201, b"<html>not json</html>"),
    (201, b'{"status": "queued"}'),
    (201, b'{"sid": "SM1", "status": "accepted"}'),
    (201, b'{"sid": "SM2", "status": "a new word"}'),
    (200, b'{"sid": "SM3", "status": "failed"}'),
]


@pytest.mark.parametrize(("status", "content"), ANSWERS)
def test_every_answer_reads_as_the_package_reads_it(status: int, content: bytes) -> None:
    """Errors carry the same reason, permanence and provider code (the answer's ``code``, else
    the HTTP status); a created text the same sid and status."""
    client, creator = _both(Answering(status, content))

    def outcome(send: Callable[[], SendResult]) -> object:
        try:
            return send()
        except ChannelError as exc:
            return (exc.reason, exc.permanent, exc.provider_code, exc.detail)

    fields: dict[str, Any] = {
        "to": "+16175550199",
        "from_": "+15550000001",
        "body": "Hola",
        "status_callback": None,
        "idempotency_key": "k",
        "statuses": TWILIO_MESSAGE_STATUS,
    }
    package = outcome(lambda: MessageCreator(client=client, written=None).create(**fields))
    lean = outcome(lambda: creator.create(**fields))
    assert lean == package


def test_a_client_that_is_not_ours_sends_through_the_package() -> None:
    """A plain ``twilio`` client (no base-URL rewrite of ours) keeps the package's path."""
    assert MessageCreator.of_client(Client(ACCOUNT, "secret")).written is None


def test_a_process_that_only_texts_never_loads_the_packages_generated_api() -> None:
    """Building the SMS adapter and sending a text load none of the ``twilio`` package's
    generated REST modules (every resource of the account's API: ~25 ms of CPU that a
    crashed worker's replacement paid before its first text); a look-up of a send in doubt
    still goes through the package."""
    code = """
import sys
from tests.channels.test_channels_twilio_wire import ACCOUNT, Capture
from careloop.channels.messages import ChannelKind, OutboundMessage
from careloop.channels.settings import SmsSender
from careloop.channels.sms_twilio import TwilioSmsChannel
from careloop.channels.twilio_http import build_twilio_client
client = build_twilio_client(account_sid=ACCOUNT, auth_token="secret")
client.http_client.session.mount("https://", Capture())
channel = TwilioSmsChannel(client=client, senders=[SmsSender(number="+15550000001")])
sent = channel.send(
    OutboundMessage(channel=ChannelKind.SMS, to="+16175550199", body="Hola", idempotency_key="k")
)
print(sent.provider_id, sorted(m for m in sys.modules if m.startswith("twilio.rest.api")))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.split(maxsplit=1) == ["SM1", "[]\n"]
