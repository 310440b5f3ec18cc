"""The SLA line of a worklist card, as a nurse reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from careloop.web.console.pages import sla_left

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def test_an_item_never_escalated_shows_only_its_time_left_or_overdue() -> None:
    assert sla_left(NOW + timedelta(minutes=55), NOW) == "55 min left"
    assert sla_left(NOW - timedelta(hours=2, minutes=5), NOW) == "overdue by 2 h 5 min"


def test_an_escalated_item_says_so_before_the_time_left_to_its_next_escalation() -> None:
    once = sla_left(NOW + timedelta(minutes=55), NOW, escalations=1)
    assert once == "escalated · 55 min left before it escalates again"
    thrice = sla_left(NOW - timedelta(minutes=10), NOW, escalations=3)
    assert thrice == "escalated 3 times · overdue by 10 min"


def test_an_escalated_item_says_to_whom_it_went() -> None:
    lead = sla_left(NOW + timedelta(hours=23), NOW, escalations=1, to="the care-coordination lead")
    assert lead == (
        "escalated to the care-coordination lead · 23 h 0 min left before it escalates again"
    )
