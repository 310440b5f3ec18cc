"""The worklist page at scale, on both databases: one page of the most pressing items with a
"next page" that reaches the rest, counts that are true, and a fixed number of queries
however many patients the page shows."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from careloop.clock import FrozenClock
from careloop.models import WorklistItem
from careloop.runtime import Runtime
from careloop.web.console.worklist import PAGE_SIZE
from tests.feedback.loop_payloads import add_patients
from tests.statements import statements


def _items(rt: Runtime, clock: FrozenClock, tmp_path: Path, count: int) -> None:
    """``count`` open alerts, one patient each, the first due first."""
    patients = [f"wp-{n:03d}" for n in range(count)]
    add_patients(rt, tmp_path, *patients)
    now = clock.now()
    with rt.transaction() as session:
        for n, pid in enumerate(patients):
            session.add(
                WorklistItem(
                    kind="alert",
                    patient_id=pid,
                    rule_id="bp-high",
                    open_key=f"wp|{pid}",
                    title=f"Alert number {n:03d}",
                    severity="high",
                    priority=1,
                    status="open",
                    program="hypertension" if n % 2 else "diabetes",
                    team="rpm-nursing",
                    raised_at=now,
                    last_seen_at=now,
                    due_at=now + timedelta(minutes=n + 1),
                )
            )


def _titles(html: str) -> list[str]:
    return re.findall(r"Alert number (\d{3})</a>", html)


def test_the_worklist_shows_a_page_and_a_next_page_reaching_the_rest(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    _items(rt, clock, tmp_path, PAGE_SIZE + 5)
    nurse = api_client("clinician")

    first = nurse.get("/console/worklist")
    following = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text)
    assert following is not None
    second = nurse.get(following.group(1).replace("&amp;", "&"))

    assert _titles(first.text) == [f"{n:03d}" for n in range(PAGE_SIZE)]
    assert f"(1–{PAGE_SIZE} shown of {PAGE_SIZE + 5} open)" in first.text
    assert _titles(second.text) == [f"{n:03d}" for n in range(PAGE_SIZE, PAGE_SIZE + 5)]
    assert 'rel="next"' not in second.text
    assert 'rel="prev">Previous page</a>' in second.text


def test_a_filtered_worklist_counts_the_matching_items_and_keeps_the_filter_on_its_pages(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    _items(rt, clock, tmp_path, 2 * PAGE_SIZE + 2)
    nurse = api_client("clinician")

    page = nurse.get("/console/worklist?program=diabetes")

    assert f"shown of {PAGE_SIZE + 1} matching, {2 * PAGE_SIZE + 2} open" in page.text
    assert 'href="/console/worklist?program=diabetes&amp;page=1" rel="next"' in page.text
    assert '<option value="hypertension">Hypertension</option>' in page.text


def test_the_worklist_reads_a_few_queries_however_many_patients_it_shows(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Any
) -> None:
    _items(rt, clock, tmp_path, PAGE_SIZE)
    nurse = api_client("clinician")
    nurse.get("/console/worklist")  # the first request warms caches (signing key, library)
    # Reads only: the audit writes one row per patient shown, by design.
    with statements(rt.engine) as reads:
        page = nurse.get("/console/worklist")

    assert len(_titles(page.text)) == PAGE_SIZE
    assert len(reads) < 20, "\n".join(reads)
