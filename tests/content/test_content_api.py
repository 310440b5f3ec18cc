"""The content API: staff edit drafts, a clinician approves, everyone reads what is live."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count

import pytest
from content_helpers import subset
from fastapi.testclient import TestClient

from careloop.content import service
from careloop.content.library import Library
from careloop.runtime import Runtime

ClientFactory = Callable[[str], TestClient]
VARIANT = {"language": "en", "reading_level": "basic", "tone": "friendly", "channel": "sms"}


@pytest.fixture
def content_client(rt: Runtime, shipped: Library) -> ClientFactory:
    """``content_client(role)``: a client of an app that serves the content router."""
    from careloop.security.auth import create_user, issue_token
    from careloop.web.api.content import router
    from careloop.web.app import create_app

    app = create_app(rt)
    if not any(getattr(r, "path", "").startswith("/api/content") for r in app.routes):
        app.include_router(router)
    with rt.transaction() as session:
        service.sync_library(
            session,
            library=subset(shipped, keep={"care_team_message", "mammogram_due"}),
            clock=rt.clock,
        )
    numbers = count(1)

    def make(role: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        with rt.transaction() as session:
            user = create_user(
                session,
                clock=rt.clock,
                username=f"{role}-{next(numbers)}",
                password="correct horse battery staple",
                role=role,
            )
            token = issue_token(session, clock=rt.clock, user=user).token
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    return make


def test_edit_then_approve_then_send_the_new_version(content_client: ClientFactory) -> None:
    coordinator, clinician = content_client("coordinator"), content_client("clinician")
    created = coordinator.post(
        "/api/content/messages/mammogram_due/versions",
        json={**VARIANT, "parts": {"body": "Mammogram time, {{ first_name }}: {{ booking_link }}"}},
    )
    assert created.status_code == 201, created.text
    draft = created.json()
    assert (draft["state"], draft["version"]) == ("draft", 2)

    approved = clinician.post(f"/api/content/versions/{draft['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    assert approved.json()["approved_by"] != draft["created_by"]

    preview = clinician.post(
        "/api/content/render",
        json={"message": "mammogram_due", **VARIANT, "detailed_consent": True},
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["version_id"] == draft["id"]
    assert preview.json()["body"] == "Mammogram time, Rosa: https://rvcl.org/book"

    history = clinician.get(
        "/api/content/messages/mammogram_due/versions", params={"language": "en"}
    ).json()
    sms = [
        v
        for v in history
        if v["channel"] == "sms" and v["tone"] == "friendly" and v["reading_level"] == "basic"
    ]
    assert [(v["version"], v["state"]) for v in sms] == [(2, "approved"), (1, "retired")]


def test_only_clinicians_approve_and_analysts_only_read(content_client: ClientFactory) -> None:
    coordinator, analyst = content_client("coordinator"), content_client("analyst")
    draft = coordinator.post(
        "/api/content/messages/mammogram_due/versions",
        json={**VARIANT, "parts": {"body": "Mammogram due: {{ booking_link }}"}},
    ).json()
    assert coordinator.post(f"/api/content/versions/{draft['id']}/approve").status_code == 403
    assert (
        analyst.post(
            "/api/content/messages/mammogram_due/versions",
            json={**VARIANT, "parts": {"body": "x {{ booking_link }}"}},
        ).status_code
        == 403
    )
    assert analyst.get("/api/content/messages").status_code == 200


def test_every_library_read_asks_for_content_read(content_client: ClientFactory) -> None:
    caregiver = content_client("caregiver")
    reads = [
        caregiver.get("/api/content/messages"),
        caregiver.get("/api/content/messages/mammogram_due/versions"),
        caregiver.post("/api/content/render", json={"message": "mammogram_due", **VARIANT}),
        caregiver.get("/api/content/versions/1/lint"),
        caregiver.get("/api/content/lint"),
    ]
    assert [r.status_code for r in reads] == [403] * 5


def test_bad_drafts_are_refused_with_the_field_named(content_client: ClientFactory) -> None:
    coordinator = content_client("coordinator")
    answer = coordinator.post(
        "/api/content/messages/mammogram_due/versions",
        json={**VARIANT, "parts": {"body": "{{ first_name.__class__ }} {{ diagnosis }}"}},
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "parts.body"
    assert "diagnosis" in answer.text


def test_render_preview_applies_minimum_necessary(content_client: ClientFactory) -> None:
    answer = content_client("coordinator").post(
        "/api/content/render",
        json={"message": "mammogram_due", **VARIANT, "language": "es", "detailed_consent": False},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["minimum_necessary"] is True
    assert body["used"].startswith("care_team_message/es/")
    assert "mamografía" not in body["body"]


def test_a_draft_that_breaks_the_sandbox_is_refused_when_written(
    content_client: ClientFactory,
) -> None:
    answer = content_client("coordinator").post(
        "/api/content/messages/mammogram_due/versions",
        json={**VARIANT, "parts": {"body": "{{ first_name.__class__.__mro__ }}"}},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "parts.body"


def test_a_clinician_sees_the_lint_of_a_draft_before_approving(
    content_client: ClientFactory,
) -> None:
    coordinator = content_client("coordinator")
    long_sms = "Your mammogram is due. " * 14 + "{{ booking_link }}"
    draft = coordinator.post(
        "/api/content/messages/mammogram_due/versions",
        json={**VARIANT, "parts": {"body": long_sms}},
    ).json()
    report = content_client("clinician").get(f"/api/content/versions/{draft['id']}/lint")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["ok"] is False
    assert body["segments"] == 3
    assert any("segments" in p for p in body["problems"])
