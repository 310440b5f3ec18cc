"""Prescribe a tool, follow its readings, and offer a follow-up visit when it did not help."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from tools_fixtures import consent_and_content, glucose, import_patients, reachable_patient
from typer.testing import CliRunner

from careloop.careteam.worklist import list_worklist
from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.digitaltools.catalogue import load_tools
from careloop.digitaltools.service import follow_up_tools, prescribe, tool_usage
from careloop.models import OutboxMessage
from careloop.records.service import resources_of_type
from careloop.runtime import Runtime
from careloop.security.principal import SYSTEM_WORKER

TOOLS = load_tools()


def _prescribe(rt: Runtime, pid: str) -> None:
    with rt.transaction() as session:
        done = prescribe(
            session, catalogue=TOOLS, patient_id=pid, tool_id="eat-well-app", clock=rt.clock,
            principal=SYSTEM_WORKER, settings=rt.settings,
        )  # fmt: skip
        assert done.message_queued


def test_flat_glucose_after_six_weeks_offers_a_follow_up_visit_once(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    import_patients(
        rt,
        tmp_path,
        [
            [reachable_patient("flat", phone="+15550100071")],
            [reachable_patient("better", phone="+15550100072")],
            [reachable_patient("idle", phone="+15550100073")],
        ],
    )
    consent_and_content(rt, ["flat", "better", "idle"])
    start = clock.now()
    for pid in ("flat", "better", "idle"):
        _prescribe(rt, pid)
    for week in range(7):
        clock.set(start + timedelta(days=1 + 7 * week))
        glucose(rt, "flat", at=clock.now(), mg_dl=150 + (week % 2))
        glucose(rt, "better", at=clock.now(), mg_dl=175 - 5 * week)
    clock.set(start + timedelta(weeks=6, days=2))

    with rt.transaction() as session:
        first = follow_up_tools(
            session, catalogue=TOOLS, clock=clock, settings=rt.settings, principal=SYSTEM_WORKER
        )
    with rt.transaction() as session:
        again = follow_up_tools(
            session, catalogue=TOOLS, clock=clock, settings=rt.settings, principal=SYSTEM_WORKER
        )
        usage = tool_usage(session, catalogue=TOOLS, patient_id="flat")
        tasks = {
            (i.patient_id, i.title)
            for i in list_worklist(session, now=clock.now(), kind="task")
            if i.title.startswith(("Propose", "A prescribed"))
        }
        sent = session.execute(
            select(
                OutboxMessage.patient_id,
                OutboxMessage.content_message,
                OutboxMessage.body,
                OutboxMessage.channel,
            )
        ).all()
        careplans = [r for _p, r in resources_of_type(session, resource_type="CarePlan")]
        [flat_task] = [
            i for i in list_worklist(session, now=clock.now(), kind="task")
            if i.patient_id == "flat" and i.title.startswith("Propose")
        ]  # fmt: skip
    # Finding 19: the measure by name, with its unit; no LOINC code, no bare number.
    assert flat_task.latest is not None
    assert (
        "glucose 150 → 150 mg/dL after 6 weeks (goal: 10 mg/dL lower)"
        in (flat_task.latest["summary"])
    )
    assert "loinc" not in flat_task.latest["summary"]

    assert first == {"not_improved": 1, "improved": 1, "not_used": 1, "followed_up": 2}
    assert again["followed_up"] == 0
    assert tasks == {
        ("flat", "Propose a follow-up visit: a prescribed tool did not help"),
        ("idle", "A prescribed tool is not being used: call the patient"),
    }
    offers = [(pid, body, ch) for pid, message, body, ch in sent if message == "follow_up_offer"]
    assert {pid for pid, _b, _c in offers} == {"flat"}
    # Written copies carry the portal's booking link; a call says to phone (no link to read).
    assert all("/portal/visits" in body for _p, body, ch in offers if ch != "voice")
    assert all("glucose" not in body.lower() for _p, body, _c in offers)  # minimum necessary
    links = {p: b for p, m, b, ch in sent if m == "digital_tool_prescribed" and ch != "voice"}
    assert links
    assert all("https://example.org/tools/eat-well" in b for b in links.values())
    assert {c["activity"][0]["detail"]["code"]["coding"][0]["code"] for c in careplans} == {
        "eat-well-app"
    }
    assert usage[0]["readings"] == 7


def test_an_unknown_tool_is_one_line(rt: Runtime, database_url: str) -> None:
    result = CliRunner().invoke(
        app, ["tools", "prescribe", "magic-pill", "--patient", "x", "--database", database_url]
    )
    assert result.exit_code == 2
    assert "unknown digital tool 'magic-pill'" in result.output
