"""The appointments page shows each list a page at a time, with its total, and audits only
the patients it shows; its reads do not grow with the lists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from careloop.access.board import PAGE_SIZE
from careloop.models import AuditEvent, Patient, WaitlistEntry
from careloop.runtime import Runtime
from tests.statements import statements

Client = Callable[..., Any]


def _waiting(rt: Runtime, count: int) -> None:
    now = rt.clock.now()
    with rt.transaction() as session:
        for i in range(count):
            pid = f"w{i:03d}"
            session.add(
                Patient(
                    id=pid,
                    given_name="Wait",
                    family_name=f"Number{i:03d}",
                    birth_date=date(1960, 1, 1),
                    timezone="America/New_York",
                    timezone_source="default",
                    deceased=False,
                    contact_points=[],
                    created_at=now,
                    updated_at=now,
                )
            )
            session.flush()
            session.add(
                WaitlistEntry(
                    patient_id=pid,
                    service="mammography",
                    priority=1,
                    state="waiting",
                    created_at=now + timedelta(minutes=i),
                    updated_at=now,
                )
            )


def _audited(rt: Runtime) -> list[str]:
    with rt.transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent.patient_id).where(AuditEvent.resource == "appointments")
            )
        )


def test_a_long_waitlist_is_paged_with_its_total_and_only_shown_patients_audited(
    rt: Runtime, api_client: Client
) -> None:
    _waiting(rt, PAGE_SIZE + 10)
    coordinator = api_client("coordinator")

    first = coordinator.get("/console/appointments")
    assert first.status_code == 200
    assert first.text.count('id="waitlist-') == PAGE_SIZE
    assert f"(1–{PAGE_SIZE} shown of {PAGE_SIZE + 10})" in first.text
    assert "Number000" in first.text
    assert f"Number{PAGE_SIZE:03d}" not in first.text
    assert 'href="/console/appointments?page=1" rel="next"' in first.text
    assert sorted(_audited(rt)) == [f"w{i:03d}" for i in range(PAGE_SIZE)]

    second = coordinator.get("/console/appointments?page=1")
    assert second.text.count('id="waitlist-') == 10
    assert f"({PAGE_SIZE + 1}–{PAGE_SIZE + 10} shown of {PAGE_SIZE + 10})" in second.text
    assert f"Number{PAGE_SIZE:03d}" in second.text
    assert 'href="/console/appointments?page=0" rel="prev"' in second.text
    assert 'rel="next"' not in second.text
    assert "None past the previous page." in second.text  # the other lists ended
    assert len(_audited(rt)) == PAGE_SIZE + 10
    assert coordinator.get("/console/appointments?page=-3").text.count('id="waitlist-') == 50


def test_the_page_reads_the_same_statements_however_long_the_lists(
    rt: Runtime, api_client: Client
) -> None:
    coordinator = api_client("coordinator")
    _waiting(rt, 3)
    coordinator.get("/console/appointments")
    with statements(rt.engine) as few:
        coordinator.get("/console/appointments")
    with rt.transaction() as session:
        session.query(WaitlistEntry).delete()
    _waiting_more(rt)
    with statements(rt.engine) as many:
        page = coordinator.get("/console/appointments")
    assert page.text.count('id="waitlist-') == PAGE_SIZE
    assert len(many) == len(few)


def _waiting_more(rt: Runtime) -> None:
    with rt.transaction() as session:
        session.query(Patient).delete()
    _waiting(rt, 3 * PAGE_SIZE)
