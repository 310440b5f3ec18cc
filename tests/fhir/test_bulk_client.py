"""``careloop import --from-fhir URL``: the Bulk Data client pulls another server's $export
with SMART backend-services auth (here a second careloop on a real socket) and imports it."""

from __future__ import annotations

from pathlib import Path

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from careloop.cli import app as cli
from careloop.records.service import patient_ids
from careloop.runtime import open_runtime
from careloop.security.smart import register_client
from careloop.settings import Settings
from tests.fhir.conftest import FhirServer, add_patients


def test_import_from_fhir_pulls_an_export_with_a_signed_jwt(
    wall_clock_fhir_server: FhirServer, tmp_path: Path
) -> None:
    server = wall_clock_fhir_server
    add_patients(server.rt, tmp_path, "ehr-1", "ehr-2", "ehr-3")
    private = ec.generate_private_key(ec.SECP384R1())
    public = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    with server.rt.transaction() as session:
        register_client(
            session,
            clock=server.rt.clock,
            client_id="careloop-pull",
            name="careloop",
            jwks={"keys": [public | {"kid": "k1"}]},
            scopes=["system/*.read"],
        )
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    target = f"sqlite:///{tmp_path / 'pulled.db'}"
    args = ["import", "--from-fhir", server.url, "--client-id", "careloop-pull"]
    done = CliRunner().invoke(
        cli, [*args, "--key", str(pem), "--kid", "k1", "--database", target, "--json"]
    )
    assert done.exit_code == 0, done.output
    summary = orjson.loads(done.stdout)
    assert (summary["patients"], summary["resources"]["Patient"]) == (3, 3)
    assert summary["rejected"] == []
    pulled = open_runtime(settings=Settings(database_url=target))
    with pulled.transaction() as session:
        assert patient_ids(session) == ["ehr-1", "ehr-2", "ehr-3"]
    pulled.close()


def test_import_from_fhir_without_credentials_is_one_line_and_exit_2(tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'x.db'}"
    done = CliRunner().invoke(
        cli, ["import", "--from-fhir", "http://127.0.0.1:9/fhir", "--database", target]
    )
    assert done.exit_code == 2
    assert "--client-id" in done.output
    assert "Traceback" not in done.output
