"""An EHR that reaches careloop through a reverse proxy is handed the public address in every
link (``fullUrl``, paging, ``Location``, the SMART token endpoint), never the internal host the
proxy forwards to: it pages a search to its end and follows a ``Location`` through the proxy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from fhirclient import client
from fhirclient.models.bundle import Bundle
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient

from careloop.clock import FrozenClock
from careloop.runtime import Runtime
from careloop.settings import SecuritySettings
from tests.feedback.loop_payloads import glucose
from tests.fhir.conftest import FhirServer, _serve, add_patients

PUBLIC = "https://ehr-gateway.example.org/careloop"


class _ReverseProxy(requests.adapters.HTTPAdapter):
    """The proxy in front of careloop: the public address forwarded to the internal one; it
    keeps every URL the client asked for."""

    def __init__(self, internal: str) -> None:
        super().__init__()
        self.internal = internal
        self.asked: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        self.asked.append(request.url)
        request.url = request.url.replace(PUBLIC, self.internal, 1)
        return super().send(request, **kwargs)


@pytest.fixture
def proxied_server(rt: Runtime) -> Iterator[FhirServer]:
    public = SecuritySettings(public_base_url=PUBLIC + "/")
    yield from _serve(replace(rt, settings=rt.settings.model_copy(update={"security": public})))


def _ehr(server: FhirServer) -> tuple[client.FHIRClient, _ReverseProxy]:
    smart = client.FHIRClient(settings={"app_id": "ehr", "api_base": PUBLIC + "/fhir/"})
    proxy = _ReverseProxy(server.url.removesuffix("/fhir"))
    smart.server.session.mount(PUBLIC, proxy)
    smart.server.session.headers["Authorization"] = f"Bearer {server.token('clinician')}"
    return smart, proxy


def test_an_ehr_behind_a_proxy_pages_a_search_through_the_public_address(
    proxied_server: FhirServer, tmp_path: Path
) -> None:
    ids = [f"px-{n}" for n in range(5)]
    add_patients(proxied_server.rt, tmp_path, *ids)
    smart, proxy = _ehr(proxied_server)

    first = next(Patient.where({"_count": "2"}).perform_iter(smart.server))
    found = list(Patient.where({"_count": "2"}).perform_resources_iter(smart.server))

    assert isinstance(first, Bundle)
    assert first.entry is not None
    assert first.link is not None
    assert {e.fullUrl for e in first.entry} <= {f"{PUBLIC}/fhir/Patient/{i}" for i in ids}
    assert {link.relation: link.url.split("?")[0] for link in first.link} == {
        "self": f"{PUBLIC}/fhir/Patient",
        "next": f"{PUBLIC}/fhir/Patient",
    }
    assert sorted(p.id for p in found) == ids
    assert all(url.startswith(PUBLIC + "/fhir/") for url in proxy.asked)


def test_a_created_observation_is_located_at_the_public_address(
    proxied_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(proxied_server.rt, tmp_path, "px-loc")
    smart, proxy = _ehr(proxied_server)

    created = smart.server.session.post(
        PUBLIC + "/fhir/Observation",
        json=glucose("px-loc", 100, clock.now()),
        headers={"Content-Type": "application/fhir+json"},
    )
    followed = Observation.read_from(created.headers["Location"], smart.server)
    capability = smart.server.session.get(PUBLIC + "/fhir/metadata").json()
    smart_config = smart.server.session.get(PUBLIC + "/fhir/.well-known/smart-configuration").json()

    assert created.status_code == 201
    assert created.headers["Location"].startswith(f"{PUBLIC}/fhir/Observation/")
    assert followed.id == created.json()["id"]
    assert capability["implementation"]["url"] == f"{PUBLIC}/fhir"
    assert smart_config["token_endpoint"] == f"{PUBLIC}/fhir/auth/token"
    assert all(url.startswith(PUBLIC + "/fhir/") for url in proxy.asked)


def test_without_a_public_url_links_follow_the_address_the_client_used(
    fhir_server: FhirServer, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "here-1")
    with fhir_server.http("clinician") as http:
        bundle = http.get("/Patient", params={"_id": "here-1"}).json()

    assert bundle["entry"][0]["fullUrl"] == f"{fhir_server.url}/Patient/here-1"
