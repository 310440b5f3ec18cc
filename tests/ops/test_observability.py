"""Request logs without PHI, X-Request-ID, Prometheus metrics, /health and /ready."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from careloop.clock import FrozenClock
from careloop.compose.jobs import JobRunner
from careloop.db import downgrade, make_engine, make_sessionmaker, revision_history
from careloop.logs import JsonFormatter, TextFormatter, configure_logging
from careloop.runtime import Runtime
from careloop.settings import Settings
from careloop.web.app import create_app


def _http_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "careloop.http"]


def test_each_request_is_logged_once_by_route_template_with_its_id_and_no_ids_of_patients(
    api_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = api_client("clinician")
    caplog.set_level(logging.INFO, logger="careloop.http")
    answer = client.get("/api/patients/patient-secret-42", headers={"X-Request-ID": "abc-123"})
    assert answer.status_code == 404
    assert answer.headers["x-request-id"] == "abc-123"
    (record,) = _http_records(caplog)
    line = JsonFormatter().format(record)
    assert "patient-secret-42" not in line
    assert record.route == "/api/patients/{patient_id}"  # type: ignore[attr-defined]
    assert record.status == 404  # type: ignore[attr-defined]
    assert record.method == "GET"  # type: ignore[attr-defined]
    assert record.request_id == "abc-123"  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]


def test_an_unmatched_path_is_logged_without_the_path_and_a_bad_request_id_is_replaced(
    api_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = api_client(None)
    caplog.set_level(logging.INFO, logger="careloop.http")
    answer = client.get("/no/such/555-0100", headers={"X-Request-ID": "<script>" * 3})
    assert answer.status_code == 404
    assert answer.headers["x-request-id"] != "<script>" * 3
    assert len(answer.headers["x-request-id"]) == 32
    (record,) = _http_records(caplog)
    assert "555-0100" not in JsonFormatter().format(record)
    assert record.route == "<unmatched>"  # type: ignore[attr-defined]


def test_metrics_expose_requests_latency_outbox_alerts_and_job_runs(
    api_client: Any, rt: Runtime
) -> None:
    client = api_client("clinician")
    assert client.get("/api/patients").status_code == 200
    JobRunner(rt, owner="w1").run_due()
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    body = answer.text
    assert (
        'careloop_http_requests_total{method="GET",route="/api/patients",status="200"} 1.0' in body
    )
    assert "careloop_http_request_duration_seconds_bucket{" in body
    assert "# TYPE careloop_outbox_messages gauge" in body
    assert "# TYPE careloop_sends_total counter" in body
    assert "# TYPE careloop_open_alerts gauge" in body
    assert 'careloop_job_runs_total{job="escalations",result="ok"} 1.0' in body
    assert 'careloop_job_last_run_timestamp_seconds{job="outreach-tick"}' in body


def test_health_is_live_and_ready_needs_database_schema_and_a_worker(
    api_client: Any, rt: Runtime
) -> None:
    client = api_client(None)
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/healthz").status_code == 200
    waiting = client.get("/ready")
    assert waiting.status_code == 503
    assert waiting.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "workers": "none seen in 10 min",
    }
    JobRunner(rt, owner="w1").run_due()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "workers": "ok"},
    }


def test_ready_says_when_the_database_is_unreachable_or_its_schema_lags(
    tmp_path: Any, clock: FrozenClock
) -> None:
    down = make_engine("postgresql://nobody@127.0.0.1:1/careloop")
    app = create_app(
        Runtime(settings=Settings(), clock=clock, engine=down, sessions=make_sessionmaker(down))
    )
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/health").status_code == 200
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"].startswith("unreachable")

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    from careloop.db import migrate

    migrate(engine)
    downgrade(engine, "-1")
    old = create_app(
        Runtime(settings=Settings(), clock=clock, engine=engine, sessions=make_sessionmaker(engine))
    )
    checks = TestClient(old).get("/ready").json()["checks"]
    newest, previous = (r.revision for r in revision_history()[:2])
    assert checks["migrations"] == f"at {previous}, need {newest}"


def test_logging_settings_choose_level_and_format(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("careloop").level)
    try:
        configure_logging("warning", json_format=False)
        logging.getLogger("careloop.x").info("hidden")
        logging.getLogger("careloop.x").warning("shown", extra={"count": 3})
        err = capsys.readouterr().err
        assert "hidden" not in err
        assert "WARNING" in err.upper()
        assert "careloop.x: shown count=3" in err
        assert isinstance(root.handlers[0].formatter, TextFormatter)
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
        logging.getLogger("careloop").setLevel(saved[2])


def test_metrics_can_be_put_behind_a_token(clock: FrozenClock, tmp_path: Any) -> None:
    from pydantic import SecretStr

    from careloop.db import migrate
    from careloop.settings import WebSettings

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    settings = Settings(web=WebSettings(metrics_token=SecretStr("s3cret")))
    client = TestClient(
        create_app(
            Runtime(
                settings=settings, clock=clock, engine=engine, sessions=make_sessionmaker(engine)
            )
        )
    )
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
