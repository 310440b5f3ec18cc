"""The finder weighs the installed no-show model's risk of each day (issue 17, item 2), on
both databases: the risk is the model's own score of a booking made now for that day, read
from the patient's record like any booking's, and a patient who missed visits scores higher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from careloop.access.patientday import noshow_risk_by_day
from careloop.access.service import find_offers
from careloop.cli.demo_adapt import NOSHOW_CSV, train_demo_model
from careloop.insights.risk.fhir_appointments import score_fhir_appointment
from careloop.insights.risk.model import NoshowModel
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources, location, patient, schedule, slot

pytestmark = pytest.mark.skipif(not NOSHOW_CSV.is_file(), reason="shared no-show data absent")
NOW = datetime(2026, 3, 2, 14, tzinfo=UTC)  # the tests' frozen clock


@pytest.fixture(scope="module")
def model() -> NoshowModel:
    trained, _ = train_demo_model(NOSHOW_CSV, now=NOW)
    return trained


def _missed(pid: str, weeks_ago: int) -> dict[str, object]:
    start = NOW - timedelta(weeks=weeks_ago)
    return {
        "resourceType": "Appointment",
        "id": f"{pid}-missed-{weeks_ago}",
        "status": "noshow",
        "created": (start - timedelta(days=14)).isoformat(),
        "start": start.isoformat(),
        "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}],
    }


def test_each_days_risk_is_the_models_score_of_a_booking_made_now(
    rt: Runtime, tmp_path: Path, model: NoshowModel
) -> None:
    days = [(NOW + timedelta(days=n)).date() for n in (1, 8, 29)]
    import_resources(
        rt,
        tmp_path,
        [
            patient("kept"),
            patient("missed"),
            *(_missed("missed", w) for w in (3, 6, 9)),
            location(),
            schedule("sch-1"),
            slot("s-1", schedule_id="sch-1", start=NOW + timedelta(days=1, hours=2)),
        ],
    )
    with rt.transaction() as session:
        kept = noshow_risk_by_day(session, patient_id="kept", now=NOW, days=days, model=model)
        missed = noshow_risk_by_day(session, patient_id="missed", now=NOW, days=days, model=model)
        offers = find_offers(session, patient_id="missed", now=NOW, model=model)

    booking = {"id": "new", "created": NOW.isoformat(), "start": f"{days[1]}T15:00:00+00:00"}
    expected = score_fhir_appointment(
        model, appointment=booking, patient_id="kept", birth_date=datetime(1950, 1, 1).date(),
        gender="male", conditions=[], other_appointments=[],
    )  # fmt: skip
    assert expected is not None
    assert kept[days[1]] == pytest.approx(expected.probability)
    assert all(missed[d] > kept[d] for d in days)  # three missed visits weigh
    assert kept[days[0]] < kept[days[2]]  # a month's wait is riskier than tomorrow
    assert [o.slot for o in offers] == ["s-1"]
