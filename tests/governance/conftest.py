"""Fixtures for governance tests: a small population, portal helpers, keyed runtimes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from careloop.governance.portal import InMemoryCodeSender
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.settings import SecuritySettings, Settings

OPERATOR = Principal(actor="test:operator", role=Role.ADMIN, source="test")
SECRET = "test-secret-key-for-governance-0123456789"

PATIENT_A = "gov-pat-a"
PATIENT_B = "gov-pat-b"
PATIENT_DEAD = "gov-pat-dead"
CAREGIVER_A = "gov-rp-a"
A_PHONE = "+1 (555) 010-0101"
A_EMAIL = "Alma.Govtest@example.org"
CAREGIVER_PHONE = "+15550100109"


def _patient(
    pid: str, *, given: str, telecom: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:oid:9.9.9", "value": f"MRN-{pid}"}],
        "name": [{"family": "Govtest", "given": [given]}],
        "gender": "female",
        "birthDate": "1950-01-01",
        "telecom": telecom,
        **extra,
    }


def population_bundle() -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        _patient(
            PATIENT_A,
            given="Alma",
            telecom=[
                {"system": "phone", "value": A_PHONE, "use": "mobile"},
                {"system": "email", "value": A_EMAIL},
            ],
        ),
        _patient(PATIENT_B, given="Berta", telecom=[{"system": "phone", "value": "+15550100202"}]),
        _patient(
            PATIENT_DEAD,
            given="Dora",
            telecom=[{"system": "email", "value": "dora.govtest@example.org"}],
            deceasedDateTime="2010-05-01T00:00:00Z",
        ),
        {
            "resourceType": "RelatedPerson",
            "id": CAREGIVER_A,
            "patient": {"reference": f"Patient/{PATIENT_A}"},
            "name": [{"given": ["Carlos"], "family": "Govtest"}],
            "telecom": [{"system": "phone", "value": CAREGIVER_PHONE, "use": "mobile"}],
        },
        {
            "resourceType": "Observation",
            "id": "gov-obs-a",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": f"Patient/{PATIENT_A}"},
            "effectiveDateTime": "2025-03-01T10:00:00Z",
            "valueQuantity": {"value": 70, "unit": "kg"},
        },
        {
            "resourceType": "Observation",
            "id": "gov-obs-dead",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": f"Patient/{PATIENT_DEAD}"},
            "effectiveDateTime": "2009-03-01T10:00:00Z",
            "valueQuantity": {"value": 60, "unit": "kg"},
        },
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def load(rt: Runtime, tmp_path: Path, *extra: dict[str, Any]) -> None:
    bundle = population_bundle()
    bundle["entry"].extend({"resource": r} for r in extra)
    path = tmp_path / "population.json"
    path.write_bytes(orjson.dumps(bundle))
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[path],
        clock=rt.clock,
        principal=OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )
    assert not summary.rejected


@pytest.fixture
def population(rt: Runtime, tmp_path: Path) -> Runtime:
    """``rt`` with three patients (one deceased) and one caregiver imported."""
    load(rt, tmp_path)
    return rt


@pytest.fixture
def keyed_rt(rt: Runtime) -> Runtime:
    """``rt`` whose settings carry a configured secret key (needed for audit purges)."""
    settings = Settings(
        database_url=rt.settings.database_url, security=SecuritySettings(secret_key=SECRET)
    )
    return dataclasses.replace(rt, settings=settings)


@pytest.fixture
def sender() -> InMemoryCodeSender:
    return InMemoryCodeSender()


@pytest.fixture
def portal_client(population: Runtime, api_client, sender: InMemoryCodeSender):  # type: ignore[no-untyped-def]
    """``portal_client(system, value)``: sign in through the portal by code; a TestClient."""
    anonymous = api_client(None)
    anonymous.app.state.code_sender = sender

    def sign_in(system: str, value: str) -> Any:
        from fastapi.testclient import TestClient

        asked = anonymous.post("/api/portal/code", json={"system": system, "value": value})
        assert asked.status_code == 202
        code = sender.sent[-1][2]
        answer = anonymous.post(
            "/api/portal/verify",
            json={"challenge_id": asked.json()["challenge_id"], "code": code},
        )
        assert answer.status_code == 200, answer.text
        client = TestClient(anonymous.app, raise_server_exceptions=False)
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        return client

    return sign_in


def enrol(
    rt: Runtime, *, patient_id: str, system: str, value: str, caregiver_id: str | None = None
) -> None:
    from careloop.crypto import signing_key
    from careloop.governance.portal import enroll_portal_contact

    with rt.transaction() as session:
        enroll_portal_contact(
            session,
            key=signing_key(rt.settings),
            patient_id=patient_id,
            system=system,
            value=value,
            caregiver_id=caregiver_id,
            actor="test",
            clock=rt.clock,
        )


def count_audit(rt: Runtime) -> int:
    from sqlalchemy import func, select

    from careloop.models import AuditEvent

    with rt.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


Call = Callable[..., Any]
