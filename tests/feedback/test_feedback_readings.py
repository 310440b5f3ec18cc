"""Device readings: codes, UCUM units (with conversion), plausible ranges, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from careloop.errors import InvalidInput
from careloop.feedback.readings import read_observation
from tests.feedback.loop_payloads import blood_pressure, glucose, single, weight

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_both_blood_pressure_panel_codes_give_systolic_and_diastolic() -> None:
    for panel in ("85354-9", "55284-4"):
        readings = read_observation(blood_pressure("p", 150, 95, NOW, panel=panel), now=NOW)
        assert {r.measure: r.value for r in readings} == {"systolic_bp": 150, "diastolic_bp": 95}


def test_glucose_in_mmol_per_litre_is_converted_to_mg_per_dl() -> None:
    (reading,) = read_observation(glucose("p", 5.5, NOW, unit="mmol/L"), now=NOW)
    assert reading.unit == "mg/dL"
    assert reading.value == pytest.approx(99.1, abs=0.1)


def test_weight_in_pounds_is_converted_to_kilograms() -> None:
    (reading,) = read_observation(weight("p", 200, NOW, unit="[lb_av]"), now=NOW)
    assert reading.value == pytest.approx(90.72, abs=0.01)


def test_heart_rate_spo2_and_hba1c_are_accepted() -> None:
    values = [
        read_observation(single("p", "8867-4", 72, "/min", NOW), now=NOW)[0].measure,
        read_observation(single("p", "59408-5", 96, "%", NOW), now=NOW)[0].measure,
        read_observation(single("p", "4548-4", 7.2, "%", NOW), now=NOW)[0].measure,
        read_observation(single("p", "2339-0", 110, "mg/dL", NOW), now=NOW)[0].measure,
    ]
    assert values == ["heart_rate", "spo2", "hba1c", "glucose"]


@pytest.mark.parametrize(
    ("observation", "field"),
    [
        (single("p", "29463-7", 80, "stone", NOW), "Observation.valueQuantity.code"),
        (glucose("p", 4000, NOW), "Observation.valueQuantity.value"),
        (single("p", "12345-6", 1, "mg/dL", NOW), "code"),
        (glucose("p", 100, NOW + timedelta(hours=2)), "effectiveDateTime"),
        (blood_pressure("p", 120, 130, NOW), "component"),
    ],
)
def test_a_bad_reading_is_refused_naming_the_field(observation: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput) as caught:
        read_observation(observation, now=NOW)
    assert caught.value.field == field


def test_a_reading_without_a_time_zone_is_refused() -> None:
    observation = glucose("p", 100, NOW)
    observation["effectiveDateTime"] = "2026-03-02T13:00:00"
    with pytest.raises(InvalidInput) as caught:
        read_observation(observation, now=NOW)
    assert caught.value.field == "effectiveDateTime"


def test_a_blood_pressure_without_its_diastolic_component_is_refused() -> None:
    observation = blood_pressure("p", 150, 90, NOW)
    observation["component"] = observation["component"][:1]
    with pytest.raises(InvalidInput) as caught:
        read_observation(observation, now=NOW)
    assert "diastolic" in str(caught.value)


def test_a_small_device_clock_skew_is_tolerated() -> None:
    assert read_observation(glucose("p", 100, NOW + timedelta(minutes=2)), now=NOW)
