"""The Twilio client's requests, built without ``requests``' generic preparation, go on the
wire exactly as ``requests`` would have prepared them (what a Twilio server reads)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st
from requests import PreparedRequest, Request, Response
from requests.adapters import BaseAdapter

from careloop.channels.twilio_http import _form, build_twilio_client, idempotency_token

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
