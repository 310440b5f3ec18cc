"""Trend charts tell the truth: a crisis reading is ringed and never inside a target band."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from careloop.web.console.charts import line_chart
from careloop.web.console.patient import reading_charts

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _series(values: list[float]) -> list[tuple[datetime, float]]:
    return [(START + timedelta(days=i), v) for i, v in enumerate(values)]


def _band_and_dots(svg: str) -> tuple[tuple[float, float], list[float]]:
    band = re.search(
        r'<rect x="\d+" y="([\d.]+)" width="[\d.]+"\s+height="([\d.]+)" fill="#009E73"', svg
    )
    assert band is not None
    top, height = float(band.group(1)), float(band.group(2))
    dots = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)" r="2.8"', svg)]
    return (top, top + height), dots


def test_a_crisis_diastolic_is_ringed_and_outside_the_green_band() -> None:
    charts = reading_charts(
        {
            "Blood pressure": {
                "systolic": _series([150, 152, 186]),
                "diastolic": _series([92, 95, 121]),
            }
        }
    )
    bottom = str(charts["Blood pressure trend, bottom number (diastolic)"])
    top = str(charts["Blood pressure trend, top number (systolic)"])
    (band_top, band_bottom), dots = _band_and_dots(bottom)
    crisis_y = dots[-1]
    assert not band_top <= crisis_y <= band_bottom
    assert bottom.count('class="crisis-marker"') == 1
    assert "1 in the crisis range" in bottom
    assert "mmHg" in bottom
    assert top.count('class="crisis-marker"') == 1  # 186 systolic


def test_readings_under_the_thresholds_have_no_marker() -> None:
    charts = reading_charts({"Glucose": {"glucose": _series([110, 140, 165])}})
    svg = str(charts["Glucose trend"])
    assert "crisis-marker" not in svg
    assert "mg/dL" in svg


def test_a_chart_of_one_reading_says_reading_not_readings() -> None:
    """The portal's first reading was summed up as "1 readings" to a screen reader."""
    words = {"value": "reading", "values": "readings"}
    one = line_chart({"Weight": _series([81.5])}, title="Weight trend", unit="kg", words=words)
    two = line_chart(
        {"Weight": _series([81.5, 81.7])}, title="Weight trend", unit="kg", words=words
    )
    assert 'aria-label="Weight trend: 1 reading;' in one
    assert 'aria-label="Weight trend: 2 readings;' in two


def _axis_labels(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end"\s+fill="#4a5563">([^<]+)</text>', svg)


def test_a_rate_chart_axis_has_distinct_labels_from_zero_never_negative() -> None:
    """The programs page's learning curves read "30%, 20%, 10%, 10%, -0%" (and "-10%")."""
    svg = str(
        line_chart(
            {"sms": _series([0.3, 0.2, 0.0, 0.0]), "voice": _series([0.0, 0.0, 0.0, 0.1])},
            title="Engagement by channel, week by week",
            percent=True,
        )
    )
    labels = _axis_labels(svg)
    assert len(labels) == 5
    assert len(set(labels)) == 5, labels
    assert labels[-1] == "0%" or labels[0] == "0%", labels
    assert not any(label.startswith("-") for label in labels), labels
