"""Every HTTP answer carries the security headers once, errors and static files included."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from careloop.runtime import Runtime
from careloop.web.app import create_app
from careloop.web.security import SECURITY_HEADERS


@pytest.mark.parametrize("path", ["/health", "/fhir/Patient", "/no-such-page"])
def test_each_answer_has_each_security_header_once(rt: Runtime, path: str) -> None:
    response = TestClient(create_app(rt)).get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], (path, name)
