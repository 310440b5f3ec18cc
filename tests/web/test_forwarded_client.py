"""Behind a trusted reverse proxy each client is itself: its own sign-in limit and back-off,
its own address in the audit trail, ``Secure`` cookies behind TLS; an untrusted peer's
forwarding headers change nothing, and no header steers a link away from the public URL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from careloop.models import AuditEvent
from careloop.runtime import Runtime
from careloop.security.auth import create_user
from careloop.settings import SecuritySettings, WebSettings
from careloop.web.app import create_app
from careloop.web.forwarded import ProxyHeader, TrustedProxies, forwarded_client

PASSWORD = "correct horse battery staple"
PROXY = ("10.0.0.2", 41000)  # the proxy's connection
OUTSIDER = ("203.0.113.50", 41000)  # a peer that is no proxy of ours
PUBLIC = "https://care.example.org"
EVIL = {
    "Host": "evil.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/evil",
    "Forwarded": "for=192.0.2.1;host=evil.example;proto=https",
}


def _client(
    rt: Runtime, peer: tuple[str, int], *, header: str = "x-forwarded-for", public: bool = False
) -> TestClient:
    web = WebSettings.model_validate(
        {"trusted_proxies": ["10.0.0.0/8", "2001:db8:1::/48"], "proxy_header": header}
    )
    update: dict[str, Any] = {"web": web}
    if public:
        update["security"] = SecuritySettings(public_base_url=PUBLIC)
    app = create_app(replace(rt, settings=rt.settings.model_copy(update=update)))
    return TestClient(app, raise_server_exceptions=False, client=peer)


def _sign_in(client: TestClient, username: str, password: str, forwarded_for: str) -> int:
    body = {"username": username, "password": password}
    answer = client.post("/api/auth/token", json=body, headers={"X-Forwarded-For": forwarded_for})
    return answer.status_code


@pytest.fixture
def nurse(rt: Runtime) -> Runtime:
    with rt.transaction() as session:
        create_user(session, clock=rt.clock, username="nurse", password=PASSWORD, role="clinician")
    return rt


def test_one_guesser_behind_the_proxy_does_not_lock_out_everyone_else(nurse: Runtime) -> None:
    client = _client(nurse, PROXY)
    limit = nurse.settings.security.signin_per_minute

    guesses = [_sign_in(client, f"x{n}", "guess", "198.51.100.7") for n in range(limit + 1)]
    colleague = _sign_in(client, "nurse", PASSWORD, "198.51.100.8, 10.0.0.9")

    assert guesses == [401] * limit + [429]
    assert colleague == 200


def test_an_untrusted_peer_cannot_choose_its_address(nurse: Runtime) -> None:
    client = _client(nurse, OUTSIDER)
    limit = nurse.settings.security.signin_per_minute

    guesses = [_sign_in(client, f"x{n}", "guess", f"198.51.100.{n}") for n in range(limit + 1)]

    with nurse.transaction() as session:
        sources = set(session.scalars(select(AuditEvent.source)).all())
    assert guesses == [401] * limit + [429]
    assert sources == {OUTSIDER[0]}


@pytest.mark.parametrize(
    ("header", "forwarded"),
    [
        ("x-forwarded-for", {"X-Forwarded-For": "192.0.2.66, 198.51.100.7, 10.0.0.9"}),
        ("forwarded", {"Forwarded": 'for=192.0.2.66, for="198.51.100.7:5123";proto=https'}),
    ],
)
def test_the_audit_trail_records_the_client_not_the_proxy(
    nurse: Runtime, header: str, forwarded: dict[str, str]
) -> None:
    client = _client(nurse, PROXY, header=header)
    body = {"username": "nurse", "password": "guess"}

    assert client.post("/api/auth/token", json=body, headers=forwarded).status_code == 401

    with nurse.transaction() as session:
        [source] = session.scalars(select(AuditEvent.source)).all()
    assert source == "198.51.100.7"


@pytest.mark.parametrize("peer", [PROXY, OUTSIDER])
def test_no_forwarding_header_steers_a_link_from_the_public_url(
    rt: Runtime, peer: tuple[str, int]
) -> None:
    client = _client(rt, peer, public=True)

    capability = client.get("/fhir/metadata", headers=EVIL).json()
    smart = client.get("/fhir/.well-known/smart-configuration", headers=EVIL).json()

    assert capability["implementation"]["url"] == f"{PUBLIC}/fhir"
    assert smart["token_endpoint"] == f"{PUBLIC}/fhir/auth/token"


@pytest.mark.parametrize(("peer", "secure"), [(PROXY, True), (OUTSIDER, False)])
def test_session_cookies_are_secure_behind_a_tls_proxy_only(
    nurse: Runtime, peer: tuple[str, int], secure: bool
) -> None:
    client = _client(nurse, peer)
    body = {"username": "nurse", "password": PASSWORD}

    answer = client.post(
        "/api/auth/session",
        json=body,
        headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"},
    )

    cookies = answer.headers.get_list("set-cookie")
    assert answer.status_code == 200
    assert cookies
    assert all(("; secure" in c.lower()) is secure for c in cookies)


def _scope(*headers: tuple[str, str]) -> dict[str, Any]:
    return {"headers": [(k.lower().encode(), v.encode()) for k, v in headers]}


PROXIES = TrustedProxies(
    WebSettings.model_validate({"trusted_proxies": ["10.0.0.0/8"]}).trusted_proxies
)


@pytest.mark.parametrize(
    ("header", "headers", "expected"),
    [
        # Each proxy appends the address it saw: the right-most untrusted one is the client.
        (
            ProxyHeader.X_FORWARDED_FOR,
            [("X-Forwarded-For", "1.2.3.4, 198.51.100.7")],
            "198.51.100.7",
        ),
        (
            ProxyHeader.X_FORWARDED_FOR,
            [("X-Forwarded-For", "198.51.100.7, 10.1.2.3")],
            "198.51.100.7",
        ),
        (
            ProxyHeader.X_FORWARDED_FOR,
            [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "2001:DB8::7")],
            "2001:db8::7",
        ),
        (ProxyHeader.X_FORWARDED_FOR, [("X-Forwarded-For", "10.0.0.8, 10.0.0.9")], "10.0.0.8"),
        (ProxyHeader.X_FORWARDED_FOR, [("X-Forwarded-For", "unknown")], None),
        (ProxyHeader.X_FORWARDED_FOR, [("Forwarded", "for=198.51.100.7")], None),
        (
            ProxyHeader.FORWARDED,
            [("Forwarded", 'for="[2001:db8::7]:443";proto=https')],
            "2001:db8::7",
        ),
        (
            ProxyHeader.FORWARDED,
            [("Forwarded", "For=1.2.3.4, for=198.51.100.7:80")],
            "198.51.100.7",
        ),
        (ProxyHeader.FORWARDED, [("Forwarded", "for=_hidden")], None),
        (ProxyHeader.FORWARDED, [("X-Forwarded-For", "198.51.100.7")], None),
    ],
)
def test_the_client_is_the_right_most_address_not_a_trusted_proxy(
    header: ProxyHeader, headers: list[tuple[str, str]], expected: str | None
) -> None:
    client, _ = forwarded_client(_scope(*headers), proxies=PROXIES, header=header)

    assert client == expected
