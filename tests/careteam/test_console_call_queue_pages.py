"""The call queue at scale, on both databases: one page of calls with a "next page" reaching
the rest and a true count, the uplift model fitted in a fixed number of queries however many
call tasks have resolved, and not refitted while what it reads is unchanged."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import event

from careloop.careteam.callqueue import (
    CALL_RULE_PREFIX,
    OUTCOME_WINDOW,
    cached_call_uplift,
    call_arm,
    fit_call_uplift,
)
from careloop.clock import FrozenClock
from careloop.models import Enrollment, Patient, WorklistItem
from careloop.runtime import Runtime
from careloop.web.console.worklist import PAGE_SIZE
from tests.statements import statements

PROGRAM = "flu-shot-this-season"


def completed(pid: str, program: str, enrolled: datetime, done: datetime) -> Enrollment:
    """An outreach enrollment that closed its gap at ``done``: a call task's good outcome."""
    return Enrollment(
        patient_id=pid,
        program=program,
        episode="2026",
        arm="outreach",
        state="completed",
        enrolled_at=enrolled,
        state_changed_at=done,
    )


def _calls(rt: Runtime, clock: FrozenClock, *, resolved: int = 0, open_: int = 0) -> None:
    """Call tasks, one patient each: ``resolved`` past their outcome window (old patients
    close the gap when called), then ``open_`` due one minute apart."""
    now = clock.now()
    with rt.transaction() as session:
        for n in range(resolved + open_):
            pid = f"cq-{n:04d}"
            session.add(
                Patient(
                    id=pid,
                    given_name="Pat",
                    family_name=f"Caller{n:04d}",
                    birth_date=date(1940, 1, 1) if n % 2 else date(1995, 1, 1),
                    gender="female",
                    language="en",
                    timezone="America/New_York",
                    timezone_source="test",
                    deceased=False,
                    contact_points=[{"system": "phone", "value": "+15550100001"}],
                    created_at=now,
                    updated_at=now,
                )
            )
        session.flush()
        for n in range(resolved + open_):
            pid = f"cq-{n:04d}"
            done = n < resolved
            raised = now - OUTCOME_WINDOW - timedelta(days=10) if done else now
            item = WorklistItem(
                kind="task",
                patient_id=pid,
                rule_id=f"{CALL_RULE_PREFIX}{PROGRAM}",
                open_key=f"cq|{pid}",
                title=f"Call number {n:04d}",
                severity="routine",
                priority=2,
                status="resolved" if done else "open",
                program=PROGRAM,
                team="care-coordination",
                raised_at=raised,
                last_seen_at=raised,
                due_at=raised + timedelta(minutes=n + 1),
                resolved_at=raised + timedelta(days=1) if done else None,
            )
            session.add(item)
            session.flush()
            if done and ((n % 2 and call_arm(item.id)[0]) or n % 4 == 0):
                session.add(completed(pid, PROGRAM, raised, raised + timedelta(days=3)))


def _titles(html: str) -> list[str]:
    return re.findall(r"Call number (\d{4})</a>", html)


def test_the_call_queue_shows_a_page_and_a_next_page_reaching_the_rest(
    rt: Runtime, clock: FrozenClock, api_client: Any
) -> None:
    _calls(rt, clock, open_=PAGE_SIZE + 5)
    nurse = api_client("coordinator")

    first = nurse.get("/console/call-queue")
    following = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text)
    assert following is not None
    second = nurse.get(following.group(1).replace("&amp;", "&"))

    assert len(_titles(first.text)) == PAGE_SIZE
    assert f"(1–{PAGE_SIZE} shown of {PAGE_SIZE + 5} open calls)" in first.text
    assert len(_titles(second.text)) == 5
    assert f"({PAGE_SIZE + 1}–{PAGE_SIZE + 5} shown of {PAGE_SIZE + 5} open calls)" in second.text
    assert 'rel="prev">Previous page</a>' in second.text
    assert 'rel="next"' not in second.text
    # Every open call once across the pages, in the API's order.
    api_order = [r["entry"]["title"][-4:] for r in nurse.get("/api/call-queue").json()]
    assert _titles(first.text) + _titles(second.text) == api_order


def test_the_uplift_fit_reads_a_few_queries_however_many_calls_resolved(
    rt: Runtime, clock: FrozenClock
) -> None:
    _calls(rt, clock, resolved=240)
    with rt.transaction() as session, statements(rt.engine) as reads:
        model = fit_call_uplift(session, now=clock.now())
    assert model is not None
    # It read one enrollment query per resolved task (240) before.
    assert len(reads) < 20, "\n".join(reads)


def test_the_page_reuses_the_fitted_model_until_an_outcome_changes(
    rt: Runtime, clock: FrozenClock, api_client: Any
) -> None:
    _calls(rt, clock, resolved=240, open_=3)
    nurse = api_client("coordinator")
    with statements(rt.engine) as cold:
        first = nurse.get("/console/call-queue")
    with statements(rt.engine) as warm:
        again = nurse.get("/console/call-queue")

    assert first.status_code == again.status_code == 200
    assert len(_titles(again.text)) == 3
    assert len(cold) < 45, "\n".join(cold)
    assert len(warm) < len(cold) - 5, "the second view refitted the model"
    with rt.transaction() as session:
        kept = cached_call_uplift(session, now=clock.now())
        session.add(completed("cq-0000", "another-program", clock.now(), clock.now()))
        session.flush()
        assert cached_call_uplift(session, now=clock.now()) is not kept


def test_a_call_queue_page_reads_only_its_own_tasks_whole(
    rt: Runtime, clock: FrozenClock, api_client: Any
) -> None:
    """Without a model the order needs only ids by due time: a page view loads its own 50
    tasks, not every open call (32,250 at 100,000 patients), the first pages stop reading ids
    once they have their call-arm rows, and every page still follows the API's order, with
    the held-out calls last."""
    _calls(rt, clock, open_=PAGE_SIZE * 9 + 7)
    nurse = api_client("coordinator")
    api = nurse.get("/api/call-queue").json()
    order = [r["entry"]["title"][-4:] for r in api]
    last = (len(order) - 1) // PAGE_SIZE
    loaded: list[int] = []

    def count(target: WorklistItem, context: object) -> None:
        loaded.append(target.id)

    event.listen(WorklistItem, "load", count)
    try:
        pages = {n: nurse.get(f"/console/call-queue?page={n}").text for n in (0, 1, last)}
    finally:
        event.remove(WorklistItem, "load", count)

    assert len(loaded) <= 3 * PAGE_SIZE, "a page read every open call task"
    for n, html in pages.items():
        assert _titles(html) == order[n * PAGE_SIZE : (n + 1) * PAGE_SIZE], n
        assert f"of {len(order)} open calls)" in html
    arms = [r["arm"] for r in api]
    assert arms == sorted(arms, key=lambda arm: arm == "holdout")
    assert "holdout" in arms[last * PAGE_SIZE :]
