"""No PHI in logs or error answers: a full demo run with the careloop loggers at DEBUG,
then failing requests, are scanned for every sample patient's names, phones and emails."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from careloop.cli.demo_run import run_demo, sample_population_dir


def _sample_phi() -> set[str]:
    needles: set[str] = set()
    for path in sample_population_dir().glob("*.json"):
        bundle = orjson.loads(path.read_bytes())
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            if resource["resourceType"] not in ("Patient", "RelatedPerson"):
                continue
            for name in resource.get("name", []):
                needles.update(n for n in name.get("given", []) if len(n) > 3)
                if len(name.get("family", "")) > 3:
                    needles.add(name["family"])
            for telecom in resource.get("telecom", []):
                value = str(telecom.get("value", ""))
                needles.add(value)
                digits = re.sub(r"\D", "", value)
                if len(digits) >= 7:
                    needles.add(digits)
            for address in resource.get("address", []):
                needles.update(line for line in address.get("line", []) if len(line) > 5)
    return needles


def _leaks(text: str, needles: set[str]) -> list[str]:
    return sorted(n for n in needles if re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text))


@pytest.mark.slow
def test_a_demo_run_logs_no_phi_and_errors_echo_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    needles = _sample_phi()
    assert len(needles) > 40
    caplog.set_level(logging.DEBUG, logger="careloop")
    database = tmp_path / "demo.db"
    printed = io.StringIO()
    report = run_demo(database=database, console=Console(file=printed, width=120))

    # The demo shows the whole loop: consolidate, identify, personalize, engage, measure.
    assert report.sections["import"]["patients"] == 20
    assert sum(report.sections["care_gaps"].values()) > 0
    assert (
        report.sections["simulated_pilot"]["bandit"]["cumulative"]
        > (report.sections["simulated_pilot"]["random"]["cumulative"])
    )
    assert sum(report.sections["pilot"]["sent_by_channel"].values()) > 0
    assert report.sections["report"]["programs"]
    assert {u["role"] for u in report.sections["console_users"]} >= {"clinician", "coordinator"}
    assert _leaks(printed.getvalue(), needles) == []
    # Every step says it is working and how long it took.
    assert set(report.timings) == {
        "import",
        "identify",
        "personalize",
        "engage",
        "measure",
        "console",
        "access",
        "medications",
        "relocating",
        "adapt",
        "channels",
    }
    relocating = report.sections["relocating"]  # issue 25, item 7: the whole story in the demo
    assert len(relocating["sources"]) == 2
    assert relocating["due"] == [
        "annual-wellness-visit",
        "breast-cancer-screening",
        "flu-shot-this-season",
    ]
    assert relocating["follow_up"]["not_improved"] == 1
    adapt = report.sections["adapt"]  # issue 17, item 6: the early offer and the video link
    assert set(adapt["messages"]) == {"reschedule_offer", "appointment_reminder_video"}
    assert printed.getvalue().count(" s)") >= 7
    # Each heading has its own number, in order (walk finding 22: two steps read "8.").
    numbers = re.findall(r"^\s*(\d+)\. [A-Z]", printed.getvalue(), flags=re.MULTILINE)
    assert numbers == [str(n) for n in range(1, 13)]
    _the_pilot_is_in_the_past(database)

    from fastapi.testclient import TestClient

    from careloop.runtime import open_runtime
    from careloop.web.app import create_app

    rt = open_runtime(database=f"sqlite:///{database}")
    client = TestClient(create_app(rt), raise_server_exceptions=False)
    patient_id = (
        client.app.state.runtime.sessions()
        .execute(__import__("sqlalchemy").text("SELECT id FROM patients LIMIT 1"))
        .scalar()
    )
    phone = next(n for n in needles if re.fullmatch(r"555-\d{3}-\d{4}", n))
    answers = [
        client.get(f"/api/patients/{patient_id}"),
        client.post("/api/portal/code", json={"system": "sms", "value": phone}),
        client.post("/api/portal/code", json={"system": "email", "value": f"{phone} Carter"}),
        client.post("/api/auth/token", json={"username": "Carter", "password": phone}),
        client.put(f"/api/patients/{patient_id}/consent", json={"changes": [{"purpose": phone}]}),
    ]
    rt.close()
    errors = "\n".join(a.text for a in answers)
    assert all(a.status_code >= 400 or a.status_code == 202 for a in answers)
    assert _leaks(caplog.text, needles) == []
    assert _leaks(errors, needles) == []


def _the_pilot_is_in_the_past(database: Path) -> None:
    """The demo's pilot ends now, so `careloop report` (the last 90 days) and the console's
    programs page show it, and nothing of it waits in the future."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from careloop.insights.report import build_report
    from careloop.models import Enrollment, OutboxMessage
    from careloop.runtime import open_runtime

    rt = open_runtime(database=f"sqlite:///{database}")
    try:
        now = rt.clock.now()
        with rt.transaction() as session:
            first = session.scalar(select(func.min(Enrollment.enrolled_at)))
            last_sent = session.scalar(select(func.max(OutboxMessage.sent_at)))
            data = build_report(session, start=now - timedelta(days=90), end=now)
        assert first is not None
        assert first < now - timedelta(weeks=5)
        assert last_sent is not None
        assert last_sent <= now
        assert sum(p["reach"]["enrolled"] for p in data["programs"]) > 20
    finally:
        rt.close()
