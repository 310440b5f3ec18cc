"""Staff sign-in: lock-out, expiry, revocation, scopes, console cookies with CSRF, OIDC."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.governance.conftest import PATIENT_A

from careloop.clock import FrozenClock
from careloop.runtime import Runtime
from careloop.security.auth import create_user
from careloop.security.oidc import OidcVerifier
from careloop.settings import OidcSettings

PASSWORD = "correct horse battery staple"


def _user(rt: Runtime, username: str = "nurse", role: str = "clinician") -> None:
    with rt.transaction() as session:
        create_user(session, clock=rt.clock, username=username, password=PASSWORD, role=role)


def test_failures_past_five_make_the_account_wait(
    rt: Runtime, api_client, clock: FrozenClock
) -> None:  # type: ignore[no-untyped-def]
    _user(rt)
    client = api_client(None)
    for _ in range(5):
        bad = client.post("/api/auth/token", json={"username": "nurse", "password": "wrong"})
        assert bad.status_code == 401
    good = {"username": "nurse", "password": PASSWORD}
    assert client.post("/api/auth/token", json=good).status_code == 401
    clock.advance(timedelta(seconds=2))  # the account's first back-off step is 1 s
    assert client.post("/api/auth/token", json=good).status_code == 200


def test_sign_in_is_rate_limited(rt: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    client = api_client(None)
    codes = [
        client.post("/api/auth/token", json={"username": f"u{i}", "password": "x"}).status_code
        for i in range(11)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429


def test_expired_and_revoked_tokens_are_refused(
    population: Runtime, api_client, clock: FrozenClock
) -> None:  # type: ignore[no-untyped-def]
    first = api_client("clinician")
    second = api_client("clinician")
    assert second.post("/api/auth/revoke").status_code == 204
    assert second.get(f"/api/patients/{PATIENT_A}").status_code == 401
    clock.advance(timedelta(hours=12, seconds=1))
    assert first.get(f"/api/patients/{PATIENT_A}").status_code == 401


def test_a_scope_narrowed_token_cannot_do_more(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    client = api_client("clinician", scopes=["patients:read"])
    assert client.get(f"/api/patients/{PATIENT_A}").status_code == 200
    assert client.get(f"/api/patients/{PATIENT_A}/consent").status_code == 403


def test_console_session_cookie_needs_csrf_for_changes(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    _user(population, "coordinator-1", "coordinator")
    client = api_client(None)
    signed_in = client.post(
        "/api/auth/session", json={"username": "coordinator-1", "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert client.get(f"/api/patients/{PATIENT_A}/consent").status_code == 200
    change = {"changes": [{"purpose": "surveys", "channel": "sms", "status": "granted"}]}
    url = f"/api/patients/{PATIENT_A}/consent"
    assert client.put(url, json=change).status_code == 403
    assert client.put(url, json=change, headers={"X-CSRF-Token": "forged"}).status_code == 403
    csrf = signed_in.json()["csrf_token"]
    assert client.put(url, json=change, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.delete("/api/auth/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get(url).status_code == 401


def test_a_session_cookie_is_no_bearer_token(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    _user(population, "coordinator-2", "coordinator")
    client = api_client(None)
    client.post("/api/auth/session", json={"username": "coordinator-2", "password": PASSWORD})
    token = client.cookies.get("careloop_console")
    client.cookies.clear()
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.fixture
def oidc_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(key: rsa.RSAPrivateKey) -> dict[str, object]:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}


def _id_token(key: rsa.RSAPrivateKey, now: datetime, **claims: object) -> str:
    payload = {
        "iss": "https://idp.example",
        "aud": "careloop",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "preferred_username": "oidc-nurse",
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


def test_an_oidc_token_signs_in_an_existing_account(
    rt: Runtime, api_client, oidc_key: rsa.RSAPrivateKey, clock: FrozenClock
) -> None:  # type: ignore[no-untyped-def]
    _user(rt, "oidc-nurse", "clinician")
    client = api_client(None)
    settings = OidcSettings(issuer="https://idp.example", audience="careloop")
    client.app.state.oidc_verifier = OidcVerifier(settings, jwks=_jwks(oidc_key))
    now = clock.now()
    good = _id_token(oidc_key, now)
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"})
    assert me.json()["role"] == "clinician"
    for bad in (
        _id_token(oidc_key, now, aud="someone-else"),
        _id_token(oidc_key, now, preferred_username="stranger"),
        _id_token(oidc_key, now - timedelta(hours=1)),
        _id_token(rsa.generate_private_key(public_exponent=65537, key_size=2048), now),
    ):
        answer = client.get("/api/auth/me", headers={"Authorization": f"Bearer {bad}"})
        assert answer.status_code == 401


def test_oidc_is_off_unless_configured() -> None:
    with pytest.raises(ValueError, match="issuer"):
        OidcVerifier(OidcSettings())
