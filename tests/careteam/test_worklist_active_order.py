"""The worklist's order comes from an index over the active items, on both databases.

``severity_rank`` is kept by the database from ``severity`` (a generated column), so the
order a nurse sees (priority, then a true urgent before an escalated high, then the deadline)
holds when an item's severity is raised on a repeat, and the page's query can be answered by
the partial index in its order instead of sorting every open item.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from careloop.careteam import alerts
from careloop.careteam.worklist import (
    WorklistFilter,
    active_summary,
    count_worklist,
    list_worklist,
)
from careloop.clock import FrozenClock
from careloop.feedback.evaluate import Finding
from careloop.feedback.ruleset import Severity
from careloop.models import WorklistItem
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients


def _finding(pid: str, severity: Severity, rule: str = "bp-high") -> Finding:
    return Finding(
        rule_id=rule,
        title=f"Reading for {pid}",
        severity=severity,
        sla_hours=24,
        patient_id=pid,
        summary="Reading systolic_bp 165.",
        values={},
        evidence=("x",),
        program=None,
        team="rpm-nursing",
        source=None,
    )


def test_a_severity_raised_on_a_repeat_moves_the_card_up(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "ao-1", "ao-2", "ao-3")
    with rt.transaction() as session:
        for pid, severity in (("ao-1", Severity.ROUTINE), ("ao-2", Severity.HIGH)):
            alerts.raise_finding(session, _finding(pid, severity), clock=clock, actor="system:test")
        # Escalated to priority 0, but still a high alert: below a true urgent one.
        escalated = alerts.raise_finding(
            session, _finding("ao-3", Severity.HIGH), clock=clock, actor="system:test"
        )
        item = session.get(WorklistItem, escalated.item_id)
        assert item is not None
        item.priority = 0
        session.flush()
        before = [e.patient_id for e in list_worklist(session, now=clock.now())]
    clock.advance(timedelta(minutes=5))
    with rt.transaction() as session:
        alerts.raise_finding(
            session, _finding("ao-1", Severity.URGENT), clock=clock, actor="system:test"
        )
        after = list_worklist(session, now=clock.now())
    assert before == ["ao-3", "ao-2", "ao-1"]
    assert [e.patient_id for e in after] == ["ao-1", "ao-3", "ao-2"]
    assert [(e.severity, e.priority) for e in after] == [("urgent", 0), ("high", 0), ("high", 1)]


def test_the_page_query_is_answered_by_the_index_in_its_order(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("the plan is PostgreSQL's (SQLite's partial index is created the same way)")
    add_patients(rt, tmp_path, "ao-4")
    with rt.transaction() as session:
        alerts.raise_finding(
            session, _finding("ao-4", Severity.HIGH), clock=clock, actor="system:test"
        )
    with rt.transaction() as session:
        # A tiny table is cheaper to sort: forbid that, to see whether the index fits the query.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_sort = off"))
        plans: list[str] = []

        def explain(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if statement.lstrip().startswith("SELECT worklist_items.id") and not plans:
                cursor.execute("EXPLAIN " + statement, parameters)
                plans.extend(str(row[0]) for row in cursor.fetchall())

        event.listen(rt.engine, "before_cursor_execute", explain)
        try:
            list_worklist(session, now=clock.now(), limit=50)
        finally:
            event.remove(rt.engine, "before_cursor_execute", explain)
    plan = "\n".join(plans)
    assert "ix_worklist_items_active_order" in plan, plan
    assert "Sort" not in plan, plan


def test_one_summary_gives_the_filter_choices_and_the_counts_each_filter_gives(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """The page's header ("1–50 shown of N matching, M open") and its filter choices come
    from one grouped read; every count equals the count of that filter over the items."""
    pids = [f"ao-s{n}" for n in range(6)]
    add_patients(rt, tmp_path, *pids)
    severities = (Severity.URGENT, Severity.HIGH, Severity.ROUTINE)
    with rt.transaction() as session:
        for n, pid in enumerate(pids):
            raised = alerts.raise_finding(
                session,
                _finding(pid, severities[n % 3], rule=f"rule-{n % 2}"),
                clock=clock,
                actor="system:test",
            )
            item = session.get(WorklistItem, raised.item_id)
            assert item is not None
            item.program = ("hypertension", "diabetes", None)[n % 3]
            item.team = "rpm-nursing" if n % 2 else "care-coordination"
            item.assignee = "user:ana" if n == 4 else None
            item.status = "resolved" if n == 5 else item.status
        session.flush()
        summary = active_summary(session)
        assert summary.values() == {
            "program": ["diabetes", "hypertension"],
            "team": ["care-coordination", "rpm-nursing"],
            "assignee": ["user:ana"],
        }
        for program in (None, "hypertension", "diabetes", "other"):
            for team in (None, "rpm-nursing", "care-coordination"):
                for assignee in (None, "user:ana"):
                    for severity in (None, "urgent", "high", "routine"):
                        wanted: WorklistFilter = {
                            "program": program,
                            "team": team,
                            "assignee": assignee,
                            "severity": severity,
                        }
                        assert summary.count(**wanted) == count_worklist(session, **wanted)
        assert summary.count() == 5
