"""Trying to break in: every endpoint without credentials, with the wrong role, across
patients; and every read of patient data leaves an audit event."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute
from tests.governance.conftest import (
    CAREGIVER_A,
    CAREGIVER_PHONE,
    PATIENT_A,
    PATIENT_B,
    count_audit,
    enrol,
)

from careloop.runtime import Runtime
from careloop.security.roles import PERMISSIONS, STAFF_ROLES, Role

PUBLIC = {
    ("POST", "/api/auth/token"),
    ("POST", "/api/auth/session"),
    ("POST", "/api/portal/code"),
    ("POST", "/api/portal/verify"),
    ("GET", "/unsubscribe/{token}"),
    ("POST", "/unsubscribe/{token}"),
    # The self-scheduling link: its signed, expiring token is the credential (no name shown).
    ("GET", "/portal/book/{token}"),
    ("POST", "/portal/book/{token}"),
    # The form-signing link: the same kind of signed, expiring token; the page shows no name,
    # and signing asks for the date of birth.
    ("GET", "/portal/forms/{token}"),
    ("POST", "/portal/forms/{token}"),
    ("GET", "/"),  # the landing page: links only, no data
    ("GET", "/health"),
    ("GET", "/fhir/metadata"),  # R4: the CapabilityStatement is how a client discovers auth
    ("GET", "/fhir/.well-known/smart-configuration"),
    ("POST", "/fhir/auth/token"),  # SMART: the client authenticates with its signed JWT
    ("GET", "/healthz"),
    ("GET", "/ready"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),  # aggregates only; CARELOOP_WEB__METRICS_TOKEN puts it behind a token
    ("GET", "/console/sign-in"),
    ("POST", "/console/sign-in"),
    ("GET", "/portal/sign-in"),
    ("POST", "/portal/sign-in"),
    ("POST", "/portal/verify"),
    ("GET", "/docs"),  # the API's documentation, no data (off in production)
}


def _refused(response: Any) -> bool:
    """401, or for a browser page a redirect to its sign-in page (never content)."""
    if response.status_code == 401:
        return True
    return response.status_code in (302, 303, 307) and response.headers.get("location", "").split(
        "?"
    )[0].endswith("/sign-in")


def _routes(app: Any) -> Iterator[tuple[str, APIRoute]]:
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path.startswith("/webhooks/"):
            continue
        for method in sorted(route.methods - {"HEAD"}):
            if (method, route.path) not in PUBLIC:
                yield method, route


def _url(path: str, patient_id: str = PATIENT_A) -> str:
    url = path.replace("{patient_id}", patient_id)
    return re.sub(r"\{[a-z_]+\}", "1", url)


def _permission(route: APIRoute) -> str | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        name = getattr(dep.call, "__name__", "")
        if name.startswith("require_"):
            module, _, action = name.removeprefix("require_").partition("_")
            return f"{module}:{action}"
        stack.extend(dep.dependencies)
    return None


def test_every_endpoint_refuses_anonymous_callers(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    client = api_client(None)
    client.follow_redirects = False
    checked = []
    for method, route in _routes(client.app):
        response = client.request(method, _url(route.path), json={})
        assert _refused(response), (method, route.path, response.status_code)
        checked.append(route.path)
    assert len(checked) >= 15


def test_webhooks_refuse_missing_and_forged_signatures(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    client = api_client(None)
    hooks = [
        r for r in client.app.routes if isinstance(r, APIRoute) and r.path.startswith("/webhooks/")
    ]
    for route in hooks:
        for method in sorted(route.methods - {"HEAD"}):
            form = {"From": "+15550100101", "Body": "STOP", "MessageSid": "SM1"}
            plain = client.request(method, _url(route.path), data=form)
            forged = client.request(
                method, _url(route.path), data=form, headers={"X-Twilio-Signature": "Zm9yZ2Vk"}
            )
            assert plain.status_code in (401, 403), (route.path, plain.status_code)
            assert forged.status_code in (401, 403), (route.path, forged.status_code)


def test_every_guarded_endpoint_refuses_the_wrong_role(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    clients = {role: api_client(str(role)) for role in STAFF_ROLES}
    refused = 0
    for method, route in _routes(clients[Role.ADMIN].app):
        permission = _permission(route)
        lacking = [
            r for r in sorted(STAFF_ROLES) if permission and permission not in PERMISSIONS[r]
        ]
        if not lacking:
            continue
        response = clients[lacking[0]].request(method, _url(route.path), json={})
        assert response.status_code == 403, (method, route.path, lacking[0], response.status_code)
        refused += 1
    assert refused >= 10


def test_patients_and_caregivers_never_reach_another_patients_data(
    population: Runtime, api_client, portal_client
) -> None:  # type: ignore[no-untyped-def]
    enrol(
        population,
        patient_id=PATIENT_A,
        system="sms",
        value=CAREGIVER_PHONE,
        caregiver_id=CAREGIVER_A,
    )
    patient = api_client("patient", patient_id=PATIENT_A)
    patient.post(
        f"/api/patients/{PATIENT_A}/proxy-grants",
        json={
            "caregiver_id": CAREGIVER_A,
            "scopes": ["record", "messages", "checkins", "readings", "preferences", "consent"],
        },
    )
    caregiver = portal_client("sms", CAREGIVER_PHONE)
    probed = 0
    for method, route in _routes(patient.app):
        if "{patient_id}" not in route.path:
            continue
        for client in (patient, caregiver):
            response = client.request(method, _url(route.path, PATIENT_B), json={})
            assert not 200 <= response.status_code < 300, (method, route.path)
            assert "Berta" not in response.text
        probed += 1
    assert probed >= 8


def _reader_for(permission: str | None) -> str:
    for role in (Role.CLINICIAN, Role.COORDINATOR, Role.ADMIN):
        if permission is None or permission in PERMISSIONS[role]:
            return str(role)
    raise AssertionError(permission)


def test_every_read_of_a_patient_is_audited(population: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    app = api_client(None).app
    audited = []
    for method, route in _routes(app):
        if method != "GET" or not route.path.startswith("/api/patients"):
            continue
        client = api_client(_reader_for(_permission(route)))
        before = count_audit(population)
        response = client.get(_url(route.path))
        if response.status_code == 200:
            assert count_audit(population) > before, route.path
            audited.append(route.path)
    assert {
        "/api/patients",
        "/api/patients/{patient_id}",
        "/api/patients/{patient_id}/consent",
        "/api/patients/{patient_id}/$export",
    } <= set(audited)
