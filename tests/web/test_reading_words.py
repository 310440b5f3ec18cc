"""A worklist card says what was read as a nurse says it, never as codes and UCUM units."""

from __future__ import annotations

from careloop.web.console.patient_context import reading_in_words


def test_a_blood_pressure_pair_reads_as_one_value() -> None:
    words = reading_in_words({"systolic_bp": 191, "diastolic_bp": 121.0})
    assert words == "Blood pressure 191/121 mmHg"


def test_other_measures_carry_their_units() -> None:
    words = reading_in_words({"glucose": 312, "systolic_bp": 150})
    assert words == "Glucose 312 mg/dL · Blood pressure (systolic) 150 mmHg"


def test_anything_not_a_known_reading_keeps_the_findings_own_summary() -> None:
    assert reading_in_words({"systolic_bp": 190, "heart_rate": 130}) is None
    assert reading_in_words({"measure": "systolic_bp", "early_mean": 152.0}) is None
    assert reading_in_words({}) is None
