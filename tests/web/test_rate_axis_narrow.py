"""The programs page's rate axis, when the weekly rates lie close together: labels rounded
to whole percents but ticks not placed at whole percents read "20%, 20%, 21%, 22%, 22%".
Five distinct, ordered labels between 0 and 100 % that cover the data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from careloop.web.console.charts import line_chart

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _series(values: list[float]) -> list[tuple[datetime, float]]:
    return [(START + timedelta(days=7 * i), v) for i, v in enumerate(values)]


def _axis_labels(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end"\s+fill="#4a5563">([^<]+)</text>', svg)


@pytest.mark.parametrize(
    "values",
    [[0.20, 0.21, 0.22], [0.5, 0.52], [0.0, 0.0, 0.01], [0.95, 1.0], [0.0, 0.3], [0.4]],
)
def test_a_rate_axis_of_close_weekly_rates_has_five_distinct_labels(values: list[float]) -> None:
    svg = str(line_chart({"sms": _series(values)}, title="Engagement by channel", percent=True))
    labels = _axis_labels(svg)
    assert len(labels) == 5
    assert len(set(labels)) == 5, labels
    numbers = [int(label.rstrip("%")) for label in labels]
    assert numbers == sorted(numbers), labels
    assert 0 <= numbers[0] <= min(values) * 100, labels
    assert max(values) * 100 <= numbers[-1] <= 100, labels
