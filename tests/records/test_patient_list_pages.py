"""The patient list's pages, on both databases: every page holds the patients an ``OFFSET``
over the whole table gives, the last page too, and a page past the end is empty; the rows
skipped are counted on the key alone (the console's last page at 100,000 patients)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from careloop.models import Patient
from careloop.records.service import list_patients
from careloop.runtime import Runtime

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _patients(rt: Runtime, count: int) -> None:
    with rt.transaction() as session:
        for n in range(count):
            session.add(
                Patient(
                    id=f"pl-{(n * 37) % count:03d}",  # inserted out of order
                    given_name="Pat",
                    family_name=f"Listed{n:03d}",
                    birth_date=date(1960, 1, 1),
                    gender="female",
                    language="en",
                    timezone="America/New_York",
                    timezone_source="test",
                    deceased=n % 5 == 0,
                    contact_points=[],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


def test_every_page_holds_the_patients_an_offset_gives(rt: Runtime) -> None:
    _patients(rt, 53)
    with rt.transaction() as session:
        everyone = list(session.scalars(select(Patient.id).order_by(Patient.id)))
        living = list(
            session.scalars(
                select(Patient.id).where(Patient.deceased.is_(False)).order_by(Patient.id)
            )
        )
        for limit in (1, 10, 50):
            for offset in range(0, 60, 7):
                page = list_patients(session, limit=limit, offset=offset)
                assert [p.id for p in page] == everyone[offset : offset + limit]
                alive = list_patients(session, limit=limit, offset=offset, include_deceased=False)
                assert [p.id for p in alive] == living[offset : offset + limit]
        last = list_patients(session, limit=50, offset=50)
        assert [p.id for p in last] == everyone[50:]
        assert list_patients(session, limit=50, offset=53) == []
