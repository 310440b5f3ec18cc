"""``/docs`` works offline under the console's CSP and is off in production (issue 21, item 3).

Before: Swagger UI came from an unpinned CDN on the console's origin with the CSP removed,
and the page was blank offline.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from careloop.runtime import Runtime
from careloop.settings import WebSettings
from careloop.web.app import create_app
from careloop.web.security import SECURITY_HEADERS
from tests.web.conftest import Site


def _client(rt: Runtime, **web: Any) -> TestClient:
    settings = rt.settings.model_copy(update={"web": WebSettings(**web)})
    return TestClient(create_app(dataclasses.replace(rt, settings=settings)))


def test_docs_are_served_from_this_origin_under_the_csp(rt: Runtime) -> None:
    client = _client(rt)
    response = client.get("/docs")
    assert response.status_code == 200
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert response.headers["content-security-policy"] == csp
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert sources
    assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert "<script>" not in response.text  # no inline script for the CSP to refuse
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert client.get("/openapi.json").status_code == 200


def test_docs_and_schema_are_off_in_production(rt: Runtime) -> None:
    client = _client(rt, production=True)
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 404


def test_production_may_turn_the_docs_on(rt: Runtime) -> None:
    client = _client(rt, production=True, api_docs=True)
    assert client.get("/docs").status_code == 200


@pytest.mark.slow
def test_swagger_ui_renders_offline_without_csp_violations(page: Any, site: Site) -> None:
    outside: list[str] = []
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    def only_this_origin(route: Any) -> None:
        if route.request.url.startswith(site.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_origin)
    page.goto("/docs")
    page.wait_for_selector(".opblock-tag", timeout=20_000)
    assert page.locator(".opblock").count() > 20
    assert outside == []
    assert problems == []
