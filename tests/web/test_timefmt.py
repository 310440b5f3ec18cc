"""Times on pages: one helper, always in a named zone, the patient's clock added when it differs."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from careloop.web.timefmt import stamp, stamp_both

ZONES = ["UTC", "America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/Madrid"]
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


def test_a_stamp_names_its_zone() -> None:
    moment = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert stamp(moment, "America/New_York") == "2026-03-02 10:00 EST"
    assert stamp(moment, "UTC") == "2026-03-02 15:00 UTC"
    assert stamp(moment, "Not/AZone") == "2026-03-02 15:00 UTC"
    assert stamp(None, "UTC") == "—"


def test_both_times_adds_the_patients_clock_only_when_it_differs() -> None:
    moment = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert stamp_both(moment, "America/New_York", "America/Chicago") == (
        "2026-03-02 10:00 EST · 09:00 CST patient's time"
    )
    assert stamp_both(moment, "America/New_York", "America/New_York") == "2026-03-02 10:00 EST"


@given(moment=MOMENTS, viewer=st.sampled_from(ZONES), patient=st.sampled_from(ZONES))
def test_every_stamp_is_labelled(moment: datetime, viewer: str, patient: str) -> None:
    text = stamp_both(moment, viewer, patient)
    first = text.split(" · ")[0]
    assert first.split(" ")[-1].isalpha() or first.split(" ")[-1].startswith(("+", "-"))
    assert first == stamp(moment, viewer)
    assert ("patient's time" in text) == (
        moment.astimezone(ZoneInfo(viewer)).utcoffset()
        != moment.astimezone(ZoneInfo(patient)).utcoffset()
    )
