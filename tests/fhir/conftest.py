"""careloop's FHIR server on a real socket (uvicorn) for real FHIR clients, and the
``fhir.resources`` check every response goes through."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import uvicorn
from fhir.resources.R4B import get_fhir_model_class

from careloop.clock import SystemClock
from careloop.runtime import Runtime
from careloop.security.auth import create_user, issue_token
from careloop.web.app import create_app


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` after checking it against the R4 structure definitions (R4B models,
    structurally identical for every type served); a Bundle's entries are checked too."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for entry in resource.get("entry", []) if resource["resourceType"] == "Bundle" else []:
        if "resource" in entry:
            valid(entry["resource"])
    return resource


@dataclass
class FhirServer:
    url: str  # the FHIR base, ending in /fhir
    rt: Runtime
    tokens: dict[str, str]
    exports_paused: threading.Event = field(default_factory=threading.Event)

    def token(self, role: str, *, patient_id: str | None = None) -> str:
        key = f"{role}:{patient_id}"
        if key not in self.tokens:
            with self.rt.transaction() as session:
                user = create_user(
                    session,
                    clock=self.rt.clock,
                    username=f"fhir-{role}-{len(self.tokens)}",
                    password=None,
                    role=role,
                    patient_id=patient_id,
                )
                self.tokens[key] = issue_token(session, clock=self.rt.clock, user=user).token
        return self.tokens[key]

    def http(self, role: str, *, patient_id: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(role, patient_id=patient_id)}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def fhir_server(rt: Runtime) -> Iterator[FhirServer]:
    yield from _serve(rt)


@pytest.fixture
def wall_clock_fhir_server(rt: Runtime) -> Iterator[FhirServer]:
    """The server on the wall clock, for a client process (the CLI) that signs with it."""
    yield from _serve(replace(rt, clock=SystemClock()))


def _serve(rt: Runtime) -> Iterator[FhirServer]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(rt), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    served = FhirServer(f"http://127.0.0.1:{port}/fhir", rt, {})
    stop = threading.Event()
    worker = threading.Thread(target=_export_worker, args=(served, stop), daemon=True)
    worker.start()
    yield served
    stop.set()
    worker.join(timeout=10)
    server.should_exit = True
    thread.join(timeout=10)


def _export_worker(served: FhirServer, stop: threading.Event) -> None:
    """What ``careloop serve``'s in-process worker does for Bulk Data: write the exports
    kicked off (the ``fhir-exports`` job's body), unless a test holds it."""
    from careloop.fhir.bulk import pending_exports
    from careloop.fhir.export_jobs import run_exports

    while not stop.wait(0.05):
        if served.exports_paused.is_set():
            continue
        with served.rt.transaction() as session:
            waiting = pending_exports(session)
        if waiting:
            run_exports(served.rt)


MRN = "urn:careloop:test"


def add_patients(rt: Runtime, tmp_path: Any, *ids: str) -> None:
    """Import Patient resources with an MRN, a name, a birth date and a phone number."""
    import orjson

    from careloop.records.importer import import_paths
    from careloop.security.principal import CLI_OPERATOR

    entries = [
        {
            "resource": {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [{"system": MRN, "value": pid}],
                "gender": "female",
                "birthDate": f"19{50 + n:02d}-03-01",
                "name": [{"family": f"Family{n}", "given": ["Pat"]}],
                "telecom": [{"system": "phone", "value": f"+1617555{n:04d}"}],
            }
        }
        for n, pid in enumerate(ids)
    ]
    path = tmp_path / f"patients-{ids[0]}.json"
    path.write_bytes(
        orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
    )
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[path],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )
    assert summary.read_anything
