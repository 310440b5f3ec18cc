"""SMART Backend Services: a system client signs a JWT (RS384 or ES384) with its private
key, trades it for a bearer token at the token endpoint (the real ``fhirclient`` does the
exchange), and is then held to its ``system/`` scopes per resource type."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fhirclient import client
from fhirclient.models.patient import Patient
from typer.testing import CliRunner

from careloop.cli import app as cli
from careloop.models import AuditEvent
from careloop.security.smart import register_client
from tests.feedback.loop_payloads import glucose
from tests.fhir.conftest import FhirServer, add_patients, valid


def _keys(kind: str) -> tuple[Any, dict[str, Any], str]:
    if kind == "RS384":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = ec.generate_private_key(ec.SECP384R1())
        public = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    public.update(kid=f"{kind}-1", alg=kind, use="sig")
    return private, {"keys": [public]}, kind


def _register(server: FhirServer, client_id: str, jwks: dict[str, Any], *scopes: str) -> None:
    with server.rt.transaction() as session:
        register_client(
            session,
            clock=server.rt.clock,
            client_id=client_id,
            name=client_id,
            jwks=jwks,
            scopes=list(scopes),
        )


def _assertion(server: FhirServer, client_id: str, private: Any, alg: str, **changes: Any) -> str:
    now = server.rt.clock.now()
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": server.url + "/auth/token",
        "exp": int((now + timedelta(minutes=4)).timestamp()),
        "jti": uuid.uuid4().hex,
    } | changes
    return jwt.encode(claims, private, algorithm=alg, headers={"kid": f"{alg}-1"})


def _token(server: FhirServer, assertion: str, scope: str) -> httpx.Response:
    return httpx.post(
        server.url + "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": scope,
        },
    )


def test_fhirclient_authenticates_with_a_signed_jwt_and_reads(
    fhir_server: FhirServer, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "sys-1")
    private, jwks, alg = _keys("RS384")
    _register(fhir_server, "ehr-sync", jwks, "system/*.read")
    smart = client.FHIRClient(
        settings={
            "app_id": "ehr-sync",
            "api_base": fhir_server.url + "/",
            "jwt_token": _assertion(fhir_server, "ehr-sync", private, alg),
            "scope": "system/*.read",
        }
    )
    smart.prepare()
    smart.authorize()
    assert smart.ready
    assert Patient.read("sys-1", smart.server).id == "sys-1"
    with fhir_server.rt.transaction() as session:
        read = session.query(AuditEvent).filter(AuditEvent.resource == "fhir:Patient").one()
    assert read.actor.startswith("user:")


def test_scopes_are_enforced_per_resource_type(
    fhir_server: FhirServer, clock: Any, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "sys-2")
    private, jwks, alg = _keys("ES384")
    _register(fhir_server, "lab-feed", jwks, "system/Observation.rs", "system/Observation.c")
    issued = _token(
        fhir_server,
        _assertion(fhir_server, "lab-feed", private, alg),
        "system/Observation.rs system/Observation.c system/Patient.read",
    )
    assert issued.status_code == 200
    assert issued.json()["scope"] == "system/Observation.rs system/Observation.c"
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    with httpx.Client(base_url=fhir_server.url, headers=headers) as http:
        observations = http.get("/Observation")
        patients = http.get("/Patient")
        created = http.post("/Observation", json=glucose("sys-2", 100, clock.now()))
    assert observations.status_code == 200
    assert patients.status_code == 403
    assert valid(patients.json())["issue"][0]["code"] == "forbidden"
    assert created.status_code == 201


def test_bad_assertions_are_invalid_client(fhir_server: FhirServer) -> None:
    private, jwks, alg = _keys("RS384")
    other, _other_jwks, _ = _keys("RS384")
    _register(fhir_server, "ehr-2", jwks, "system/*.read")
    replayed = _assertion(fhir_server, "ehr-2", private, alg)
    assert _token(fhir_server, replayed, "system/*.read").status_code == 200
    answers = {
        "replayed": _token(fhir_server, replayed, "system/*.read"),
        "wrong key": _token(
            fhir_server, _assertion(fhir_server, "ehr-2", other, alg), "system/*.read"
        ),
        "expired": _token(
            fhir_server,
            _assertion(
                fhir_server,
                "ehr-2",
                private,
                alg,
                exp=int(fhir_server.rt.clock.now().timestamp()) - 1,
            ),
            "system/*.read",
        ),
        "wrong audience": _token(
            fhir_server,
            _assertion(fhir_server, "ehr-2", private, alg, aud="https://elsewhere/token"),
            "system/*.read",
        ),
        "HS256": _token(
            fhir_server,
            jwt.encode(
                {"iss": "ehr-2", "sub": "ehr-2"},
                "a shared secret that is long enough for HS256",
                algorithm="HS256",
                headers={"kid": "RS384-1"},
            ),
            "system/*.read",
        ),
        "unknown client": _token(
            fhir_server, _assertion(fhir_server, "nobody", private, alg), "system/*.read"
        ),
    }
    refusals = {k: (r.status_code, r.json()["error"]) for k, r in answers.items()}
    assert refusals == dict.fromkeys(answers, (401, "invalid_client"))
    not_allowed = _token(
        fhir_server, _assertion(fhir_server, "ehr-2", private, alg), "system/Observation.c"
    )
    assert (not_allowed.status_code, not_allowed.json()["error"]) == (400, "invalid_scope")


def test_a_client_is_registered_from_the_command_line(
    fhir_server: FhirServer, tmp_path: Path
) -> None:
    _private, jwks, _alg = _keys("ES384")
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(jwks))
    url = fhir_server.rt.settings.database_url
    args = ["fhir", "clients", "add", "--client-id", "cli-client", "--jwks", str(path)]
    done = CliRunner().invoke(cli, [*args, "--scope", "system/*.read", "--database", url, "--json"])
    private_jwks = tmp_path / "private.json"
    private_jwks.write_bytes(orjson.dumps({"keys": [dict(jwks["keys"][0], kid="x", d="secret")]}))
    refused = CliRunner().invoke(
        cli,
        [
            "fhir",
            "clients",
            "add",
            "--client-id",
            "c2",
            "--jwks",
            str(private_jwks),
            "--scope",
            "system/*.read",
            "--database",
            url,
        ],
    )
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout) == {"client_id": "cli-client", "scopes": ["system/*.read"]}
    assert refused.exit_code == 2
    assert "private key material" in refused.output
