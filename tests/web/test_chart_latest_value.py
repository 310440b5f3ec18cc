"""a reading chart's summary (its aria-label, what a screen reader says) names the
latest reading as it was taken; tick rounding once made "Weight latest 81.25 kg" read
"Weight latest 81.2 kg" (the console's and the portal's reading charts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from careloop.web.console.charts import line_chart
from careloop.web.console.patient import reading_charts

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_the_latest_reading_in_a_chart_summary_is_not_rounded() -> None:
    svg = str(
        line_chart(
            {"Weight": [(START, 81.0), (START + timedelta(days=1), 81.25)]},
            title="Weight trend",
            unit="kg",
        )
    )
    assert "Weight latest 81.25 kg" in svg


def test_the_reading_charts_say_the_latest_weight_as_entered() -> None:
    charts = reading_charts({"Weight": {"weight": [(START, 72.45)]}})
    svg = str(next(iter(charts.values())))
    assert "latest 72.45 kg" in svg
