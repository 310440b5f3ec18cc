"""Console and portal cookies apart, ``__Host-`` over https, login CSRF (issue 21, item 6)."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from careloop.clock import FrozenClock
from careloop.governance.portal import InMemoryCodeSender
from careloop.runtime import Runtime
from careloop.security.auth import create_user, issue_token
from careloop.settings import WebSettings
from careloop.web.app import create_app
from careloop.web.form_csrf import form_token
from tests.conftest import START
from tests.governance.conftest import A_PHONE, PATIENT_A, enrol, load

PASSWORD = "correct horse battery staple"


@pytest.fixture
def nurse(rt: Runtime) -> Runtime:
    with rt.transaction() as session:
        create_user(session, clock=rt.clock, username="nurse", password=PASSWORD, role="clinician")
    return rt


def _client(rt: Runtime, *, base_url: str = "http://testserver", **web: Any) -> TestClient:
    settings = rt.settings.model_copy(update={"web": WebSettings(**web)})
    app = create_app(dataclasses.replace(rt, settings=settings))
    return TestClient(app, base_url=base_url, follow_redirects=False)


def _portal_token(rt: Runtime) -> str:
    """A signed-in patient's portal token (user ``pat``, patient ``p-1``)."""
    with rt.transaction() as session:
        user = create_user(
            session,
            clock=rt.clock,
            username="pat",
            password=PASSWORD,
            role="patient",
            patient_id="p-1",
        )
        return issue_token(session, clock=rt.clock, user=user, kind="portal").token


def _form_token(client: TestClient) -> str:
    found = re.search(r'name="signin_csrf" value="([^"]+)"', client.get("/console/sign-in").text)
    assert found is not None
    return found.group(1)


def _sign_in(client: TestClient, token: str | None) -> Any:
    data = {"username": "nurse", "password": PASSWORD}
    if token is not None:
        data["signin_csrf"] = token
    return client.post("/console/sign-in", data=data)


def test_a_sign_in_form_posted_from_elsewhere_is_refused(nurse: Runtime) -> None:
    attacker_page = _client(nurse)  # no pre-session cookie: the form came from another site
    response = _sign_in(attacker_page, None)
    assert response.status_code == 403
    assert not response.headers.get_list("set-cookie") or all(
        "careloop_console=" not in c for c in response.headers.get_list("set-cookie")
    )
    forged = _sign_in(_client(nurse), "made-up-token")
    assert forged.status_code == 403


def test_a_token_from_another_browser_is_refused(nurse: Runtime) -> None:
    token = _form_token(_client(nurse))  # the attacker's own pre-session
    assert _sign_in(_client(nurse), token).status_code == 403


def test_the_console_cookie_is_its_own(nurse: Runtime) -> None:
    client = _client(nurse)
    response = _sign_in(client, _form_token(client))
    assert response.status_code == 303
    assert client.cookies.get("careloop_console")
    assert client.cookies.get("careloop_portal") is None
    assert client.get("/console/worklist").status_code == 200


def test_secure_connections_use_host_prefixed_strict_cookies(nurse: Runtime) -> None:
    client = _client(nurse, base_url="https://testserver")
    response = _sign_in(client, _form_token(client))
    assert response.status_code == 303
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
    for name in ("__Host-careloop_console", "__Host-careloop_console_csrf"):
        attributes = cookies[name]
        assert "secure" in attributes
        assert "path=/" in attributes
        assert "samesite=strict" in attributes
        assert "domain=" not in attributes
    assert "httponly" in cookies["__Host-careloop_console"]


def test_production_behind_a_tls_proxy_uses_host_prefixed_cookies(nurse: Runtime) -> None:
    client = _client(nurse, production=True)  # the app sees http; the browser is on https
    set_cookie = client.get("/console/sign-in").headers["set-cookie"].lower()
    assert set_cookie.startswith("__host-careloop_console_signin=")
    assert "secure" in set_cookie


def test_a_portal_token_is_no_console_session(nurse: Runtime) -> None:
    portal = _portal_token(nurse)
    client = _client(nurse)
    client.cookies.set("careloop_console", portal)
    assert client.get("/api/auth/me").status_code == 401
    client.cookies.clear()
    client.cookies.set("careloop_portal", portal)
    assert client.get("/api/auth/me").status_code == 200
    assert client.get("/console/worklist").status_code == 303  # to sign-in: not a console cookie


def test_a_console_session_ends_when_idle_and_at_its_absolute_lifetime(
    nurse: Runtime, clock: FrozenClock
) -> None:
    client = _client(nurse)
    assert _sign_in(client, _form_token(client)).status_code == 303
    for _ in range(20):  # 20 x 25 min of activity: 8 h 20 min, past the 8 h lifetime
        clock.advance(timedelta(minutes=25))
        if client.get("/api/auth/me").status_code != 200:
            break
    assert clock.now() - START >= timedelta(hours=8)
    assert client.get("/api/auth/me").status_code == 401

    assert _sign_in(client, _form_token(client)).status_code == 303
    assert client.get("/api/auth/me").status_code == 200
    clock.advance(timedelta(minutes=32))  # idle past 30 minutes
    assert client.get("/api/auth/me").status_code == 401


def test_a_portal_form_posted_without_its_csrf_token_gets_the_refusal_page(
    nurse: Runtime,
) -> None:
    """A portal form sent before the page's script added the CSRF header (a quick tap on a
    slow phone) is refused with the portal's 403 page; finding the page's language re-ran the
    same check and answered 500."""
    portal = _portal_token(nurse)
    client = _client(nurse)
    client.cookies.set("careloop_portal", portal)
    answer = client.post(
        "/portal/visits/book", data={"slot": "s-1"}, headers={"accept": "text/html"}
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")


def test_a_portal_code_only_signs_in_the_browser_that_asked_for_it(
    rt: Runtime, tmp_path: Path
) -> None:
    """Login CSRF on the portal: an attacker's own challenge and code, posted from another
    site into the victim's browser, must not sign the victim in to the attacker's account."""
    load(rt, tmp_path)
    enrol(rt, patient_id=PATIENT_A, system="sms", value=A_PHONE)
    sender = InMemoryCodeSender()
    attacker, victim = _client(rt), _client(rt)
    attacker.app.state.code_sender = sender
    form = attacker.post("/portal/sign-in", data={"system": "sms", "value": A_PHONE}).text
    challenge = re.search(r'name="challenge_id" value="([^"]+)"', form)
    token = re.search(r'name="signin_csrf" value="([^"]+)"', form)
    assert challenge is not None
    assert token is not None
    fields = {"challenge_id": challenge.group(1), "code": sender.sent[-1][2]}

    forged = victim.post("/portal/verify", data={**fields, "signin_csrf": token.group(1)})
    assert forged.status_code == 403
    assert victim.cookies.get("careloop_portal") is None
    own = attacker.post("/portal/verify", data={**fields, "signin_csrf": token.group(1)})
    assert own.status_code == 303
    assert attacker.cookies.get("careloop_portal")


def _signed_in_page(rt: Runtime) -> tuple[TestClient, str]:
    """A console browser after sign-in, and the CSRF token its page's forms carry."""
    client = _client(rt)
    assert _sign_in(client, _form_token(client)).status_code == 303
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/worklist").text)
    assert found is not None, "the page's forms carry no csrf_token field"
    return client, found.group(1)


def test_a_form_posted_before_htmx_has_loaded_takes_effect(nurse: Runtime) -> None:
    """Without htmx a form is a plain POST: no header, only fields. Its ``csrf_token``
    field is the token (it was refused with 403)."""
    client, token = _signed_in_page(nurse)
    answer = client.post("/console/sign-out", data={"csrf_token": token})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"
    assert client.get("/console/worklist").status_code == 303


def test_a_form_with_a_wrong_or_no_token_field_is_still_refused(nurse: Runtime) -> None:
    client, token = _signed_in_page(nurse)
    wrong = token[:-1] + ("1" if token.endswith("0") else "0")  # never the token itself
    for data in ({"csrf_token": wrong}, {"csrf_token": ""}, {}):
        assert client.post("/console/sign-out", data=data).status_code == 403
    assert client.get("/console/worklist").status_code == 200


def test_a_csrf_header_beyond_ascii_is_refused_not_answered_500(nurse: Runtime) -> None:
    client, _ = _signed_in_page(nurse)
    plain = TestClient(client.app, follow_redirects=False, raise_server_exceptions=False)
    plain.cookies = client.cookies
    answer = plain.post("/console/sign-out", headers={"x-csrf-token": "\u00e9".encode("latin-1")})
    assert answer.status_code == 403


def test_a_sign_in_token_beyond_ascii_is_refused_not_answered_500(nurse: Runtime) -> None:
    client = _client(nurse)
    _form_token(client)  # the pre-session cookie
    plain = TestClient(client.app, follow_redirects=False, raise_server_exceptions=False)
    plain.cookies = client.cookies
    answer = plain.post(
        "/console/sign-in", data={"username": "nurse", "password": PASSWORD, "signin_csrf": "é"}
    )
    assert answer.status_code == 403


@given(
    st.dictionaries(st.text(min_size=1).filter(lambda k: k != "csrf_token"), st.text(), max_size=5),
    st.text(min_size=1),
)
def test_the_form_token_is_found_among_any_other_fields(fields: dict[str, str], token: str) -> None:
    assert form_token(urlencode({**fields, "csrf_token": token}).encode()) == token
    assert form_token(urlencode(fields).encode()) is None


@pytest.mark.parametrize(
    "body",
    [
        b"csrf_token=%C4%80",  # a character beyond Latin-1 once percent-decoded as UTF-8
        b"&".join([b"f=1"] * 1001) + b"&csrf_token=x",  # more fields than parse_qs allows
    ],
)
def test_a_form_with_an_odd_token_field_is_refused_not_answered_500(
    nurse: Runtime, body: bytes
) -> None:
    client, _ = _signed_in_page(nurse)
    plain = TestClient(client.app, follow_redirects=False, raise_server_exceptions=False)
    plain.cookies = client.cookies
    answer = plain.post(
        "/console/sign-out",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 403
    assert plain.get("/console/worklist").status_code == 200
