"""The call queue on both databases: a randomized holdout of call tasks, a DR-learner fitted
on their outcomes, open tasks ranked by benefit per staff minute with a readable reason."""

from __future__ import annotations

from datetime import date, timedelta

from careloop.careteam.alerts import create_task
from careloop.careteam.callqueue import CALL_SHARE, call_arm, call_queue, fit_call_uplift
from careloop.feedback.ruleset import Severity
from careloop.models import Patient, WorklistItem
from careloop.runtime import Runtime
from tests.careteam.test_console_call_queue_pages import completed

PROGRAM = "flu-shot-this-season"


def _patient(session, pid: str, *, old: bool) -> None:  # type: ignore[no-untyped-def]
    now = session.info.get("now")
    session.add(
        Patient(
            id=pid,
            given_name="Ana",
            family_name="Test",
            birth_date=date(1940, 1, 1) if old else date(1995, 1, 1),
            gender="female",
            language="en",
            timezone="America/New_York",
            timezone_source="test",
            deceased=False,
            contact_points=[{"system": "phone", "value": "+15550100001", "use": "mobile"}],
            created_at=now,
            updated_at=now,
        )
    )


def _task(session, rt: Runtime, pid: str) -> WorklistItem:  # type: ignore[no-untyped-def]
    raised = create_task(
        session,
        patient_id=pid,
        rule_id=f"outreach-call:{PROGRAM}",
        title="Call the patient: flu shot",
        summary="3 messages went unanswered; please call.",
        severity=Severity.ROUTINE,
        clock=rt.clock,
        actor="system:test",
        program=PROGRAM,
        team="care-coordination",
    )
    item = session.get(WorklistItem, raised.item_id)
    assert item is not None
    return item


def test_call_arm_is_a_fixed_coin_with_an_exact_propensity() -> None:
    draws = [call_arm(i) for i in range(4000)]
    assert all(p == CALL_SHARE for _, p in draws)
    assert draws == [call_arm(i) for i in range(4000)]
    assert abs(sum(c for c, _ in draws) / 4000 - CALL_SHARE) < 0.02


def test_queue_ranks_the_patient_a_call_helps_before_one_it_does_not(rt: Runtime) -> None:
    start = rt.clock.now()
    # History: old patients close the gap only when called; young ones close it either way.
    with rt.transaction() as session:
        session.info["now"] = start
        for n in range(240):
            old = n % 2 == 0
            pid = f"h{n}"
            _patient(session, pid, old=old)
            session.flush()
            item = _task(session, rt, pid)
            item.status = "resolved"
            item.resolved_at = start
            called, _ = call_arm(item.id)
            if (called and old) or (not old and n % 4 == 1):
                session.add(completed(pid, PROGRAM, start, start + timedelta(days=3)))
    later = start + timedelta(days=40)
    with rt.transaction() as session:
        model = fit_call_uplift(session, now=later)
        assert model is not None
        session.info["now"] = later
        rt.clock.set(later)  # type: ignore[attr-defined]
        # Two open tasks raised at the same moment (same due date), both in the call arm.
        open_ids: dict[str, int] = {}
        n = 1000
        while len(open_ids) < 2:
            pid = f"o{n}"
            old = "old" not in open_ids
            _patient(session, pid, old=old)
            session.flush()
            item = _task(session, rt, pid)
            if call_arm(item.id)[0]:
                open_ids["old" if old else "young"] = item.id
            else:
                item.status = "resolved"
            n += 1
        queue = call_queue(session, now=later, model=model)
    ids = [q.entry.id for q in queue]
    assert ids.index(open_ids["old"]) < ids.index(open_ids["young"])
    first = queue[0]
    assert first.arm == "call"
    assert first.uplift is not None
    assert first.uplift > 0.3
    assert first.reason.startswith("A call should raise the chance she closes the gap by ")
    assert "(messages alone: " in first.reason
    assert "; about 8 minutes, due " in first.reason


def test_without_enough_holdout_the_queue_keeps_due_date_order(rt: Runtime) -> None:
    with rt.transaction() as session:
        session.info["now"] = rt.clock.now()
        for n in range(3):
            _patient(session, f"p{n}", old=True)
            session.flush()
            _task(session, rt, f"p{n}")
        assert fit_call_uplift(session, now=rt.clock.now()) is None
        queue = call_queue(session, now=rt.clock.now())
    assert [q.rank for q in queue] == [1, 2, 3]
    for q in queue:
        assert q.reason.endswith("ordered by due date.") or q.arm == "holdout"


def test_api_and_console_show_the_queue_in_the_same_order_with_reasons(
    rt: Runtime, api_client
) -> None:  # type: ignore[no-untyped-def]
    with rt.transaction() as session:
        session.info["now"] = rt.clock.now()
        for n in range(4):
            _patient(session, f"q{n}", old=n % 2 == 0)
            session.flush()
            _task(session, rt, f"q{n}")
    nurse = api_client("coordinator")
    rows = nurse.get("/api/call-queue").json()
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert {r["arm"] for r in rows} <= {"call", "holdout"}
    assert all(r["reason"].endswith(".") for r in rows)
    assert all(r["entry"]["rule_id"] == f"outreach-call:{PROGRAM}" for r in rows)
    html = nurse.get("/console/call-queue").text
    positions = [html.index(f'#item-{r["entry"]["id"]}"') for r in rows]
    assert positions == sorted(positions)
    assert rows[0]["reason"] in html
    assert api_client(None).get("/api/call-queue").status_code == 401
    assert api_client("analyst").get("/api/call-queue").status_code == 403
