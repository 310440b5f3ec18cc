"""The preferences API: staff and the patient edit, others are refused, learned is read-only."""

from __future__ import annotations

import pytest

from careloop.web.api.personalize import router


@pytest.fixture
def client_for(rt, api_client):
    """``api_client`` on an app that also mounts this domain's router."""

    def make(role, **kwargs):
        client = api_client(role, **kwargs)
        app = client.app
        if not any(getattr(r, "path", "").endswith("/preferences") for r in app.routes):
            app.include_router(router)
        return client

    return make


def test_coordinator_sets_and_reads_preferences(client_for):
    client = client_for("coordinator")
    changed = client.patch(
        "/api/patients/p-1/preferences", json={"channel": "sms", "send_window": "17-20"}
    )
    read = client.get("/api/patients/p-1/preferences")
    assert changed.status_code == 200
    assert read.json()["stated"]["channel"] == "sms"
    assert read.json()["stated"]["send_window"] == "17-20"


def test_bad_preference_is_a_400_naming_the_field(client_for):
    response = client_for("coordinator").patch(
        "/api/patients/p-1/preferences", json={"tone": "sarcastic"}
    )
    assert 400 <= response.status_code < 500
    assert "tone" in response.text


def test_analyst_may_not_change_preferences(client_for):
    response = client_for("analyst").patch("/api/patients/p-1/preferences", json={"channel": "sms"})
    assert response.status_code == 403


def test_patient_edits_own_preferences_but_not_someone_elses(client_for):
    client = client_for("patient", patient_id="p-7")
    own = client.patch("/api/patients/p-7/preferences", json={"quiet_hours": "20-09"})
    other = client.patch("/api/patients/p-8/preferences", json={"channel": "sms"})
    assert own.status_code == 200
    assert own.json()["stated"]["quiet_hours"] == "20-09"
    assert other.status_code == 404


def test_someone_elses_preferences_answer_404_before_the_body_is_judged(client_for):
    """The record is reached (a dependency) before the body is validated: a malformed body
    sent to a record out of reach learns nothing about what the API would have accepted."""
    client = client_for("patient", patient_id="p-7")
    other = client.patch("/api/patients/p-8/preferences", json={"colour": "red"})
    own = client.patch("/api/patients/p-7/preferences", json={"colour": "red"})
    assert other.status_code == 404
    assert "colour" not in other.text
    assert own.status_code == 422
    assert "colour" in own.text
